"""A fake provider for unit tests: scripted tokens, no model, no llama.cpp.

Unit tests that use it say so; everything that needs the real model lives in
tests/integration and tests/notebooks.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator, Sequence
from typing import Any

from qwen_magic.providers.base import (
    Finished,
    GenerationRequest,
    PromptRead,
    StreamEvent,
    TextDelta,
)


class FakeProvider:
    """Yields ``pieces`` one per "token" (``delay`` seconds apart) and records each request."""

    name = "fake"

    def __init__(
        self,
        pieces: Sequence[str | bytes] = ("```python\n", "print(", "'hi'", ")\n", "```"),
        *,
        delay: float = 0.0,
        prompt_tokens: int = 12,
        reused_tokens: int = 0,
        finish_reason: str = "stop",
        error: BaseException | None = None,
    ) -> None:
        self.pieces = list(pieces)
        self.delay = delay
        self.prompt_tokens = prompt_tokens
        self.reused_tokens = reused_tokens
        self.finish_reason = finish_reason
        self.error = error
        self.requests: list[GenerationRequest] = []
        self.started = threading.Event()
        self.lock = threading.Lock()

    def stream(self, request: GenerationRequest, cancel: threading.Event) -> Iterator[StreamEvent]:
        with self.lock:
            self.requests.append(request)
            self.started.set()
            if self.error is not None:
                raise self.error
            yield PromptRead(self.prompt_tokens, self.reused_tokens)
            for count, piece in enumerate(self.pieces, 1):
                if cancel.is_set():
                    return
                if self.delay:
                    time.sleep(self.delay)
                yield TextDelta(piece)
                if count >= request.config.max_tokens:
                    yield Finished("length", count)
                    return
            yield Finished(self.finish_reason, len(self.pieces))

    def describe(self) -> dict[str, Any]:
        return {"provider": self.name, "model": "fake.gguf"}

    def is_busy(self) -> bool:  # providers.base.ServesOneAtATime: the panel waits for it
        return self.lock.locked()


class AnswersProvider(FakeProvider):
    """Answers each request with the next of ``answers`` (whole texts), then repeats the last."""

    def __init__(self, answers: Sequence[str]) -> None:
        super().__init__(())
        self.answers = list(answers)

    def stream(self, request: GenerationRequest, cancel: threading.Event) -> Iterator[StreamEvent]:
        self.pieces = [self.answers[min(len(self.requests), len(self.answers) - 1)]]
        yield from super().stream(request, cancel)
