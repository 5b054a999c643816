"""One streamed chat completion, from the response body's text to TextDelta… then Finished.

httpx-sse splits the body into lines (CR, LF or CRLF only, as the SSE spec says, so a
U+2028 inside a chunk's JSON does not cut it in two) and assembles the events. Two things
the spec would have a client ignore are errors here, because ignoring them would turn a
broken server into a short answer: llama.cpp's server reports a failure mid-stream as a
non-standard ``error: {...}`` line, and a line that is not SSE at all (an HTML page, a
proxy's banner) means the URL points at something else.

A stream is only complete if it says so (``[DONE]`` or a ``finish_reason``); one that just
stops is reported as cut, never passed off as the whole answer.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from ...errors import RemoteProtocolError, RemoteServerError
from ..base import Finished, StreamEvent, TextDelta
from .errors import NOT_OPENAI_HINT, one_line, server_message

#: Field names a conforming SSE line may have; anything else is not an event stream.
_SSE_FIELDS = frozenset({"data", "event", "id", "retry"})
#: llama.cpp's server writes ``error: {...}`` lines in place of an ``event: error``.
_LLAMA_CPP_ERROR_FIELD = "error"


@dataclass
class StreamState:
    """What the event stream has said so far, to tell a finished answer from a cut one."""

    finish_reason: str | None = None
    completion_tokens: int | None = None
    prompt_tokens: int | None = None
    chunks: int = 0
    done: bool = False


def sse_events(texts: Iterable[str], endpoint: str) -> Iterator[tuple[str, str]]:
    """(event kind, data) per Server-Sent Event in the decoded body ``texts``.

    Comments (keep-alive pings) and events without data are skipped; an event the server
    did not close with a blank line before hanging up still counts. Raises
    RemoteProtocolError at the first line that is not SSE.
    """
    # The line splitter and the event decoder are the pieces httpx-sse's EventSource is
    # made of; EventSource itself would silently drop the two kinds of line checked here.
    from httpx_sse._decoders import SSEDecoder, SSELineDecoder

    splitter, decoder = SSELineDecoder(), SSEDecoder()

    def feed(line: str) -> Iterator[tuple[str, str]]:
        field, _, value = line.partition(":")
        if line and not line.startswith(":") and field not in _SSE_FIELDS:
            if field == _LLAMA_CPP_ERROR_FIELD:
                yield "error", value.removeprefix(" ")
                return
            raise RemoteProtocolError(
                f"{endpoint} sent a malformed event stream ({one_line(line, 60)!r} is not an "
                f"SSE line); {NOT_OPENAI_HINT}"
            )
        event = decoder.decode(line)
        if event is not None and event.data:
            yield event.event.strip() or "message", event.data

    for text in texts:
        for line in splitter.decode(text):
            yield from feed(line)
    for line in splitter.flush():
        yield from feed(line)
    yield from feed("")  # dispatches an event left open when the connection closed


def parse_stream(
    texts: Iterable[str], *, endpoint: str, key: str | None = None
) -> Iterator[StreamEvent]:
    """The body of one chat-completion stream → TextDelta… then one Finished.

    Raises RemoteProtocolError for anything that is not that, and RemoteServerError for
    an error event, so a broken server never looks like a short answer. ``key`` is only
    used to cut the API key out of anything the server says.
    """
    state = StreamState()
    for kind, data in sse_events(texts, endpoint):
        if kind == "error":
            raise RemoteServerError(
                f"{endpoint} failed mid-answer: {server_message(data.encode(), key)}."
            )
        if data.strip() == "[DONE]":
            state.done = True
            break
        try:
            chunk = json.loads(data)
        except ValueError:
            raise RemoteProtocolError(
                f"{endpoint} sent a malformed event stream ({one_line(data, 60)!r} is "
                f"not JSON); {NOT_OPENAI_HINT}"
            ) from None
        yield from chunk_events(chunk, state, endpoint=endpoint, key=key)
    if not state.done and state.finish_reason is None:
        raise RemoteProtocolError(
            f"{endpoint} ended the stream before the answer was finished (after "
            f"{state.chunks} chunks); the server may have crashed or restarted."
        )
    # A [DONE] with no finish_reason: the server stopped this answer itself (e.g. a
    # server that interrupts one request for the next); say so rather than "stop".
    tokens = state.completion_tokens or state.chunks
    yield Finished(state.finish_reason or "interrupted", tokens, state.prompt_tokens)


def chunk_events(
    chunk: Any, state: StreamState, *, endpoint: str, key: str | None
) -> Iterator[StreamEvent]:
    """One ``chat.completion.chunk`` → its text (if any), noting usage and finish in ``state``."""
    if not isinstance(chunk, dict):
        raise RemoteProtocolError(
            f"{endpoint} sent {type(chunk).__name__} where a chat-completion chunk "
            f"belongs; {NOT_OPENAI_HINT}"
        )
    if chunk.get("error"):
        raise RemoteServerError(
            f"{endpoint} failed mid-answer: {server_message(json.dumps(chunk).encode(), key)}."
        )
    usage = chunk.get("usage")
    if isinstance(usage, dict) and isinstance(usage.get("completion_tokens"), int):
        state.completion_tokens = usage["completion_tokens"]
    if isinstance(usage, dict) and isinstance(usage.get("prompt_tokens"), int):
        state.prompt_tokens = usage["prompt_tokens"]
    choices = chunk.get("choices")
    if choices is None and isinstance(usage, dict):
        return  # a usage-only chunk from a server that leaves out the empty choices
    if not isinstance(choices, list):
        raise RemoteProtocolError(
            f"{endpoint} sent a chunk without choices "
            f"({one_line(json.dumps(chunk), 60)}); {NOT_OPENAI_HINT}"
        )
    for choice in choices[:1]:  # n=1: only one answer was asked for
        delta = choice.get("delta") if isinstance(choice, dict) else None
        content = delta.get("content") if isinstance(delta, dict) else None
        if delta is None and isinstance(choice, dict):  # /v1/completions: text, not a delta
            content = choice.get("text")
        if content:
            state.chunks += 1
            yield TextDelta(str(content), tokens=1)  # these servers send a token per chunk
        reason = choice.get("finish_reason") if isinstance(choice, dict) else None
        if reason:
            state.finish_reason = str(reason)
