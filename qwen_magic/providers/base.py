"""The Provider protocol — the one seam between the product and a model backend — and the
capabilities a provider may have beyond it.

The protocol is deliberately tiny (in the spirit of simonw/llm's model interface): a provider
takes a request and yields events; everything about display, timing, cancellation and code
extraction lives above it in :mod:`qwen_magic.streaming`, so a new backend is one class.

What a provider can do beyond streaming is said by the small protocols below, one per
capability — fill in the middle (:class:`Completes`), read ahead (:class:`ReadsAhead`), load a
model into this process (:class:`LoadsModel`), say when it is busy (:class:`ServesOneAtATime`),
report its status (:class:`ReportsStatus`), continue an answer from a given start
(:class:`ContinuesAnswers`). The front ends and :mod:`qwen_magic.api` ask *whether* a
provider has one (``isinstance(provider, Completes)``), never *which class* it is;
``tests/unit/test_architecture.py`` checks that no concrete provider class is named outside
``providers/``.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

from ..completion import Completion, CompletionRequest
from ..config import GenerationConfig
from .status import ProviderStatus


@dataclass(frozen=True)
class GenerationRequest:
    """Chat messages (``[{"role": ..., "content": ...}]``) and how to sample the answer."""

    messages: list[dict[str, str]]
    config: GenerationConfig = field(default_factory=GenerationConfig)
    #: The start of the assistant's answer, already written: the model continues from it
    #: (only a :class:`ContinuesAnswers` provider honours it; ``api.run`` checks). The
    #: events carry only what follows it; the streamer shows it first.
    answer_start: str = ""

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


# -- capabilities -----------------------------------------------------------------------------


@runtime_checkable
class Completes(Protocol):
    """Fills in the middle at a cursor: completion as you type (ghost text, the terminal)."""

    def complete(self, request: CompletionRequest, cancel: threading.Event,
                 on_text: Callable[[str], None]) -> Completion:
        """The suggestion for ``request``; ``on_text`` gets each piece as it may be shown.
        Cancellable within a token (a remote one: by closing the connection)."""
        ...

    def completion_problem(self, *, check: bool = False) -> str | None:
        """Why completion cannot work now (e.g. a server with no fill-in-the-middle route),
        or None. ``check`` may ask a server (a network round trip); without it, only what is
        already known."""
        ...


@runtime_checkable
class ReadsAhead(Protocol):
    """Reads the start of a later prompt while idle, so that request reads only the rest."""

    def prefill(self, text: str, cancel: threading.Event) -> int:
        """Read ``text`` (the next completion's prompt up to the cursor); returns tokens live."""
        ...

    def prefill_request(self, request: GenerationRequest, upto: str,
                        cancel: threading.Event) -> int:
        """Read the start of ``request``'s chat prompt, up to where its text ``upto`` begins."""
        ...


@dataclass(frozen=True)
class LoadedInfo:
    """What ``%qwen load`` reports of a model loaded into this process."""

    name: str
    n_ctx: int
    n_threads: int
    load_seconds: float


@runtime_checkable
class LoadsModel(Protocol):
    """Loads its model into this process (once, then cached); the rest load nothing here."""

    def load(self) -> LoadedInfo:
        """Load now (blocks; a cache lookup once loaded). Raises a QwenMagicError."""
        ...

    def is_loaded(self) -> bool:
        """Whether the model is loaded, without loading it."""
        ...

    def unload(self) -> bool:
        """Free the model; whether something was loaded."""
        ...


@runtime_checkable
class ServesOneAtATime(Protocol):
    """Runs one generation at a time and can say when one holds it (the panel waits)."""

    def is_busy(self) -> bool:
        """Whether a generation holds the model now."""
        ...


@runtime_checkable
class ReportsStatus(Protocol):
    """Says what it is doing (``%qwen status``, the panel's model line, ``qwen-magic info``)."""

    def status(self, *, check: bool = False) -> ProviderStatus:
        """Never loads a model; contacts a server only with ``check``."""
        ...


@runtime_checkable
class ContinuesAnswers(Protocol):
    """Honours :attr:`GenerationRequest.answer_start`: the answer goes on from that text."""

    continues_answers: bool
