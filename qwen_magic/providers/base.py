"""The Provider protocol: the one seam between the product and a model backend.

It is deliberately tiny (in the spirit of simonw/llm's model interface): a provider takes a
request and yields events; everything about display, timing, cancellation and code
extraction lives above it in :mod:`qwen_magic.streaming`, so a new backend is one class.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

from ..config import GenerationConfig


@dataclass(frozen=True)
class GenerationRequest:
    """Chat messages (``[{"role": ..., "content": ...}]``) and how to sample the answer."""

    messages: list[dict[str, str]]
    config: GenerationConfig = field(default_factory=GenerationConfig)

    @classmethod
    def from_prompt(cls, prompt: str, config: GenerationConfig | None = None) -> GenerationRequest:
        config = config or GenerationConfig()
        messages = [{"role": "system", "content": config.system}] if config.system else []
        messages.append({"role": "user", "content": prompt})
        return cls(messages, config)


@dataclass(frozen=True)
class PromptRead:
    """Sent once, before the prompt is evaluated, so a long read can be shown as such."""

    prompt_tokens: int
    reused_tokens: int = 0  # tokens whose KV state is already cached (prefix reuse)


@dataclass(frozen=True)
class TextDelta:
    """New text. ``bytes`` are allowed: the streamer joins split UTF-8 characters."""

    text: str | bytes
    tokens: int = 1


@dataclass(frozen=True)
class Finished:
    """The last event: why generation stopped (``stop`` or ``length``) and its token count."""

    finish_reason: str
    completion_tokens: int | None = None
    prompt_tokens: int | None = None  # for backends that only know it at the end (remote servers)
    provenance: dict[str, Any] = field(default_factory=dict)  # how this answer was decoded


StreamEvent = PromptRead | TextDelta | Finished


@runtime_checkable
class Provider(Protocol):
    """Anything that can stream an answer. ``cancel`` is checked between tokens."""

    name: str

    def stream(
        self, request: GenerationRequest, cancel: threading.Event
    ) -> Iterator[StreamEvent]: ...

    def describe(self) -> dict[str, Any]:
        """What produced the answer (model file, digest, ...) for provenance and status."""
        ...
