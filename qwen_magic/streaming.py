"""From a provider's events to text on screen, with timing, cancellation and UTF-8 safety.

The provider runs in a worker thread and hands events over a queue; the caller's thread
feeds the sinks. That split is what makes cancellation safe: Ctrl-C / Kernel → Interrupt
lands in the caller's thread, which only sets an Event, and the worker stops at the next
token boundary — llama.cpp is never interrupted halfway through its own bookkeeping, so the
cached model is immediately usable again.
"""

from __future__ import annotations

import codecs
import queue
import sys
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from typing import Any, Protocol, TextIO

from .providers.base import Finished, GenerationRequest, PromptRead, Provider, TextDelta
from .result import GenerationResult


class Sink(Protocol):
    """Where streamed text goes: a cell output, a widget, stdout, a list in a test."""

    def on_prompt(self, event: PromptRead) -> None: ...
    def on_text(self, delta: str, text: str) -> None: ...
    def on_finish(self, result: GenerationResult) -> None: ...
    def on_status(self, message: str) -> None: ...


class BaseSink:
    """A sink that ignores everything; subclass and override what you need."""

    def on_prompt(self, event: PromptRead) -> None:
        pass

    def on_text(self, delta: str, text: str) -> None:
        pass

    def on_finish(self, result: GenerationResult) -> None:
        pass

    def on_status(self, message: str) -> None:
        """A line about what happens between answers (``--check``: checking, repairing)."""


class ListSink(BaseSink):
    """Keeps every delta, for tests and for callers that want the chunks themselves."""

    def __init__(self) -> None:
        self.chunks: list[str] = []
        self.prompt: PromptRead | None = None
        self.result: GenerationResult | None = None
        self.statuses: list[str] = []

    def on_prompt(self, event: PromptRead) -> None:
        self.prompt = event

    def on_text(self, delta: str, text: str) -> None:
        self.chunks.append(delta)

    def on_finish(self, result: GenerationResult) -> None:
        self.result = result

    def on_status(self, message: str) -> None:
        self.statuses.append(message)


class TextIOSink(BaseSink):
    """Writes each delta to a terminal stream as it arrives (the CLI, terminal IPython);
    status lines go to stderr, each on a line of its own."""

    def __init__(self, stream: TextIO | None = None) -> None:
        self.stream = stream
        self._mid_line = False  # the text so far does not end with a newline

    def on_text(self, delta: str, text: str) -> None:
        out = self.stream or sys.stdout
        out.write(delta)
        out.flush()
        self._mid_line = not text.endswith("\n")

    def on_status(self, message: str) -> None:
        if self._mid_line:
            (self.stream or sys.stdout).write("\n")
            self._mid_line = False
        (self.stream or sys.stdout).flush()
        print(f"[{message}]", file=sys.stderr, flush=True)

    def on_finish(self, result: GenerationResult) -> None:
        out = self.stream or sys.stdout
        if result.text and not result.text.endswith("\n"):
            out.write("\n")
        out.flush()


class ThrottledSink(BaseSink):
    """Passes text on at most every ``interval`` seconds, so rendering never slows decoding.

    A notebook front end re-renders Markdown on every update; at 30 tok/s, one update per
    token floods it. Deltas in between are joined, and the last one is always delivered.
    """

    def __init__(self, inner: Sink, interval: float = 0.1, clock: Callable[[], float] = time.monotonic):
        self.inner, self.interval, self.clock = inner, interval, clock
        self._pending = ""
        self._text = ""
        self._last = float("-inf")

    def on_prompt(self, event: PromptRead) -> None:
        self.inner.on_prompt(event)

    def on_text(self, delta: str, text: str) -> None:
        self._pending += delta
        self._text = text
        now = self.clock()
        if now - self._last >= self.interval:
            self._flush(now)

    def _flush(self, now: float) -> None:
        if self._pending:
            self.inner.on_text(self._pending, self._text)
            self._pending = ""
        self._last = now

    def on_finish(self, result: GenerationResult) -> None:
        self._flush(self.clock())
        self.inner.on_finish(result)

    def on_status(self, message: str) -> None:
        self._flush(self.clock())
        self.inner.on_status(message)


_DONE = object()


class _Failure:
    def __init__(self, error: BaseException) -> None:
        self.error = error


