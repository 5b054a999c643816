"""Providers turn chat messages into a stream of events. See :mod:`.base` for the protocol."""

from .base import Finished, GenerationRequest, PromptRead, Provider, StreamEvent, TextDelta

__all__ = [
    "Finished", "GenerationRequest", "PromptRead", "Provider", "StreamEvent", "TextDelta",
]
