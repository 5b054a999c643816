"""The first process inside the check's namespaces: it builds the child's filesystem, starts
the child, waits for it, and by ending takes every process of the namespace with it.

Like ``_child.py``, this file is run as text (``python -I -S -c <this> <plan>``) and imports
only the standard library. It is the PID namespace's init (PID 1) — on purpose not the child
itself: the kernel ignores default-action signals (SIGXCPU at the CPU limit, for one) sent to
an init, and when an init exits the kernel kills everything else in its namespace.

``plan`` is JSON from ``isolation.py``: ``argv`` (the child's command), ``status_fd`` (where
the child's end is written, as ``{"exit": n}`` or ``{"signal": n}``; a descriptor the child
does not inherit, so the code cannot forge it), ``scratch`` (the child's working directory)
and ``filesystem`` — the mounts to make, or null when the namespaces come without a private
filesystem (bubblewrap has already made them, or mounts are not used at this level).

``no_nested_userns`` (the ``unshare`` levels): this runs with the capabilities ``unshare
--keep-caps`` left it in the new user namespace (none outside it), sets that namespace's
limit of nested user namespaces to 0, and takes every capability from the child. With
``filesystem``, it also builds a new root as bubblewrap does: a tmpfs as
``/`` holding read-only binds of what Python needs, fresh ``/proc``, a minimal ``/dev``,
size-limited tmpfs over ``/tmp``, ``/dev/shm`` and ``/run``; then ``pivot_root`` and the old
root detached, so nothing else of the machine stays reachable.
"""

from __future__ import annotations

import ctypes
import json
import os
import signal
import sys
from typing import Any

MS_RDONLY, MS_NOSUID, MS_NODEV, MS_NOEXEC = 1, 2, 4, 8
MS_REMOUNT, MS_BIND, MS_REC, MS_PRIVATE = 32, 4096, 16384, 1 << 18
MS_NOATIME, MS_NODIRATIME, MS_RELATIME = 1024, 2048, 1 << 21
MNT_DETACH = 2
PR_SET_NO_NEW_PRIVS, PR_CAPBSET_DROP, PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL = 38, 24, 47, 4
SYS_PIVOT_ROOT = {"x86_64": 155, "aarch64": 41, "riscv64": 41, "ppc64le": 203, "s390x": 217}
# statvfs flags of a mount → the mount flags a read-only remount must keep: in a user
# namespace the kernel refuses to clear the flags a bind inherited ("locked" flags).
KEPT_FLAGS = ((os.ST_NOSUID, MS_NOSUID), (os.ST_NODEV, MS_NODEV), (os.ST_NOEXEC, MS_NOEXEC),
              (os.ST_NOATIME, MS_NOATIME), (os.ST_NODIRATIME, MS_NODIRATIME),
              (os.ST_RELATIME, MS_RELATIME))
BASE, NEW, OLD = "/tmp", "/newroot", "/oldroot"

libc = ctypes.CDLL(None, use_errno=True)


def main() -> None:
    plan = json.loads(sys.argv[1])
    status_fd = plan["status_fd"]
    os.set_inheritable(status_fd, False)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Python's own handler would make init mortal
    try:
        if plan["filesystem"] is not None:
            build_root(plan["filesystem"])
        if plan["no_nested_userns"]:
            # Nested user namespaces would hand the code capabilities (over namespaces of
            # its own only, but more than it needs): none may be created from here on. The
            # setting is this user namespace's, whichever /proc it is written through.
            with open("/proc/sys/user/max_user_namespaces", "w") as limit:
                limit.write("0")
        child = os.fork()
    except Exception as exc:
        report(status_fd, setup=f"{type(exc).__name__}: {exc}")
        os._exit(1)
    if child == 0:
        start_child(plan)
    _, status = os.waitpid(child, 0)
    if os.WIFSIGNALED(status):
        report(status_fd, signal=os.WTERMSIG(status))
    else:
        report(status_fd, exit=os.waitstatus_to_exitcode(status))
    os._exit(0)  # the kernel now kills whatever the child left in the namespace


def start_child(plan: dict[str, Any]) -> None:
    try:
        # No capability survives into the child, and none can be gained back by exec (file
        # capabilities, setuid binaries): it runs as a plain unprivileged user.
        prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL)
        if plan["no_nested_userns"]:  # then it holds capabilities (--keep-caps) to drop
            with open("/proc/sys/kernel/cap_last_cap") as last:
                for capability in range(int(last.read()) + 1):
                    prctl(PR_CAPBSET_DROP, capability)
        prctl(PR_SET_NO_NEW_PRIVS, 1)
        signal.signal(signal.SIGINT, signal.SIG_DFL)
        os.chdir(plan["scratch"])
        environment = dict(os.environ)
        environment.pop("PWD", None)  # bubblewrap's addition: the parent's environment, exactly
        os.execve(plan["argv"][0], plan["argv"], environment)
    except BaseException as exc:
        os.write(2, f"the check's child could not start: {exc}\n".encode())
    os._exit(126)


