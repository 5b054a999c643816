"""How far a check's child is isolated from the machine: the levels, and the command for each.

Strongest first (docs/checking.md has the table of what each one stops):

- ``bubblewrap``: ``bwrap`` puts the child in new user, PID, mount, network, IPC and UTS
  namespaces with a filesystem of its own: read-only binds of what Python needs, fresh
  ``/proc``, a minimal ``/dev``, private size-limited tmpfs over ``/tmp`` (the scratch folder
  and ``$HOME`` are in it), ``/dev/shm`` and ``/run``.
- ``unshare``: the same namespaces and filesystem, made by util-linux's ``unshare`` and the
  init of ``_init.py`` where bubblewrap is not installed.
- ``userns``: user, PID, network, IPC and UTS namespaces, but the machine's filesystem (a
  system that allows user namespaces and refuses mounts in them, as Ubuntu 24.04's AppArmor
  default does).
- ``process``: no namespaces: the limited process of ``sandbox.py`` alone.

In every namespace level the child is uid/gid 1000 inside (never 0: uid 0 would hold
capabilities over the namespace) and not PID 1: ``_init.py`` is the init in front of it.
Which level a machine gets is found by ``sandbox.isolation_level`` by trying each in turn.
"""

from __future__ import annotations

import enum
import json
import os
import secrets
import shutil
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from qwen_magic.errors import QwenMagicError

INIT_SOURCE = (Path(__file__).parent / "_init.py").read_text(encoding="utf-8")
#: Forces a level (tests, or a machine where the probe's choice is unwanted).
ENVIRONMENT_VARIABLE = "QWEN_MAGIC_CHECK_ISOLATION"
INSIDE_UID = INSIDE_GID = 1000  # the child's identity inside the user namespace
#: Where the scratch folder is inside the private filesystem (in the /tmp tmpfs).
SCRATCH_PARENT = "/tmp"
# Character devices Python and common libraries open; the rest of /dev is not there.
DEVICES = ("/dev/null", "/dev/zero", "/dev/full", "/dev/random", "/dev/urandom")
# The system's libraries and the dynamic loader's configuration, read-only. Merged-/usr
# systems have /bin, /lib… as symlinks into /usr: those are made as symlinks.
SYSTEM_PATHS = ("/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32",
                "/etc/ld.so.cache", "/etc/ld.so.conf", "/etc/ld.so.conf.d", "/etc/localtime")


class Isolation(enum.Enum):
    BUBBLEWRAP = "bubblewrap"
    UNSHARE = "unshare"
    USERNS = "userns"
    PROCESS = "process"

    @property
    def label(self) -> str:
        """What the footer and ``%qwen status`` say about it."""
        return _LABELS[self]

    @property
    def footer(self) -> str:
        """The short form under an answer: ``isolated: namespaces``, …"""
        return _FOOTERS[self]

    @property
    def namespaces(self) -> bool:
        return self is not Isolation.PROCESS

    @property
    def private_filesystem(self) -> bool:
        """The child sees only its own mounts (no /tmp, /proc or home of the machine)."""
        return self in (Isolation.BUBBLEWRAP, Isolation.UNSHARE)

    @classmethod
    def named(cls, name: str) -> Isolation:
        try:
            return cls(name.strip().lower())
        except ValueError:
            choices = ", ".join(level.value for level in cls)
            raise IsolationUnavailableError(
                f"unknown --check isolation {name!r}: use one of {choices}") from None


_LABELS = {
    Isolation.BUBBLEWRAP: "isolated: namespaces (bubblewrap)",
    Isolation.UNSHARE: "isolated: namespaces (unshare)",
    Isolation.USERNS: "partly isolated: namespaces without a private filesystem",
    Isolation.PROCESS: "limited process only",
}

_FOOTERS = {
    Isolation.BUBBLEWRAP: "isolated: namespaces",
    Isolation.UNSHARE: "isolated: namespaces",
    Isolation.USERNS: "partly isolated: namespaces",
    Isolation.PROCESS: "limited process only",
}

#: Tried in this order; the first whose whole setup works is used.
STRONGEST_FIRST = (Isolation.BUBBLEWRAP, Isolation.UNSHARE, Isolation.USERNS, Isolation.PROCESS)


class IsolationUnavailableError(QwenMagicError):
    """A level was asked for (forced) that this machine cannot provide."""


def forced_level() -> Isolation | None:
    """The level named by $QWEN_MAGIC_CHECK_ISOLATION, if set."""
    name = os.environ.get(ENVIRONMENT_VARIABLE, "").strip()
    return Isolation.named(name) if name else None


@dataclass(frozen=True)
class Filesystem:
    """The child's private filesystem: what is bound read-only, what is a symlink, the sizes."""

    ro_binds: tuple[tuple[str, str], ...]  # (where it is on the machine, where the child sees it)
    symlinks: dict[str, str]
    tmpfs: dict[str, int]  # mount point → size in bytes
    scratch: str

    def as_plan(self) -> dict[str, object]:
        return {"ro_binds": [list(pair) for pair in self.ro_binds], "symlinks": self.symlinks,
                "tmpfs": self.tmpfs, "devices": list(DEVICES), "scratch": self.scratch}


