"""Removing what a check's child wrote on the machine's own filesystem, safely as root.

Only the levels without a private filesystem leave anything on disk (the others write to a
tmpfs that ends with the namespace). The child may have left directories it made unwritable,
and a process of its user may still be swapping folders and symlinks under our feet, so every
step goes through a descriptor of a directory opened without following symlinks
(``O_NOFOLLOW | O_DIRECTORY``) and names relative to it (``dir_fd=``): a name swapped for a
symlink is refused (``ELOOP``), never followed, and ``fchmod`` changes the directory that was
opened, whatever its name points to by then. Nothing outside the tree can be reached, since a
directory cannot be hard-linked in and the user has no right to bind-mount one.
"""

from __future__ import annotations

import contextlib
import os
import stat

_DIRECTORY = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_MAX_DEPTH = 200  # deeper trees are cut there: the rest stays for the system's /tmp cleaning


def remove_tree(path: str) -> None:
    """Delete ``path`` (a directory) and everything in it; never follows a symlink."""
    parent, name = os.path.split(os.path.abspath(path))
    try:
        parent_fd = os.open(parent, _DIRECTORY)
    except OSError:
        return
    try:
        _remove_entry(parent_fd, name, 0)
    finally:
        os.close(parent_fd)


def remove_entries_of(uid: int, directories: tuple[str, ...]) -> list[str]:
    """Remove what ``uid`` owns at the top of each of ``directories`` (/tmp, /dev/shm…);
    returns the paths removed. Only for a uid nothing else uses (check_user.py)."""
    removed = []
    for directory in directories:
        try:
            fd = os.open(directory, _DIRECTORY)
        except OSError:
            continue
        try:
            for name in os.listdir(fd):
                with contextlib.suppress(OSError):
                    if os.stat(name, dir_fd=fd, follow_symlinks=False).st_uid == uid:
                        _remove_entry(fd, name, 0)
                        removed.append(os.path.join(directory, name))
        finally:
            os.close(fd)
    return removed


def _remove_entry(parent_fd: int, name: str, depth: int) -> None:
    try:
        fd = _open_directory(parent_fd, name)
    except OSError:  # not a directory (a file, a symlink: ELOOP / ENOTDIR), or gone
        with contextlib.suppress(OSError):
            os.unlink(name, dir_fd=parent_fd)
        return
    try:
        if not stat.S_ISDIR(os.fstat(fd).st_mode):
            return
        with contextlib.suppress(OSError):
            os.fchmod(fd, 0o700)  # the directory opened, not whatever the name is now
        if depth < _MAX_DEPTH:
            with contextlib.suppress(OSError):
                for child in os.listdir(fd):
                    _remove_entry(fd, child, depth + 1)
    finally:
        os.close(fd)
    with contextlib.suppress(OSError):
        os.rmdir(name, dir_fd=parent_fd)


def _open_directory(parent_fd: int, name: str) -> int:
    """The directory ``name`` opened for reading, never through a symlink. One its owner
    (not root) made unreadable is first opened as a bare reference (``O_PATH``), its mode
    changed through ``/proc/self/fd`` — that very inode, whatever the name points to by
    then — and then opened for reading relative to that reference."""
    try:
        return os.open(name, _DIRECTORY, dir_fd=parent_fd)
    except PermissionError:
        if not hasattr(os, "O_PATH"):  # not Linux: lchmod exists there, and never follows
            os.chmod(name, 0o700, dir_fd=parent_fd, follow_symlinks=False)
            return os.open(name, _DIRECTORY, dir_fd=parent_fd)
    reference = os.open(name, os.O_PATH | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC,
                        dir_fd=parent_fd)
    try:
        os.chmod(f"/proc/self/fd/{reference}", 0o700)
        return os.open(".", _DIRECTORY, dir_fd=reference)
    finally:
        os.close(reference)


__all__ = ["remove_entries_of", "remove_tree"]
