"""The exchange thread: connects are retried, and Stop ends a request at once, mid-answer or
while the server is still silent, leaving the provider usable."""

from __future__ import annotations

import threading
import time

import pytest

from qwen_magic.errors import RemoteServerError
from qwen_magic.providers.base import GenerationRequest
from qwen_magic.providers.openai import OpenAICompatibleProvider
from qwen_magic.streaming import BaseSink, TokenStreamer
from tests.unit.openai.fake_server import FakeServer, ask, free_port


def test_connect_is_retried_until_the_server_is_up():
    port = free_port()
    late: list[FakeServer] = []
    timer = threading.Timer(0.3, lambda: late.append(FakeServer(port)))
    timer.start()
    try:
        result = ask(OpenAICompatibleProvider(f"http://127.0.0.1:{port}/v1", "ok"))
        assert result.code.startswith("def add")
    finally:
        timer.join()
        for fake in late:
            fake.stop()


# -- cancellation ----------------------------------------------------------------------------


class CancelOnFirstText(BaseSink):
    def __init__(self, cancel: threading.Event) -> None:
        self.cancel = cancel

    def on_text(self, delta: str, text: str) -> None:
        self.cancel.set()


def test_stop_mid_answer_closes_the_stream(server):
    cancel = threading.Event()
    streamer = TokenStreamer(OpenAICompatibleProvider(server.url, "stall"),
                             [CancelOnFirstText(cancel)], cancel=cancel)
    start = time.monotonic()
    result = streamer.run(GenerationRequest.from_prompt("x"))
    assert result.finish_reason == "cancelled" and result.text == "def "
    assert time.monotonic() - start < 5
    # The server sees the connection close: that is how real servers stop generating.
    assert server.disconnected.wait(3)


def test_stop_while_the_server_is_silent_does_not_wait_for_it(server):
    cancel = threading.Event()
    threading.Timer(0.3, cancel.set).start()
    streamer = TokenStreamer(OpenAICompatibleProvider(server.url, "silent"), [], cancel=cancel)
    start = time.monotonic()
    result = streamer.run(GenerationRequest.from_prompt("x"))
    assert result.finish_reason == "cancelled"
    assert time.monotonic() - start < 5  # not the server's 10 s of silence


def test_provider_is_reusable_after_cancel_and_errors(server):
    provider = OpenAICompatibleProvider(server.url, "stall")
    cancel = threading.Event()
    TokenStreamer(provider, [CancelOnFirstText(cancel)], cancel=cancel).run(
        GenerationRequest.from_prompt("x"))
    provider.model = "boom"
    with pytest.raises(RemoteServerError):
        ask(provider)
    provider.model = "ok"
    assert ask(provider).code.startswith("def add")
