"""The local provider as the registry makes it: one per model setting, cached for the process.

A missing model file gives a :class:`~..fallback.FallbackProvider` that says how to get one;
it is not cached, so the model is looked for again once the user has pulled it.
"""

from __future__ import annotations

import threading

from ...config import ModelConfig
from ...errors import ModelNotFoundError
from ..base import Provider
from ..fallback import FallbackProvider
from .models import GgufModelLoader

_providers: dict[tuple[ModelConfig, str], Provider] = {}
_lock = threading.Lock()


def create_local(model: str | None, model_config: ModelConfig, role: str = "chat") -> Provider:
    """The provider of the GGUF at ``model`` (a path or a catalog name; None: the search
    path) for ``role``: "chat", or "completion" (its own context, even on the same file)."""
    config = model_config.replace(path=model)
    with _lock:
        cached = _providers.get((config, role))
        if cached is None:
            loader = GgufModelLoader(config, role=role)
            try:
                loader.resolve()
            except ModelNotFoundError as exc:
                return FallbackProvider(exc)
            from .provider import QwenLocalProvider

            cached = _providers[(config, role)] = QwenLocalProvider(loader)
        return cached
