"""scratch.remove_tree against a process that swaps folders and symlinks while it runs.

The attacker here is a thread of the test (the same user, as a surviving daemon of the
check's user would be); the target is a folder of the test's own.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from qwen_magic.checking.scratch import remove_entries_of, remove_tree

RENAME_EXCHANGE = 2
ENTRIES = 100
SYS_RENAMEAT2 = {"x86_64": 316, "aarch64": 276}.get(os.uname().machine)


SWAPPER = f"""
import ctypes, os, sys
libc = ctypes.CDLL(None, use_errno=True)
folder, count = sys.argv[1], int(sys.argv[2])
while True:
    for i in range(count):
        libc.syscall({SYS_RENAMEAT2}, -100, f"{{folder}}/d{{i}}".encode(), -100,
                     f"{{folder}}/l{{i}}".encode(), {RENAME_EXCHANGE})
"""


def make_tree(root: Path, target: Path, count: int) -> None:
    for i in range(count):
        (root / f"d{i}" / "sub").mkdir(parents=True, exist_ok=True)
        (root / f"d{i}" / "sub" / "file").write_text("x")
        (root / f"d{i}" / "sub").chmod(0)
        (root / f"d{i}").chmod(0o500)
        if not os.path.lexists(root / f"l{i}"):
            (root / f"l{i}").symlink_to(target)


@pytest.mark.skipif(SYS_RENAMEAT2 is None,
                    reason="renameat2's number is known here for x86_64 and aarch64 only")
def test_removal_never_changes_a_target_behind_a_swapped_symlink(tmp_path: Path):
    target = tmp_path / "target"
    (target / "inner").mkdir(parents=True)
    target.chmod(0o751)
    (target / "inner").chmod(0o705)
    modes = {p: p.lstat().st_mode for p in (target, target / "inner")}
    rounds = 0
    deadline = time.monotonic() + 2.0  # the race runs for two seconds
    while time.monotonic() < deadline:
        scratch = tmp_path / f"scratch{rounds}"
        scratch.mkdir()
        make_tree(scratch, target, ENTRIES)
        # Another process, as a surviving daemon would be (a thread would hold the GIL).
        attacker = subprocess.Popen([sys.executable, "-c", SWAPPER, str(scratch), str(ENTRIES)])
        try:
            time.sleep(0.05)
            remove_tree(str(scratch))
        finally:
            attacker.kill()
            attacker.wait()
        remove_tree(str(scratch))  # what the swapping kept out of the first pass
        assert not scratch.exists()
        rounds += 1
    assert {p: p.lstat().st_mode for p in modes} == modes
    assert rounds >= 1


def test_removal_of_a_tree_with_closed_folders_and_links(tmp_path: Path):
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "keep").write_text("kept")
    tree = tmp_path / "tree"
    (tree / "a" / "b").mkdir(parents=True)
    (tree / "a" / "b" / "f").write_text("x")
    (tree / "link").symlink_to(outside)
    (tree / "a" / "b").chmod(0)
    (tree / "a").chmod(0)
    remove_tree(str(tree))
    assert not tree.exists()
    assert (outside / "keep").read_text() == "kept" and outside.stat().st_mode & 0o777 != 0


def test_closed_folders_are_removed_by_their_owner_too():
    """As a normal user (no root override): a folder of mode 0 cannot be opened for reading
    until its mode is changed — through the directory opened, not its name."""
    uid = 2_099_000_001 if os.geteuid() == 0 else os.getuid()  # as root: a normal user's
    base = Path(tempfile.mkdtemp(prefix="qwen-scratch-test-"))  # reachable by that user
    tree = base / "tree"
    try:
        (tree / "a" / "b").mkdir(parents=True)
        (tree / "a" / "b" / "f").write_text("x")
        for path in (base, tree, tree / "a", tree / "a" / "b", tree / "a" / "b" / "f"):
            if os.geteuid() == 0:
                os.chown(path, uid, uid)
        (tree / "a" / "b").chmod(0)
        (tree / "a").chmod(0)
        root = Path(__file__).resolve().parents[2]
        script = (f"import sys; sys.path.insert(0, {str(root)!r}); from qwen_magic.checking."
                  f"scratch import remove_tree; remove_tree({str(tree)!r})")
        as_user = {"user": uid, "group": uid, "extra_groups": []} if os.geteuid() == 0 else {}
        python = "/usr/bin/python3" if as_user else sys.executable
        subprocess.run([python, "-I", "-c", script], check=True, timeout=30, **as_user)
        assert not tree.exists()
    finally:
        remove_tree(str(base))


def test_entries_of_one_owner_are_removed_from_a_shared_folder(tmp_path: Path):
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "f").write_text("x")
    (tmp_path / "file").write_text("x")
    removed = remove_entries_of(os.getuid(), (str(tmp_path), str(tmp_path / "missing")))
    assert sorted(removed) == [str(tmp_path / "file"), str(tmp_path / "mine")]
    assert os.listdir(tmp_path) == []
    assert remove_entries_of(os.getuid() + 1, (str(tmp_path),)) == []