def filesystem(python: str, site_dirs: Sequence[str], disk_mb: int) -> Filesystem:
    """What the child needs to run ``python`` with ``site_dirs``, and nothing else: no home
    folder, no /etc beyond the loader's files, no /run (sockets), no /var, no /sys."""
    wanted: list[str] = []
    symlinks: dict[str, str] = {}
    for path in SYSTEM_PATHS:
        if os.path.islink(path) and not path.startswith("/etc/"):
            symlinks[path] = os.readlink(path)
        elif os.path.exists(path):
            wanted.append(path)
    # The interpreter as named and as resolved (a venv's python is a symlink to its base
    # interpreter), the prefixes around both (the venv, the standard library), and the
    # kernel's site-packages: at the paths the child will use them by.
    for path in (python, os.path.realpath(python)):
        wanted += [os.path.abspath(path), os.path.dirname(os.path.dirname(os.path.abspath(path)))]
    wanted += [os.path.abspath(path) for path in site_dirs]
    targets = _outermost([path for path in wanted if os.path.exists(path)], symlinks)
    # Bound from where they really are: the init resolves nothing itself.
    binds = tuple((os.path.realpath(path), path) for path in targets)
    size = disk_mb * 1024 * 1024
    tmpfs = {"/tmp": size, "/dev/shm": size, "/run": 1024 * 1024}
    scratch = f"{SCRATCH_PARENT}/qwen-check-{secrets.token_hex(4)}"
    return Filesystem(binds, symlinks, tmpfs, scratch)


def _outermost(paths: list[str], symlinks: dict[str, str]) -> list[str]:
    """Each path once, without those inside another bound path or under a symlink made."""
    kept: list[str] = []
    for path in sorted(set(paths), key=lambda p: (p.count("/"), p)):
        if path == "/" or any(path == k or path.startswith(k.rstrip("/") + "/") for k in kept):
            continue
        if any(path.startswith(link + "/") for link in symlinks):
            continue
        kept.append(path)
    return kept


def command(level: Isolation, child_argv: list[str], *, status_fd: int, scratch: str,
            fs: Filesystem | None) -> list[str]:
    """The argv that runs ``child_argv`` at ``level`` (through ``_init.py`` for namespaces)."""
    if level is Isolation.PROCESS:
        return child_argv
    init_plan = {"argv": child_argv, "status_fd": status_fd, "scratch": scratch,
                 "filesystem": fs.as_plan() if (fs and level is Isolation.UNSHARE) else None,
                 # bubblewrap does this itself (--disable-userns, --cap-drop ALL)
                 "no_nested_userns": level is not Isolation.BUBBLEWRAP}
    init = [child_argv[0], "-I", "-S", "-c", INIT_SOURCE, json.dumps(init_plan)]
    if level is Isolation.BUBBLEWRAP:
        assert fs is not None
        return [_tool("bwrap"), *_bwrap_options(fs), "--", *init]
    # The init keeps its capabilities in the new user namespace across exec: to mount, and
    # to forbid nested user namespaces; the child gets none.
    namespaces = ["--user", f"--map-user={INSIDE_UID}", f"--map-group={INSIDE_GID}",
                  "--net", "--ipc", "--uts", "--pid", "--fork", "--kill-child", "--keep-caps"]
    if level is Isolation.UNSHARE:
        namespaces.append("--mount")
    return [_tool("unshare"), *namespaces, "--", *init]


def _bwrap_options(fs: Filesystem) -> list[str]:
    options = ["--unshare-all", "--unshare-user", "--disable-userns", "--die-with-parent",
               "--new-session", "--as-pid-1", "--uid", str(INSIDE_UID), "--gid", str(INSIDE_GID),
               "--hostname", "check", "--cap-drop", "ALL"]
    options += ["--proc", "/proc", "--dev", "/dev"]
    # The writable places first: a bind below one of them (a venv under /tmp) lands on top.
    for path, size in fs.tmpfs.items():
        options += ["--size", str(size), "--tmpfs", path]
    for source, target in fs.ro_binds:
        options += ["--ro-bind", source, target]
    for path, target in fs.symlinks.items():
        options += ["--symlink", target, path]
    options += ["--perms", "0700", "--dir", fs.scratch, "--remount-ro", "/"]
    return options


def _tool(name: str) -> str:
    found = shutil.which(name, path="/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin")
    if found is None:
        raise IsolationUnavailableError(f"--check isolation needs '{name}', which is not installed")
    return found


__all__ = ["ENVIRONMENT_VARIABLE", "STRONGEST_FIRST", "Filesystem", "Isolation",
           "IsolationUnavailableError", "command", "filesystem", "forced_level"]
