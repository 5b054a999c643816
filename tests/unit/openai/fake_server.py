"""A FAKE OpenAI-compatible server (no model, no llama.cpp) for the openai provider's tests.

A small ``http.server`` on 127.0.0.1: it answers ``/v1/chat/completions`` with scripted SSE
streams or HTTP errors chosen by the requested model name, the way llama.cpp's server, vLLM
and Ollama answer. The real server (`qwen-magic serve` with the real model) is exercised in
tests/integration/test_serve.py. :func:`ask` sends one request through the engine, as every
front end does.
"""

from __future__ import annotations

import json
import select
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler
from typing import Any

from qwen_magic import api
from qwen_magic.config import GenerationConfig
from qwen_magic.providers.openai import OpenAICompatibleProvider
from qwen_magic.result import GenerationResult
from qwen_magic.streaming import ListSink
from tests.unit.openai.background_server import BackgroundServer

CODE_PIECES = ["Here:\n", "```python\n", "def add(a, b):\n", "    return a + b\n", "```"]
RIGHT_KEY = "sk-right-key-0123456789"


def chunk(content: str | None = None, finish: str | None = None, role: str | None = None) -> dict:
    delta: dict[str, Any] = {}
    if role:
        delta["role"] = role
    if content is not None:
        delta["content"] = content
    return {"id": "chatcmpl-1", "object": "chat.completion.chunk", "model": "fake",
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}


def good_stream(pieces: list[str] = CODE_PIECES) -> list[str]:
    events = [json.dumps(chunk(role="assistant"))]
    events += [json.dumps(chunk(p)) for p in pieces]
    events.append(json.dumps(chunk(finish="stop")))
    events.append(json.dumps({"choices": [], "usage": {"prompt_tokens": 30,
                                                       "completion_tokens": 41}}))
    return [f"data: {e}\n\n" for e in events] + ["data: [DONE]\n\n"]


class Handler(BaseHTTPRequestHandler):
    server: FakeServer

    def log_message(self, *args: Any) -> None:  # keep pytest output clean
        pass

    # -- replies --
    def _json(self, status: int, body: Any, content_type: str = "application/json") -> None:
        data = body.encode() if isinstance(body, str) else json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _sse_head(self, content_type: str = "text/event-stream") -> None:
        self.send_response(200)
        self.send_header("Content-Type", content_type)
        self.send_header("Cache-Control", "no-cache")
        self.end_headers()  # HTTP/1.0: the body ends when the connection closes

    def _sse(self, events: list[str], content_type: str = "text/event-stream") -> None:
        self._sse_head(content_type)
        for event in events:
            self.wfile.write(event.encode())

    def _wait_for_disconnect(self, seconds: float = 10.0) -> None:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            readable, _, _ = select.select([self.connection], [], [], 0.05)
            if readable and self.connection.recv(1, socket.MSG_PEEK) == b"":
                self.server.disconnected.set()
                return

    # -- routes --
    def do_GET(self) -> None:
        self.server.requests.append(("GET", self.path, dict(self.headers), None))
        if self.path == "/v1/models":
            if self.server.key and self.headers.get("Authorization") != f"Bearer {self.server.key}":
                return self._json(401, {"error": {"message": "Invalid API key"}})
            return self._json(200, {"object": "list", "data": [
                {"id": m, "object": "model"} for m in self.server.models]})
        self._json(404, {"detail": "Not Found"})

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length", 0))
        body = json.loads(self.rfile.read(length))
        self.server.requests.append(("POST", self.path, dict(self.headers), body))
        if self.path != "/v1/chat/completions":
            return self._json(404, {"detail": "Not Found"})
        model = body.get("model")
        if model == "needs-key":
            sent = (self.headers.get("Authorization") or "").removeprefix("Bearer ")
            if sent != RIGHT_KEY:
                # Like OpenAI's own 401, the message repeats the key it got.
                return self._json(401, {"error": {
                    "message": f"Incorrect API key provided: {sent}", "type": "auth"}})
            return self._sse(good_stream())
        try:
            getattr(self, "reply_" + model.replace("-", "_"))()
        except AttributeError:  # like Ollama: unknown model → 404 naming it
            self._json(404, {"error": {"message": f'model "{model}" not found, try pulling it',
                                       "type": "api_error"}})
        except (BrokenPipeError, ConnectionResetError):
            pass

    def reply_ok(self) -> None:
        self._sse([": ping - keep-alive\n\n", *good_stream()])

    reply_fake_coder = reply_ok  # the model /v1/models lists

    def reply_boom(self) -> None:
        self._json(500, {"error": {"message": "llama_decode returned -3", "type": "server_error"}})

    def reply_unavailable(self) -> None:
        self._json(503, "Service Unavailable", "text/plain")

    def reply_context(self) -> None:
        self._json(400, {"error": {"message": "Requested tokens (5000) exceed context window "
                                              "of 4096", "type": "invalid_request_error"}})

    def reply_teapot(self) -> None:
        self._json(418, {"message": "I'm a teapot"})

    def reply_garbage(self) -> None:
        self._sse([f"data: {json.dumps(chunk('def '))}\n\n", "data: {not json at all\n\n"])

    def reply_not_sse(self) -> None:
        self._sse(["<html><body>Jupyter</body></html>\n"])

    def reply_html(self) -> None:
        self._json(200, "<html><body>Jupyter Server</body></html>", "text/html")

    def reply_no_choices(self) -> None:
        self._sse(['data: {"id": "x", "object": "chat.completion.chunk"}\n\n'])

    def reply_cut(self) -> None:
        self._sse([f"data: {json.dumps(chunk('def add('))}\n\n"])  # and the connection closes

    def reply_error_event(self) -> None:
        self._sse([f"data: {json.dumps(chunk('def '))}\n\n",
                   'data: {"error": {"message": "the model crashed", "code": 500}}\n\n'])

    def reply_llamacpp_error(self) -> None:
        self._sse(['error: {"code": 500, "message": "failed to decode the batch"}\n\n'])

    def reply_early_done(self) -> None:
        self._sse([f"data: {json.dumps(chunk('def '))}\n\n", "data: [DONE]\n\n"])

    def reply_stall(self) -> None:
        self._sse_head()
        self.wfile.write(f"data: {json.dumps(chunk('def '))}\n\n".encode())
        self._wait_for_disconnect()

    def reply_silent(self) -> None:
        # Headers never come (a server busy loading a model or with another request).
        self._wait_for_disconnect(seconds=self.server.silent_seconds)


class FakeServer(BackgroundServer):
    """A FAKE OpenAI-compatible server on 127.0.0.1 with scripted replies."""

    def __init__(self, port: int = 0) -> None:
        super().__init__(Handler, port)
        self.requests: list[tuple[str, str, dict, Any]] = []
        self.models = ["fake-coder"]
        self.key: str | None = None
        self.disconnected = threading.Event()
        self.silent_seconds = 10.0
        self.start()


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def ask(provider: OpenAICompatibleProvider, sink: Any = None, **config: Any) -> GenerationResult:
    return api.run("write an add function", GenerationConfig(max_tokens=64, **config),
                      provider=provider, sinks=[sink or ListSink()])
