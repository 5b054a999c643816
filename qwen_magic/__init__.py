"""qwen-magic: a local Qwen2.5-Coder in your notebook.

``%load_ext qwen_magic`` registers ``%%qwen`` and ``%qwen``; ``qwen_magic.generate`` and
``qwen_magic.stream`` are the same engine as a Python API, and ``qwen-magic`` its CLI.
Importing this package loads neither llama.cpp nor IPython: both come in on first use.
"""

from __future__ import annotations

from typing import Any

from .api import complete, generate, stream, stream_completion
from .config import GenerationConfig, ModelConfig
from .errors import (
    ConfigError,
    ContextOverflowError,
    DownloadError,
    GenerationCancelled,
    InsufficientMemoryError,
    InvalidModelError,
    ModelLoadError,
    ModelNotFoundError,
    QwenMagicError,
)
from .result import GenerationResult

__version__ = "0.1.0"

__all__ = [
    "ConfigError", "ContextOverflowError", "DownloadError", "GenerationCancelled",
    "GenerationConfig", "GenerationResult", "InsufficientMemoryError", "InvalidModelError",
    "ModelConfig", "ModelLoadError", "ModelNotFoundError", "QwenMagicError",
    "complete", "generate", "load_ipython_extension", "panel", "stream", "stream_completion",
    "unload_ipython_extension",
]


def load_ipython_extension(ipython: Any) -> None:
    """``%load_ext qwen_magic``: register the magics (the model loads in the background)."""
    from .notebook.magics import load_ipython_extension as load

    load(ipython)


def unload_ipython_extension(ipython: Any) -> None:
    from .notebook.magics import unload_ipython_extension as unload

    unload(ipython)


def _jupyter_labextension_paths() -> list[dict[str, str]]:
    """The prebuilt JupyterLab extension (inline completion), for ``jupyter labextension
    develop``; a wheel installs it into ``share/jupyter/labextensions/qwen-magic``."""
    return [{"src": "labextension", "dest": "qwen-magic"}]


def panel(**options: Any) -> Any:
    """The tuning panel widget; display it as a cell's last expression.

    It starts from the ``%%qwen`` defaults when the extension is loaded (the session holds
    them), else from :class:`GenerationConfig`'s; ``options`` override either.
    """
    from .widgets import QwenPanel

    return QwenPanel(**options)
