"""Generation and model settings: kept as an import path; they are defined in :mod:`.options`.

Every entry point (the magics, the panel, the Python API, the CLI) builds a
:class:`GenerationConfig` or :class:`ModelConfig`; a bad value is rejected there with a
:class:`~qwen_magic.errors.ConfigError` that names the valid range, before any model work.
"""

from __future__ import annotations

from .options import (
    DEFAULT_SYSTEM_PROMPT,
    SPECULATIVE_MODES,
    GenerationConfig,
    ModelConfig,
    default_threads,
)

#: The model ``qwen-magic pull`` downloads and the search path looks for.
DEFAULT_MODEL_FILE = "qwen2.5-coder-0.5b-instruct-q4_k_m.gguf"

__all__ = [
    "DEFAULT_MODEL_FILE", "DEFAULT_SYSTEM_PROMPT", "SPECULATIVE_MODES", "GenerationConfig",
    "ModelConfig", "default_threads",
]
