"""Documented hooks into the local engine, for the benchmark and tools that measure it.

The bench compares the product with raw llama-cpp-python on the same file and settings, so it
needs a few things no front end does: the ``Llama`` keyword arguments the product loads with
(so the raw baseline runs with exactly those), the tokens a raw ``Llama`` holds, the models
this process loaded, and a way to forget cached prompt states. They are public and stable
here — inside ``providers/``, the one place that may name the local provider — so the bench
never imports ``providers.local`` (``make lint`` forbids it).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from ..config import ModelConfig
from .base import GenerationRequest, Provider
from .local import models
from .local.llama_adapter import LlamaAdapter
from .local.llama_adapter import system_info as _system_info
from .local.prefix_cache import common_prefix
from .local.provider import QwenLocalProvider, prefix_cache_for

#: The environment variable that names the model file for every process of a run.
MODEL_VARIABLE = models.MODEL_ENV


def import_llama_cpp() -> Any:
    """``llama_cpp``, imported with the product's OpenMP setting (import it through here first)."""
    return models.import_llama_cpp()


def llama_kwargs(path: str | os.PathLike[str], config: ModelConfig) -> dict[str, Any]:
    """The ``llama_cpp.Llama`` keyword arguments the product loads ``path`` with."""
    return models.llama_kwargs(Path(path), config)


def resolve_model(path: str | None = None) -> Path:
    """The model file a request would load (the search path when ``path`` is None)."""
    return models.resolve_model_path(path)


def system_info() -> str:
    """llama.cpp's build and CPU features (``llama_print_system_info``)."""
    return _system_info()


def loaded_models() -> list[Any]:
    """The models this process holds (a new object for every load): for counting loads."""
    return models.loaded_models()


def raw_cached_tokens(llm: Any) -> list[int]:
    """The tokens a raw ``llama_cpp.Llama`` has evaluated, in order."""
    return LlamaAdapter(llm).tokens()


def shared_prefix(a: list[int], b: list[int]) -> int:
    """How many leading tokens two token lists share."""
    return common_prefix(a, b)


def _local(provider: Provider) -> QwenLocalProvider:
    if not isinstance(provider, QwenLocalProvider):
        raise TypeError(f"the local provider's hooks need the local provider, not {provider.name!r}")
    return provider


def prompt_tokens(provider: Provider, request: GenerationRequest) -> list[int]:
    """The tokens the local ``provider`` reads for ``request`` (its chat template applied)."""
    return _local(provider).tokenize(request)


def forget_prompt_states(provider: Provider) -> None:
    """Make the local ``provider``'s next prompt be read in full: its context and its prefix
    states are dropped (waits for a running generation)."""
    model = _local(provider).model
    with model.lock:
        model.llama.reset()
        prefix_cache_for(model.llama, model.config.prefix_cache_mb).clear()


def prefix_states() -> dict[str, float]:
    """The prefix-state cache of the loaded model: its size in MB and its snapshots."""
    loaded = models.loaded_models()
    if not loaded:
        return {"prefix_cache_mb": 0.0, "prefix_snapshots": 0}
    model = loaded[0]
    cache = prefix_cache_for(model.llama, model.config.prefix_cache_mb)
    return {"prefix_cache_mb": cache.size_bytes / 1024**2, "prefix_snapshots": len(cache)}


__all__ = ["MODEL_VARIABLE", "forget_prompt_states", "import_llama_cpp", "llama_kwargs",
           "loaded_models", "prefix_states", "prompt_tokens", "raw_cached_tokens",
           "resolve_model", "shared_prefix", "system_info"]
