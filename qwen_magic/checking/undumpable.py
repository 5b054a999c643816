"""The kernel's own process made non-dumpable while a check's child can see it.

Where the child runs as the kernel's user and sees the machine's ``/proc`` (the ``userns``
and ``process`` levels of a kernel that is not root), it could read
``/proc/<kernel>/environ`` (API keys) and read and write ``/proc/<kernel>/mem``. A
non-dumpable process's ``/proc`` entries belong to root and its memory is closed to ptrace
access of other processes of the same user, so ``PR_SET_DUMPABLE 0`` for the length of the
run closes both. The price (measured, docs/checking.md): a debugger or sampling profiler of
the same user (``gdb -p``, ``py-spy``) cannot attach to or read the kernel while such a check
runs. The previous state is restored after the last overlapping check; core dumps of the
kernel are off for that time too.
"""

from __future__ import annotations

import contextlib
import ctypes
import sys
import threading
from collections.abc import Iterator

_PR_SET_DUMPABLE, _PR_GET_DUMPABLE = 4, 3
_lock = threading.Lock()
_holders = 0
_saved = 1


def _prctl(option: int, value: int = 0) -> int:
    libc = ctypes.CDLL(None, use_errno=True)
    return int(libc.prctl(option, ctypes.c_ulong(value), ctypes.c_ulong(0), ctypes.c_ulong(0),
                          ctypes.c_ulong(0)))


def dumpable() -> bool:
    return _prctl(_PR_GET_DUMPABLE) == 1


@contextlib.contextmanager
def kernel_hidden(active: bool = True) -> Iterator[None]:
    """Non-dumpable for the duration (when ``active``); nests across threads."""
    global _holders, _saved
    if not active or not sys.platform.startswith("linux"):
        yield
        return
    with _lock:
        if _holders == 0:
            _saved = _prctl(_PR_GET_DUMPABLE)
            _prctl(_PR_SET_DUMPABLE, 0)
        _holders += 1
    try:
        yield
    finally:
        with _lock:
            _holders -= 1
            if _holders == 0 and _saved in (0, 1):
                _prctl(_PR_SET_DUMPABLE, _saved)


__all__ = ["dumpable", "kernel_hidden"]
