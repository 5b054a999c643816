"""Choose a model by name: a catalog name, an alias or a path becomes the file to load.

``resolve("1.5b")`` finds the installed file where the loader looks for the default one
(``models/`` here and in every parent folder, then the user cache); a path stays a path (the
loader says if nothing is there); an unknown name is one line that lists the catalog. Memory
is checked against the catalog's estimate before anything is read, so a model that cannot
fit is refused with the names of those that would.
"""

from __future__ import annotations

import os
from pathlib import Path

from ... import settings
from ...catalog import (
    CatalogEntry,
    entries,
    find,
    looks_like_path,
    too_big_message,
    unknown_name_message,
)
from ...errors import ConfigError, InsufficientMemoryError, ModelNotFoundError
from .models import available_memory, search_paths, user_cache_dir


def installed_path(entry: CatalogEntry) -> Path | None:
    """Where ``entry``'s file is installed, in the loader's search order; None if nowhere.
    ``$QWEN_MAGIC_MODEL`` counts when it names this very file."""
    configured = settings.model_path()
    if configured:
        path = Path(os.path.expanduser(configured))
        if path.name == entry.file and path.is_file():
            return path
    return next((path for path in search_paths(entry.file) if path.is_file()), None)


def resolve(name_or_path: str | os.PathLike[str]) -> Path:
    """The file meant by a catalog name or alias (installed), or by a path."""
    if not isinstance(name_or_path, str):
        return Path(os.path.expanduser(os.fspath(name_or_path)))
    text = name_or_path.strip()
    entry = find(text)
    if entry is not None:
        path = installed_path(entry)
        if path is None:
            raise ModelNotFoundError(
                f"{entry.short} is not installed (looked for models/{entry.file} here and in parent "
                f"folders, and in {user_cache_dir()}); run `qwen-magic pull {entry.short}`."
            )
        return path
    path = Path(os.path.expanduser(text))
    if looks_like_path(text) or path.exists():
        return path
    raise ConfigError(unknown_name_message(text))


def entry_for(path: str | os.PathLike[str]) -> CatalogEntry | None:
    """The catalog record of a file, recognised by its name (None for any other GGUF)."""
    name = Path(os.fspath(path)).name
    return next((entry for entry in entries() if entry.file == name), None)


def fits_in_memory(model: str | CatalogEntry, n_ctx: int, available: int | None = None) -> bool:
    return _too_big(model, n_ctx, available) is None


def check_fits(model: str | CatalogEntry, n_ctx: int, available: int | None = None) -> None:
    """Refuse, in one line naming what would fit, a model that does not fit in free memory."""
    problem = _too_big(model, n_ctx, available)
    if problem is not None:
        raise InsufficientMemoryError(problem)


def _too_big(model: str | CatalogEntry, n_ctx: int, available: int | None) -> str | None:
    entry = model if isinstance(model, CatalogEntry) else find(model)
    if entry is None:
        raise ConfigError(unknown_name_message(str(model)))
    return too_big_message(entry, n_ctx, available_memory() if available is None else available)

