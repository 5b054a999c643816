"""The event stream alone: text pieces in, TextDelta… and one Finished out (no server)."""

from __future__ import annotations

import json

import pytest

from qwen_magic.errors import RemoteProtocolError, RemoteServerError
from qwen_magic.providers.base import Finished, TextDelta
from qwen_magic.providers.openai.sse import StreamState, chunk_events, parse_stream, sse_events
from tests.unit.openai.fake_server import CODE_PIECES, chunk, good_stream

ENDPOINT = "http://h:1/v1"


def parse(texts, key=None):
    return list(parse_stream(texts, endpoint=ENDPOINT, key=key))


def texts_of(events):
    return [event.text for event in events if isinstance(event, TextDelta)]


def test_a_good_stream_is_its_text_then_one_finished():
    events = parse(good_stream())
    assert texts_of(events) == CODE_PIECES
    assert events[-1] == Finished("stop", 41, 30)  # the server's own counts, from usage
    assert sum(isinstance(event, Finished) for event in events) == 1


@pytest.mark.parametrize("size", [1, 3, 7, 64])
def test_events_split_anywhere_between_reads_come_out_whole(size):
    body = "".join(good_stream())
    pieces = [body[i:i + size] for i in range(0, len(body), size)]
    assert texts_of(parse(pieces)) == CODE_PIECES


@pytest.mark.parametrize("newline", ["\r\n", "\r"])
def test_every_sse_line_ending_is_understood(newline):
    body = "".join(good_stream()).replace("\n", newline)
    assert texts_of(parse([body])) == CODE_PIECES


def test_unicode_line_separators_inside_a_chunk_do_not_split_it():
    # Servers that do not escape non-ASCII (llama.cpp) send U+2028 and friends raw; only
    # CR and LF end an SSE line.
    text = "a\u2028b\u0085c\x0cd"
    body = f"data: {json.dumps(chunk(text), ensure_ascii=False)}\n\ndata: [DONE]\n\n"
    assert texts_of(parse([body])) == [text]


def test_comments_ids_retries_and_empty_events_are_skipped():
    body = (": keep-alive\n\nid: 7\nretry: 100\n\nevent: ping\n\n"
            f"id: 8\ndata: {json.dumps(chunk('x', finish='stop'))}\n\n\n\n")
    events = parse([body])
    assert texts_of(events) == ["x"] and events[-1].finish_reason == "stop"


def test_data_lines_of_one_event_are_joined():
    first, second = json.dumps(chunk("x", finish="stop"))[:10], json.dumps(chunk("x"))[10:]
    assert list(sse_events([f"data: {first}\ndata: {second}\n\n"], ENDPOINT)) == [
        ("message", f"{first}\n{second}")]


def test_an_event_left_open_when_the_connection_closes_still_counts():
    body = f"data: {json.dumps(chunk('x'))}\n\ndata: [DONE]"
    events = parse([body])
    assert texts_of(events) == ["x"] and events[-1].finish_reason == "interrupted"


def test_a_stream_that_just_stops_is_cut_not_short():
    with pytest.raises(RemoteProtocolError, match=r"ended the stream .* \(after 1 chunks\)"):
        parse([f"data: {json.dumps(chunk('x'))}\n\n"])


def test_llama_cpp_error_lines_and_error_events_fail_with_the_servers_words():
    key = "sk-secret-0123"
    with pytest.raises(RemoteServerError, match="mid-answer: failed to decode") as caught:
        parse([f'error: {{"message": "failed to decode, key {key}"}}\n\n'], key=key)
    assert key not in str(caught.value) and "***" in str(caught.value)
    with pytest.raises(RemoteServerError, match="mid-answer: overloaded"):
        parse(['event: error\ndata: {"error": {"message": "overloaded"}}\n\n'])


@pytest.mark.parametrize(("body", "words"), [
    ("<html><body>Jupyter</body></html>\n", "'<html><body>Jupyter</body></html>' is not an SSE line"),
    ("data: {not json\n\n", "'{not json' is not JSON"),
    ("data: [1, 2]\n\n", "sent list where a chat-completion chunk belongs"),
    ('data: {"id": "x"}\n\n', "without choices"),
])
def test_what_is_not_a_chat_completion_stream_says_so(body, words):
    with pytest.raises(RemoteProtocolError) as caught:
        parse([body])
    message = str(caught.value)
    assert words in message and message.startswith(ENDPOINT) and "\n" not in message
    assert message.endswith("is --base-url an OpenAI-compatible /v1 API?")


def test_chunk_events_notes_usage_and_finish_and_reads_only_the_first_choice():
    state = StreamState()
    usage_only = {"usage": {"completion_tokens": 5, "prompt_tokens": 9}}
    assert list(chunk_events(usage_only, state, endpoint=ENDPOINT, key=None)) == []
    two = chunk("a", finish="length")
    two["choices"].append({"index": 1, "delta": {"content": "b"}, "finish_reason": "stop"})
    assert list(chunk_events(two, state, endpoint=ENDPOINT, key=None)) == [TextDelta("a", 1)]
    assert (state.completion_tokens, state.prompt_tokens, state.finish_reason, state.chunks) == (
        5, 9, "length", 1)
