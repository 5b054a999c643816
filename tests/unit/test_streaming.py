"""TokenStreamer with a fake provider (no model): UTF-8, throttling, stats, cancellation."""

from __future__ import annotations

import threading
import time

import pytest

from qwen_magic.config import GenerationConfig
from qwen_magic.errors import ContextOverflowError
from qwen_magic.providers.base import GenerationRequest
from qwen_magic.streaming import BaseSink, ListSink, ThrottledSink, TokenStreamer
from tests.fakes import FakeProvider


def request(**config):
    return GenerationRequest.from_prompt("hi", GenerationConfig(**config))


def test_chunks_concatenate_to_the_text_and_stats_are_measured():
    provider = FakeProvider(["a", "b", "c"], delay=0.01, prompt_tokens=7)
    sink = ListSink()
    result = TokenStreamer(provider, [sink]).run(request())
    assert "".join(sink.chunks) == result.text == "abc"
    assert result.finish_reason == "stop"
    assert (result.prompt_tokens, result.completion_tokens) == (7, 3)
    assert result.ttft_s is not None and result.ttft_s > 0
    assert result.tokens_per_s is not None and result.tokens_per_s > 0
    assert sink.prompt.prompt_tokens == 7 and sink.result is result


def test_multibyte_characters_split_across_tokens_are_never_shown_broken():
    text = "héllo 世界 🙂 مرحبا"
    data = text.encode("utf-8")
    pieces = [data[i : i + 1] for i in range(len(data))]  # one byte per "token"
    sink = ListSink()
    result = TokenStreamer(FakeProvider(pieces), [sink]).run(request())
    assert result.text == text
    assert all("\ufffd" not in chunk for chunk in sink.chunks)
    assert "".join(sink.chunks) == text


def test_invalid_bytes_become_replacement_characters_not_errors():
    result = TokenStreamer(FakeProvider([b"ok", b"\xff\xfe", b"!"])).run(request())
    assert result.text.startswith("ok") and result.text.endswith("!")


def test_length_finish_reason():
    result = TokenStreamer(FakeProvider(["a"] * 10)).run(request(max_tokens=3))
    assert result.finish_reason == "length" and result.completion_tokens == 3


def test_throttled_sink_batches_updates_and_always_delivers_the_end():
    now = [0.0]
    inner = ListSink()
    throttled = ThrottledSink(inner, interval=1.0, clock=lambda: now[0])
    for piece in "abcdef":
        throttled.on_text(piece, "")
        now[0] += 0.3
    assert len(inner.chunks) < 6  # batched
    result = TokenStreamer(FakeProvider([])).run(request())
    throttled.on_finish(result)
    assert "".join(inner.chunks) == "abcdef"


def test_cancel_event_stops_within_one_token_and_keeps_the_partial_text():
    cancel = threading.Event()

    class StopAfterTwo(BaseSink):
        def __init__(self):
            self.count = 0

        def on_text(self, delta, text):
            self.count += 1
            if self.count == 2:
                cancel.set()

    provider = FakeProvider(["a", "b", "c", "d", "e"], delay=0.02)
    result = TokenStreamer(provider, [StopAfterTwo()], cancel=cancel).run(request())
    assert result.finish_reason == "cancelled"
    assert result.text in ("ab", "abc")  # at most one token in flight when Stop was pressed
    assert not result.interrupted


def test_keyboard_interrupt_mid_stream_is_a_cancel_and_the_provider_is_reusable():
    provider = FakeProvider(["x"] * 50, delay=0.01)

    class InterruptOnThird(BaseSink):
        def __init__(self):
            self.seen = 0

        def on_text(self, delta, text):
            self.seen += 1
            if self.seen == 3:
                raise KeyboardInterrupt

    result = TokenStreamer(provider, [InterruptOnThird()]).run(request())
    assert result.finish_reason == "cancelled" and result.interrupted
    assert result.text == "xxx"
    # The worker has been joined: the provider's lock is free and a new request runs.
    assert not provider.lock.locked()
    again = TokenStreamer(provider).run(request())
    assert again.finish_reason == "stop" and len(again.text) == 50


def test_provider_errors_reach_the_caller():
    provider = FakeProvider(error=ContextOverflowError("too long"))
    with pytest.raises(ContextOverflowError, match="too long"):
        TokenStreamer(provider).run(request())


def test_worker_thread_does_not_outlive_the_run():
    before = threading.active_count()
    TokenStreamer(FakeProvider(["a"] * 5)).run(request())
    time.sleep(0.05)
    assert threading.active_count() == before


def test_stats_line_mentions_tokens_speed_and_first_token():
    result = TokenStreamer(FakeProvider(["a", "b", "c"], delay=0.01)).run(request())
    line = result.stats_line()
    assert "3 tokens" in line and "tok/s" in line and "first token" in line