def build_root(fs: dict[str, Any]) -> None:
    mount(None, "/", None, MS_REC | MS_PRIVATE)  # nothing done here reaches the machine
    # A work area, then the old root moved under it: every later source is /oldroot/<path>.
    mount("tmpfs", BASE, "tmpfs", MS_NOSUID | MS_NODEV, "size=64k,mode=0755")
    for name in (NEW, OLD):
        os.mkdir(BASE + name)
    pivot_root(BASE, BASE + OLD)
    os.chdir("/")
    mount("tmpfs", NEW, "tmpfs", MS_NOSUID | MS_NODEV, "size=1m,mode=0755")
    make_dirs(NEW + "/dev")
    mount("tmpfs", NEW + "/dev", "tmpfs", MS_NOSUID | MS_NOEXEC, "size=64k,mode=0755")
    for device in fs["devices"]:
        open(NEW + device, "w").close()
        mount(OLD + device, NEW + device, None, MS_BIND)
    for name, target in (("fd", "/proc/self/fd"), ("stdin", "/proc/self/fd/0"),
                         ("stdout", "/proc/self/fd/1"), ("stderr", "/proc/self/fd/2")):
        os.symlink(target, f"{NEW}/dev/{name}")
    # The writable places first: a bind below one of them (a venv under /tmp) lands on top.
    for path, size in fs["tmpfs"].items():
        make_dirs(NEW + path)
        mount("tmpfs", NEW + path, "tmpfs", MS_NOSUID | MS_NODEV, f"size={size},mode=1777")
    for source, target in fs["ro_binds"]:
        bind_read_only(OLD + source, NEW + target)
    for path, target in fs["symlinks"].items():
        make_parents(NEW + path)
        os.symlink(target, NEW + path)
    make_dirs(NEW + "/proc")
    mount("proc", NEW + "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC)
    os.mkdir(NEW + fs["scratch"], 0o700)
    mount(None, NEW + "/dev", None, MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NOEXEC)
    # Leave the old root and the work area behind for good.
    umount(OLD)
    os.chdir(NEW)
    pivot_root(".", ".")
    umount(".")
    os.chdir("/")
    mount(None, "/", None, MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV)


def bind_read_only(source: str, target: str) -> None:
    if os.path.isdir(source):
        make_dirs(target)
    else:
        make_parents(target)
        open(target, "w").close()
    mount(source, target, None, MS_BIND | MS_REC)
    kept = os.statvfs(target).f_flag
    flags = MS_REMOUNT | MS_BIND | MS_RDONLY
    for statvfs_flag, mount_flag in KEPT_FLAGS:
        if kept & statvfs_flag:
            flags |= mount_flag
    mount(None, target, None, flags)


def make_dirs(path: str) -> None:
    os.makedirs(path, 0o755, exist_ok=True)


def make_parents(path: str) -> None:
    make_dirs(os.path.dirname(path))


def mount(source: str | None, target: str, fstype: str | None, flags: int,
          data: str | None = None) -> None:
    def arg(text: str | None) -> bytes | None:
        return None if text is None else os.fsencode(text)

    if libc.mount(arg(source), arg(target), arg(fstype), ctypes.c_ulong(flags), arg(data)) != 0:
        fail(f"mount {target}")


def umount(target: str) -> None:
    if libc.umount2(os.fsencode(target), MNT_DETACH) != 0:
        fail(f"umount {target}")


def pivot_root(new: str, old: str) -> None:
    number = SYS_PIVOT_ROOT.get(os.uname().machine)
    if number is None:
        raise OSError(f"pivot_root: unknown system call number on {os.uname().machine}")
    if libc.syscall(ctypes.c_long(number), os.fsencode(new), os.fsencode(old)) != 0:
        fail(f"pivot_root {new}")


def prctl(option: int, arg: int) -> None:
    if libc.prctl(option, ctypes.c_ulong(arg), ctypes.c_ulong(0), ctypes.c_ulong(0),
                  ctypes.c_ulong(0)) != 0:
        fail(f"prctl {option}")


def fail(what: str) -> None:
    errno = ctypes.get_errno()
    raise OSError(errno, f"{what}: {os.strerror(errno)}")


def report(fd: int, **record: Any) -> None:
    os.write(fd, json.dumps(record).encode())


if __name__ == "__main__":
    main()
