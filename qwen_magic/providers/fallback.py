"""The provider used when no model can be found: it explains instead of crashing."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

from ..errors import ModelNotFoundError
from .base import GenerationRequest, StreamEvent


class FallbackProvider:
    """Raises the original "model not found" error, with the searched paths and the fix.

    Keeping this as a provider (rather than failing at extension load) means
    ``%load_ext qwen_magic`` always works, ``%qwen status``/``%qwen pull`` stay reachable,
    and the very first ``%%qwen`` cell says exactly what to do.
    """

    name = "fallback"

    def __init__(self, error: ModelNotFoundError) -> None:
        self.error = error

    def stream(self, request: GenerationRequest, cancel: threading.Event) -> Iterator[StreamEvent]:
        raise ModelNotFoundError(str(self.error))
        yield  # pragma: no cover - makes this a generator like every provider

    def describe(self) -> dict[str, Any]:
        return {"provider": self.name, "model": None, "problem": str(self.error)}
