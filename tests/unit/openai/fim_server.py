"""A FAKE server (no model) that fills in the middle as Ollama, llama-server or neither does.

``engine`` chooses the routes it has, as the real engines have them:

- ``ollama``: ``/v1/completions`` takes OpenAI's ``suffix`` field; it reads a prompt as text
  (a FIM marker costs it several tokens), and has no ``/infill``;
- ``llama-server``: ``POST /infill`` (at the root) streams ``{"content", "stop"}`` events;
  here its ``/v1/completions`` reads markers as text too, so the probe must find ``/infill``;
- ``none``: neither — no ``/infill`` (404), ``suffix`` rejected (400, as vLLM does);
- ``stall``: like ``llama-server``, but stops answering after its first piece;
- ``busy``: like ``llama-server``, but its ``/infill`` answers only after ``stall_seconds``
  (a request queued behind a teammate's long answer).

It records every request (path and body), so tests assert what was sent.
"""

from __future__ import annotations

import json
import time
from http.server import BaseHTTPRequestHandler
from typing import Any

from tests.unit.openai.background_server import BackgroundServer

#: What the fake suggests in every hole: a body line, then a line equal to the suffix's.
SUGGESTION = ["return ", "a + b", "\n", "print(add(1, 2))", "\n"]


class Handler(BaseHTTPRequestHandler):
    server: FimServer

    def log_message(self, *args: Any) -> None:
        pass

    def _json(self, status: int, body: Any) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _events(self, events: list[dict[str, Any]], *, done: bool, stall: bool = False) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.end_headers()
        for number, event in enumerate(events):
            self.wfile.write(f"data: {json.dumps(event)}\n\n".encode())
            self.wfile.flush()
            if stall and number == 0:
                time.sleep(self.server.stall_seconds)  # then the connection just closes
                return
        if done:
            self.wfile.write(b"data: [DONE]\n\n")

    def do_GET(self) -> None:
        if self.path == "/v1/models":
            return self._json(200, {"object": "list", "data": [{"id": "coder"}]})
        self._json(404, {"detail": "Not Found"})

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))))
        self.server.requests.append((self.path, body))
        engine = self.server.engine
        if self.path == "/infill" and engine == "busy":
            time.sleep(self.server.stall_seconds)
            return
        if self.path == "/infill" and engine in ("llama-server", "stall"):
            if not body.get("stream"):
                return self._json(200, {"content": "1", "stop": True})
            events = [{"content": piece, "stop": False} for piece in SUGGESTION]
            events.append({"content": "", "stop": True, "stopped_eos": True})
            return self._events(events, done=False, stall=engine == "stall")
        if self.path != "/v1/completions":
            return self._json(404, {"detail": "Not Found"})
        if "suffix" in body and engine != "ollama":
            return self._json(400, {"error": {"message": "suffix is not currently supported"}})
        if not body.get("stream"):
            # Markers read as text: several tokens each, so the probe sees no FIM parsing.
            tokens = max(1, len(body.get("prompt", "")) // 2)
            return self._json(200, {"choices": [{"text": "1", "index": 0}],
                                    "usage": {"prompt_tokens": tokens, "completion_tokens": 1}})
        events = [{"choices": [{"text": piece, "index": 0, "finish_reason": None}]}
                  for piece in SUGGESTION]
        events.append({"choices": [{"text": "", "index": 0, "finish_reason": "stop"}]})
        self._events(events, done=True)


class FimServer(BackgroundServer):
    def __init__(self, engine: str) -> None:
        super().__init__(Handler)
        self.engine = engine
        self.stall_seconds = 30.0
        self.requests: list[tuple[str, dict[str, Any]]] = []
        self.start()
