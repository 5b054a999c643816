"""When the kernel is root: a user id of the check's own, used by nothing else on the machine.

Root is exempt from RLIMIT_NPROC, and ``nobody`` is shared with system daemons: a daemon left
by one check could signal or read the next check's child, and killing "every process of
nobody" would kill theirs. So each run takes a uid of its own from a fixed range,
``CHECK_UID_BASE`` … ``+ SLOTS - 1`` (2_100_000_000 and up: far above login users, system
users, systemd's dynamic users and the usual /etc/subuid ranges). A uid is usable when no
account or group has it, no /etc/subuid or /etc/subgid range covers it and this process holds
its lock (``flock`` on ``/run/qwen-magic-check/<uid>.lock``, so two checks — in one kernel or
two — never share one). Every process of that uid is killed before and after the run: nothing
else can have it, so ``kill(-1, SIGKILL)`` as that uid is exactly "the check's leftovers".
"""

from __future__ import annotations

import contextlib
import fcntl
import grp
import os
import pwd
import signal
import stat
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass

from qwen_magic.errors import QwenMagicError

CHECK_UID_BASE = 2_100_000_000
SLOTS = 64
LOCK_DIR = "/run/qwen-magic-check"
_GONE_TIMEOUT_S = 2.0


class CheckUserUnavailableError(QwenMagicError):
    """No uid of the range is free (all locked, or taken by accounts)."""


@dataclass(frozen=True)
class CheckUser:
    uid: int
    gid: int

    @property
    def name(self) -> str:
        return f"uid {self.uid}"


@contextlib.contextmanager
def reserved_user() -> Iterator[CheckUser]:
    """A uid of the range held for the duration (root only), with nothing of it running."""
    directory = _lock_directory()
    subordinate = _subordinate_ranges()
    for uid in range(CHECK_UID_BASE, CHECK_UID_BASE + SLOTS):
        if _taken(uid, subordinate):
            continue
        fd = os.open(os.path.join(directory, f"{uid}.lock"),
                     os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            continue
        user = CheckUser(uid, uid)
        try:
            kill_all_processes(user)  # a kernel that crashed mid-run may have left some
            yield user
        finally:
            try:
                kill_all_processes(user)
            finally:
                os.close(fd)  # releases the lock
        return
    raise CheckUserUnavailableError(
        f"--check found no free uid in {CHECK_UID_BASE}…{CHECK_UID_BASE + SLOTS - 1} "
        f"(locks in {LOCK_DIR}); wait for other checks to end.")


def kill_all_processes(user: CheckUser) -> None:
    """SIGKILL every process of ``user``, by ``kill -KILL -1`` run as that user: the kernel
    signals them all at once, so a fork bomb cannot outrun it (procps' and util-linux's kill
    both take ``-1``). Then wait until none runs, signalling any left one by one."""
    deadline = time.monotonic() + _GONE_TIMEOUT_S
    while True:
        left = processes_of(user.uid)
        if not left:
            return
        with contextlib.suppress(OSError, subprocess.SubprocessError):
            subprocess.run(["kill", "-KILL", "-1"], user=user.uid, group=user.gid,
                           extra_groups=[], env={"PATH": "/usr/bin:/bin"}, cwd="/",
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=5)
        for pid in left:  # no kill(1) here, or it failed: we are root
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGKILL)
        if time.monotonic() > deadline:
            return
        time.sleep(0.01)


def processes_of(uid: int) -> list[int]:
    """Pids of running (not zombie) processes whose real uid is ``uid``, from /proc."""
    found: list[int] = []
    try:
        names = [name for name in os.listdir("/proc") if name.isdigit()]
    except OSError:
        return found
    for name in names:
        try:
            with open(f"/proc/{name}/status", encoding="ascii", errors="replace") as status:
                fields = dict(line.split(":", 1) for line in status if ":" in line)
            if int(fields["Uid"].split()[0]) == uid and fields["State"].split()[0] not in "ZX":
                found.append(int(name))
        except (OSError, KeyError, ValueError, IndexError):
            continue
    return found


def _lock_directory() -> str:
    directory = LOCK_DIR if os.path.isdir(os.path.dirname(LOCK_DIR)) else "/tmp/qwen-magic-check"
    with contextlib.suppress(FileExistsError):
        os.mkdir(directory, 0o700)
    info = os.lstat(directory)
    # Root's own folder, or someone could hold (or fake) the locks.
    if not stat.S_ISDIR(info.st_mode) or info.st_uid != 0 or info.st_mode & 0o022:
        raise CheckUserUnavailableError(
            f"--check: {directory} must be a folder owned by root and writable only by it.")
    return directory


def _taken(uid: int, subordinate: list[range]) -> bool:
    try:
        pwd.getpwuid(uid)
        return True
    except KeyError:
        pass
    try:
        grp.getgrgid(uid)
        return True
    except KeyError:
        pass
    return any(uid in ids for ids in subordinate)


def _subordinate_ranges() -> list[range]:
    ranges = []
    for path in ("/etc/subuid", "/etc/subgid"):
        try:
            with open(path, encoding="utf-8", errors="replace") as file:
                lines = file.read().splitlines()
        except OSError:
            continue
        for line in lines:
            parts = line.split(":")
            with contextlib.suppress(ValueError, IndexError):
                start, count = int(parts[1]), int(parts[2])
                ranges.append(range(start, start + count))
    return ranges


__all__ = ["CHECK_UID_BASE", "CheckUser", "CheckUserUnavailableError", "kill_all_processes",
           "processes_of", "reserved_user"]
