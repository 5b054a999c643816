"""A model file's sha256, remembered across processes.

Every answer's provenance names the model by its sha256, and hashing the ~500 MB file takes
about a second: paid by each new kernel's first answer and by every ``qwen-magic generate``.
So a digest is kept in the user's cache (``~/.cache/qwen-magic/sha256.json``), keyed by the
file's real path and valid while its size, modification time, inode and device are the same
(a replaced or rewritten file gets a new inode or mtime, and is hashed again). ``qwen-magic
pull`` records the digest it has just verified. The record is a convenience: a cache that
cannot be read or written only means hashing again.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ... import settings


def cache_dir() -> Path:
    """qwen-magic's folder in the user's cache (:func:`qwen_magic.settings.cache_dir`)."""
    return settings.cache_dir()


def cache_file() -> Path:
    return cache_dir() / "sha256.json"


def sha256_of(path: Path, progress: Callable[[int], object] | None = None) -> str:
    """Hash the file, in 4 MB blocks (``progress`` gets each block's size)."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(4 * 1024**2), b""):
            digest.update(block)
            if progress:
                progress(len(block))
    return digest.hexdigest()


def file_sha256(path: Path) -> str:
    """The file's sha256: remembered if the file is unchanged since, else hashed now."""
    key, stamp = _key(path)
    entries = _read()
    entry = entries.get(key)
    if isinstance(entry, dict) and entry.get("stamp") == stamp \
            and isinstance(entry.get("sha256"), str):
        return str(entry["sha256"])
    digest = sha256_of(path)
    # Recorded under the stamp taken before hashing: a file changed meanwhile is hashed again.
    _store(key, stamp, digest)
    return digest


def remember(path: Path, digest: str) -> None:
    """Record ``digest`` as the sha256 of ``path`` as it is now (best effort)."""
    _store(*_key(path), digest)


def _store(key: str, stamp: list[int], digest: str) -> None:
    entries = _read()  # read again: another process may have recorded a file meanwhile
    entries[key] = {"stamp": stamp, "sha256": digest}
    target = cache_file()
    with contextlib.suppress(OSError):
        target.parent.mkdir(parents=True, exist_ok=True)
        # Written whole and renamed into place: a reader never sees half a file.
        fd, temp = tempfile.mkstemp(dir=target.parent, prefix=".sha256-", suffix=".json")
        try:
            with os.fdopen(fd, "w") as f:
                json.dump(entries, f)
            os.replace(temp, target)
        finally:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(temp)


def _key(path: Path) -> tuple[str, list[int]]:
    stat = path.stat()
    return os.path.realpath(path), [stat.st_size, stat.st_mtime_ns, stat.st_ino, stat.st_dev]


def _read() -> dict[str, Any]:
    try:
        entries = json.loads(cache_file().read_text())
    except (OSError, ValueError):
        return {}
    return entries if isinstance(entries, dict) else {}
