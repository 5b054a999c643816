"""The openai provider as the registry makes it: one per (endpoint, model), so its connection
pool is reused across requests."""

from __future__ import annotations

import threading

from ... import settings
from ..base import Provider
from .provider import OpenAICompatibleProvider
from .urls import DEFAULT_BASE_URL, normalize_base_url

_providers: dict[tuple[str, str | None], Provider] = {}
_lock = threading.Lock()


def create_openai(base_url: str | None, model: str | None) -> Provider:
    """The server at ``base_url`` (None: $QWEN_MAGIC_BASE_URL, then ``qwen-magic serve``'s),
    asked for ``model`` (None: $QWEN_MAGIC_REMOTE_MODEL, then the server's only model)."""
    url = normalize_base_url(base_url or settings.base_url() or DEFAULT_BASE_URL)
    name = model or settings.remote_model()
    with _lock:
        cached = _providers.get((url, name))
        if cached is None:
            cached = _providers[(url, name)] = OpenAICompatibleProvider(url, name)
        return cached