class TokenStreamer:
    """Runs one request through a provider and fans the text out to sinks.

    ``cancel`` (a :class:`threading.Event`) may be set from any thread — the panel's Stop
    button — and a KeyboardInterrupt in the calling thread sets it too. Either way the
    result comes back with ``finish_reason == "cancelled"`` and the text so far.
    """

    def __init__(
        self,
        provider: Provider,
        sinks: Iterable[Sink] = (),
        *,
        cancel: threading.Event | None = None,
        clock: Callable[[], float] = time.perf_counter,
    ) -> None:
        self.provider = provider
        self.sinks = list(sinks)
        self.cancel = cancel or threading.Event()
        self.clock = clock

    def _produce(self, request: GenerationRequest, events: queue.SimpleQueue) -> None:
        try:
            for event in self.provider.stream(request, self.cancel):
                events.put(event)
                if self.cancel.is_set():
                    break
        except BaseException as exc:  # handed to the caller's thread, raised there
            events.put(_Failure(exc))
        finally:
            events.put(_DONE)

    def _events(self, request: GenerationRequest) -> Iterator[Any]:
        events: queue.SimpleQueue = queue.SimpleQueue()
        worker = threading.Thread(
            target=self._produce, args=(request, events), name="qwen-magic-generate", daemon=True
        )
        worker.start()
        try:
            while True:
                try:
                    item = events.get(timeout=0.25)
                except queue.Empty:
                    continue
                if item is _DONE:
                    return
                yield item
        finally:
            # Whatever ended the loop early (Ctrl-C, a failing sink), the worker must stop
            # and be joined before anyone uses the model again.
            if worker.is_alive():
                self.cancel.set()
            while worker.is_alive():
                try:
                    worker.join()
                except KeyboardInterrupt:  # a second Ctrl-C while we wait: keep waiting
                    continue

    def run(self, request: GenerationRequest) -> GenerationResult:
        """Stream one answer to the sinks and return it; never raises KeyboardInterrupt."""
        decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        text = ""
        prompt = PromptRead(0)
        finished: Finished | None = None
        counted = 0
        start = self.clock()
        first = last = None
        interrupted = False
        try:
            for event in self._events(request):
                if isinstance(event, TextDelta):
                    # bytes may end inside a multi-byte character: the decoder holds it back.
                    delta = decoder.decode(event.text) if isinstance(event.text, bytes) else event.text
                    counted += event.tokens
                    last = self.clock()
                    first = first if first is not None else last
                    if delta:
                        text += delta
                        for sink in self.sinks:
                            sink.on_text(delta, text)
                elif isinstance(event, PromptRead):
                    # The clock starts here: loading the model (first use) and templating
                    # are not "time to first token"; reading the prompt is.
                    prompt, start = event, self.clock()
                    for sink in self.sinks:
                        sink.on_prompt(event)
                    if request.answer_start and not text:
                        # The given start of the answer is part of it: shown first, kept in
                        # the text, not counted as generated.
                        text = request.answer_start
                        for sink in self.sinks:
                            sink.on_text(text, text)
                elif isinstance(event, Finished):
                    finished = event
                else:
                    raise event.error  # a _Failure from the worker
        except KeyboardInterrupt:
            interrupted = True
        text += decoder.decode(b"", final=True)
        if finished is None or interrupted:
            finish_reason = "cancelled"
        else:
            finish_reason = finished.finish_reason
        reported = finished.completion_tokens if finished else None
        completion = counted if reported is None else reported
        if finished and finished.prompt_tokens and not prompt.prompt_tokens:
            prompt = PromptRead(finished.prompt_tokens, prompt.reused_tokens)
        result = GenerationResult(
            text=text,
            finish_reason=finish_reason,
            prompt_tokens=prompt.prompt_tokens,
            completion_tokens=completion,
            reused_tokens=prompt.reused_tokens,
            ttft_s=None if first is None else first - start,
            tokens_per_s=_rate(completion - 1, first, last),
            prompt_tokens_per_s=_rate(prompt.prompt_tokens - prompt.reused_tokens, start, first),
            total_s=self.clock() - start,
            config=request.config,
            provenance={**self.provider.describe(), **(finished.provenance if finished else {})},
            interrupted=interrupted,
        )
        for sink in self.sinks:
            sink.on_finish(result)
        return result


def _rate(count: int, begin: float | None, end: float | None) -> float | None:
    if begin is None or end is None or count <= 0 or end <= begin:
        return None
    return count / (end - begin)
