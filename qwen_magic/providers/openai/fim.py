"""Fill-in-the-middle on an OpenAI-compatible server: completion as you type from a team server.

Servers fill in the middle each their own way, so there is one strategy per way:

``raw``
    The model family's FIM prompt (:func:`qwen_magic.completion.fim_prompt`, the very prompt
    the local path reads) on ``/v1/completions``. Works where the server parses special
    tokens in a prompt: llama-cpp-python's server (``qwen-magic serve``), vLLM, llama-server.
``suffix``
    ``/v1/completions`` with OpenAI's ``suffix`` field; the server builds the FIM prompt from
    the model's template: Ollama. (llama-cpp-python 0.3.x takes the field but sets the FIM
    token ids to 0, and vLLM rejects it, so it is never chosen for them by the probe.)
``infill``
    llama-server's own ``POST /infill`` (at the server's root), with the earlier cells as
    ``input_extra``.

Each carries the live values' description (``CompletionRequest.live_data``) where it carries
the earlier cells: ``raw`` as the prompt's ``notebook_state.py`` file, ``suffix`` as a
commented block before the text, ``infill`` as one more ``input_extra`` file.

"auto" (the default; ``QWEN_MAGIC_FIM`` or ``%config QwenMagics.fim`` name one) finds out by
asking, once per server, cheapest question first: ``raw`` is taken when a prompt of the three
FIM markers costs the server at most four tokens (it parsed them as special tokens, so the
model sees a FIM prompt); otherwise ``/infill`` is tried, then ``suffix``. A 404, 405, 501 or
a 400 for an unknown route or field means "not this way"; a server with no way at all gets no
ghost text, and ``%qwen status`` says why.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from ...completion import (
    FIM_MIDDLE,
    FIM_PREFIX,
    FIM_SUFFIX,
    STATE_FILE,
    STOP_MARKERS,
    Completion,
    CompletionRequest,
    Suggestion,
    fim_prompt,
    prompt_prefix,
    select_context,
)
from ...errors import RemoteError, RemoteProtocolError
from ..base import Finished, StreamEvent, TextDelta
from .sse import parse_stream, sse_events
from .transport import Transport

STRATEGIES = ("raw", "suffix", "infill")
#: The settings' values: a strategy, "auto" (probe), or "none" (no completion from a server).
CHOICES = ("auto", *STRATEGIES, "none")

#: JupyterLab's inline completer gives a provider 5 s by default; a suggestion that has shown
#: nothing by this time (the server busy with a teammate's answer) is given up, quietly.
FIRST_TEXT_WAIT_S = 4.0
PROBE_TIMEOUT_S = 10.0
#: Statuses by which a server says "no such route or field" rather than "failed".
_NOT_THIS_WAY = (400, 404, 405, 422, 501)


@dataclass(frozen=True)
class Probe:
    """What asking the server found: a strategy, or why there is none."""

    strategy: str | None
    problem: str | None = None
    heard: bool = True  # the server answered (False: unreachable now, so ask again later)


def payload(strategy: str, model: str, request: CompletionRequest) -> tuple[str, dict[str, Any]]:
    """The path (``/completions`` or the server's ``/infill``) and body of one suggestion."""
    greedy: dict[str, Any] = {"temperature": 0.0, "top_k": 1, "top_p": 1.0, "stream": True}
    if strategy == "raw":
        return "/completions", {"model": model, "prompt": fim_prompt(request),
                                "max_tokens": request.max_tokens, "stop": list(STOP_MARKERS),
                                **greedy}
    cells = select_context(request.context_cells, request.context_chars)
    if strategy == "suffix":
        # The earlier cells go before the text, as a file's start would (Ollama's template
        # puts prompt and suffix into the model's own FIM layout).
        before = "".join(f"# cell {i}\n{cell.rstrip()}\n\n" for i, cell in enumerate(cells, 1))
        if request.live_data.strip():
            before += f"# the notebook's live values\n{request.live_data.strip()}\n\n"
        return "/completions", {"model": model, "prompt": before + prompt_prefix(request.prefix),
                                "suffix": request.suffix, "max_tokens": request.max_tokens,
                                **greedy}
    extra = [{"filename": f"cell_{i}.py", "text": cell.rstrip() + "\n"}
             for i, cell in enumerate(cells, 1)]
    if request.live_data.strip():
        extra.append({"filename": STATE_FILE, "text": request.live_data.strip() + "\n"})
    return "infill", {"input_prefix": prompt_prefix(request.prefix),
                      "input_suffix": request.suffix, "input_extra": extra,
                      "n_predict": request.max_tokens, "cache_prompt": True, **greedy}


def infill_events(texts: Iterable[str], endpoint: str) -> Iterator[StreamEvent]:
    """llama-server's ``/infill`` stream (``{"content": …, "stop": …}`` events) → events."""
    tokens = 0
    for _, data in sse_events(texts, endpoint):
        try:
            chunk = json.loads(data)
        except ValueError:
            raise RemoteProtocolError(f"{endpoint}/infill sent {data[:60]!r}, not JSON") from None
        content = chunk.get("content") if isinstance(chunk, dict) else None
        if content:
            tokens += 1
            yield TextDelta(str(content))
        if isinstance(chunk, dict) and chunk.get("stop"):
            yield Finished("length" if chunk.get("stopped_limit") else "stop", tokens)
            return
    raise RemoteProtocolError(f"{endpoint}/infill ended its stream before the suggestion did")


def complete(transport: Transport, strategy: str, model: str, key: str | None,
             request: CompletionRequest, cancel: threading.Event,
             on_text: Callable[[str], None]) -> Completion:
    """One suggestion from the server. The connection is closed when ``cancel`` is set (the
    user typed on) and when no text came within :data:`FIRST_TEXT_WAIT_S`: a suggestion that
    would arrive after JupyterLab stopped waiting is worth nothing, and the server may drop it."""
    path, body = payload(strategy, model, request)
    url = transport.server_url("/infill") if path == "infill" else path
    endpoint = transport.endpoint

    def decode(texts: Iterable[str]) -> Iterator[StreamEvent]:
        return infill_events(texts, endpoint) if path == "infill" \
            else parse_stream(texts, endpoint=endpoint, key=key)

    suggestion = Suggestion(request, on_text)
    stop = threading.Event()
    deadline = time.monotonic() + FIRST_TEXT_WAIT_S

    def watch() -> None:  # ends the exchange on cancel, or when the first text is too late
        while not stop.wait(0.02):
            if cancel.is_set() or (suggestion.first is None and time.monotonic() > deadline):
                stop.set()

    watcher = threading.Thread(target=watch, name="qwen-magic-fim-watch", daemon=True)
    watcher.start()
    exchange = transport.stream(url, body, key=key, model=model, decode=decode)
    finish, generated = "length", 0
    try:
        for event in _events_or_none(exchange.events(stop)):
            if isinstance(event, TextDelta):
                generated += event.tokens
                text = event.text.decode("utf-8", "replace") if isinstance(event.text, bytes) \
                    else event.text
                suggestion.feed(text)
                if suggestion.done:
                    finish = "stop"
                    break
            elif isinstance(event, Finished):
                finish = "length" if event.finish_reason == "length" else "stop"
            elif event is None:  # the server failed or hung up mid-suggestion
                return Completion("", "error", completion_tokens=generated)
        else:
            if stop.is_set():
                finish = "cancelled" if cancel.is_set() else "timeout"
    finally:
        stop.set()
        exchange.close()
        watcher.join()
    return suggestion.finish(finish, completion_tokens=generated)


def _events_or_none(events: Iterator[StreamEvent]) -> Iterator[StreamEvent | None]:
    """``events``, ending in None instead of raising when the exchange fails: a suggestion
    that breaks off is no suggestion, and no error for the person typing (the cell and the
    kernel are as they were; ``%qwen status`` says what is wrong with the server)."""
    try:
        yield from events
    except RemoteError:
        yield None


def probe(transport: Transport, model: str, key: str | None) -> Probe:
    """Find out how this server fills in the middle (see the module's docstring)."""
    markers = f"{FIM_PREFIX}{FIM_SUFFIX}{FIM_MIDDLE}"
    status, body = transport.post("/completions", {"model": model, "prompt": markers,
                                                  "max_tokens": 1, "temperature": 0.0},
                                  key, timeout=PROBE_TIMEOUT_S)
    if status == 200:
        usage = body.get("usage") if isinstance(body, dict) else None
        prompt_tokens = usage.get("prompt_tokens") if isinstance(usage, dict) else None
        if isinstance(prompt_tokens, int) and prompt_tokens <= 4:
            return Probe("raw")
    elif status not in _NOT_THIS_WAY:
        return Probe(None, f"{transport.endpoint}/completions answered HTTP {status}")
    status, body = transport.post(transport.server_url("/infill"),
                                  {"input_prefix": "x = ", "input_suffix": "\n", "n_predict": 1},
                                  key, timeout=PROBE_TIMEOUT_S)
    if status == 200 and isinstance(body, dict) and "content" in body:
        return Probe("infill")
    status, body = transport.post("/completions", {"model": model, "prompt": "x = ",
                                                  "suffix": "\n", "max_tokens": 1},
                                  key, timeout=PROBE_TIMEOUT_S)
    if status == 200 and isinstance(body, dict) and body.get("choices"):
        return Probe("suffix")
    return Probe(None, f"{transport.endpoint} has no fill-in-the-middle route: its "
                       "/v1/completions does not read FIM tokens, it has no /infill, and it "
                       "rejects the suffix field (docs/remote-engines.md)")


def probe_safely(transport: Transport, model: Callable[[], str], key: str | None) -> Probe:
    """:func:`probe`, with a failed exchange (server down, bad key) as the problem."""
    try:
        return probe(transport, model(), key)
    except RemoteError as exc:
        return Probe(None, str(exc), heard=False)


__all__ = ["CHOICES", "FIRST_TEXT_WAIT_S", "STRATEGIES", "Probe", "complete", "infill_events",
           "payload", "probe", "probe_safely"]
