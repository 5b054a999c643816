"""The provider used when no model can be found: it explains instead of crashing."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

from ..errors import ModelNotFoundError
from .base import GenerationRequest, LoadedInfo, StreamEvent
from .status import ProviderStatus


class FallbackProvider:
    """Raises the original "model not found" error, with the searched paths and the fix.

    Keeping this as a provider (rather than failing at extension load) means
    ``%load_ext qwen_magic`` always works, ``%qwen status``/``%qwen pull`` stay reachable,
    and the very first ``%%qwen`` cell says exactly what to do. It has the capabilities of
    the local provider it stands in for, each answering with that error, so no front end
    needs to know it is not the real one.
    """

    name = "fallback"

    def __init__(self, error: ModelNotFoundError) -> None:
        self.error = error

    def stream(self, request: GenerationRequest, cancel: threading.Event) -> Iterator[StreamEvent]:
        raise ModelNotFoundError(str(self.error))
        yield  # pragma: no cover - makes this a generator like every provider

    def describe(self) -> dict[str, Any]:
        return {"provider": self.name, "model": None, "problem": str(self.error)}

    # LoadsModel: there is nothing to load until the model is downloaded.
    def load(self) -> LoadedInfo:
        raise ModelNotFoundError(str(self.error))

    def is_loaded(self) -> bool:
        return False

    def is_busy(self) -> bool:
        return False

    def unload(self) -> bool:
        return False

    def status(self, *, check: bool = False) -> ProviderStatus:
        return ProviderStatus(self.name, problem=str(self.error), needs_model=True,
                              completion=f"unavailable — {self.error}")
