"""OpenAICompatibleProvider against a FAKE OpenAI-compatible server (no model, no llama.cpp).

The fake is a small ``http.server`` on 127.0.0.1 written below: it answers
``/v1/chat/completions`` with scripted SSE streams or HTTP errors chosen by the requested
model name, the way llama.cpp's server, vLLM and Ollama answer. The real server
(`qwen-magic serve` with the real model) is exercised in tests/integration/test_serve.py.
"""

from __future__ import annotations

import json
import os
import select
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from IPython.core.displaypub import CapturingDisplayPublisher
from IPython.core.interactiveshell import InteractiveShell

from qwen_magic import cli, engine
from qwen_magic.config import GenerationConfig
from qwen_magic.errors import (
    ConfigError,
    ContextOverflowError,
    EndpointNotFoundError,
    EndpointUnreachableError,
    RemoteAuthError,
    RemoteError,
    RemoteModelNotFoundError,
    RemoteProtocolError,
    RemoteServerError,
    RemoteTimeoutError,
)
from qwen_magic.magic_args import parse_cell_args
from qwen_magic.providers.base import GenerationRequest
from qwen_magic.providers.openai_compat import (
    OpenAICompatibleProvider,
    api_key_from_env,
    normalize_base_url,
    public_endpoint,
)
from qwen_magic.streaming import BaseSink, ListSink, TokenStreamer

CODE_PIECES = ["Here:\n", "```python\n", "def add(a, b):\n", "    return a + b\n", "```"]
RIGHT_KEY = "sk-right-key-0123456789"
ENV_VARS = ("QWEN_MAGIC_API_KEY", "OPENAI_API_KEY", "QWEN_MAGIC_PROVIDER", "QWEN_MAGIC_BASE_URL",
            "QWEN_MAGIC_REMOTE_MODEL")


# -- the fake server ---------------------------------------------------------------------------


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


class FakeServer(ThreadingHTTPServer):
    """A FAKE OpenAI-compatible server on 127.0.0.1 with scripted replies."""

    daemon_threads = True

    def __init__(self, port: int = 0) -> None:
        super().__init__(("127.0.0.1", port), Handler)
        self.requests: list[tuple[str, str, dict, Any]] = []
        self.models = ["fake-coder"]
        self.key: str | None = None
        self.disconnected = threading.Event()
        self.silent_seconds = 10.0
        self.thread = threading.Thread(target=self.serve_forever, args=(0.05,), daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/v1"

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # a client hanging up on purpose (cancel, timeout tests) is not an error

    def stop(self) -> None:
        self.shutdown()
        self.server_close()


@pytest.fixture(autouse=True)
def clean_env(monkeypatch):
    for name in ENV_VARS:
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def server():
    fake = FakeServer()
    yield fake
    fake.stop()


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def ask(provider: OpenAICompatibleProvider, sink: Any = None, **config: Any):
    return engine.run("write an add function", GenerationConfig(max_tokens=64, **config),
                      provider=provider, sinks=[sink or ListSink()])


# -- streaming -------------------------------------------------------------------------------


def test_streams_chunks_through_the_token_streamer(server):
    provider = OpenAICompatibleProvider(server.url, "ok")
    sink = ListSink()
    result = ask(provider, sink, temperature=0.0, seed=7, stop=["<END>"])
    assert sink.chunks == CODE_PIECES  # each SSE chunk reached the sink as it came
    assert result.code == "def add(a, b):\n    return a + b\n"
    assert result.finish_reason == "stop"
    assert result.completion_tokens == 41  # the server's own count, from the usage chunk
    assert result.ttft_s is not None and result.ttft_s >= 0
    _, path, headers, body = server.requests[-1]
    assert path == "/v1/chat/completions" and body["stream"] is True and body["model"] == "ok"
    assert body["messages"][-1] == {"role": "user", "content": "write an add function"}
    assert (body["temperature"], body["seed"], body["stop"], body["max_tokens"]) == (
        0.0, 7, ["<END>"], 64)
    assert body["top_k"] == 20 and body["repeat_penalty"] == body["repetition_penalty"]
    assert "Authorization" not in headers  # no key in the environment: none is sent
    assert result.provenance == {"provider": "openai", "endpoint": server.url, "model": "ok"}


def test_model_is_asked_of_the_server_when_not_named(server):
    provider = OpenAICompatibleProvider(server.url)
    result = ask(provider)
    assert server.requests[0][:2] == ("GET", "/v1/models")
    assert server.requests[-1][3]["model"] == "fake-coder"
    assert result.provenance["model"] == "fake-coder"
    ask(provider)
    assert [r[1] for r in server.requests].count("/v1/models") == 1  # asked once


def test_several_served_models_need_a_name(server):
    server.models = ["qwen2.5-coder:0.5b", "llama3:8b"]
    with pytest.raises(ConfigError, match=r"serves 2 models \(qwen2.5-coder:0.5b, llama3:8b\)"):
        ask(OpenAICompatibleProvider(server.url))


def test_done_without_finish_reason_is_reported_not_hidden(server):
    result = ask(OpenAICompatibleProvider(server.url, "early-done"))
    assert result.text == "def " and result.finish_reason == "interrupted"


# -- error mapping: one clear message per failure ----------------------------------------------


def test_connection_refused_says_how_to_start_a_server():
    url = f"http://127.0.0.1:{free_port()}/v1"
    start = time.monotonic()
    with pytest.raises(EndpointUnreachableError) as caught:
        ask(OpenAICompatibleProvider(url, "ok", connect_retries=1))
    message = str(caught.value)
    assert url in message and "connection refused" in message and "qwen-magic serve" in message
    assert "\n" not in message and time.monotonic() - start < 5


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


@pytest.mark.parametrize(("model", "error", "words"), [
    ("missing-model", RemoteModelNotFoundError, ["'missing-model'", "/models", "--model"]),
    ("boom", RemoteServerError, ["HTTP 500", "llama_decode returned -3"]),
    ("unavailable", RemoteServerError, ["HTTP 503", "Service Unavailable"]),
    ("context", ContextOverflowError, ["exceed context window", "--max-tokens"]),
    ("teapot", RemoteError, ["HTTP 418", "teapot"]),
    ("garbage", RemoteProtocolError, ["malformed", "not JSON"]),
    ("not-sse", RemoteProtocolError, ["malformed", "not an SSE line"]),
    ("html", RemoteProtocolError, ["text/html", "instead of an event stream"]),
    ("no-choices", RemoteProtocolError, ["without choices"]),
    ("cut", RemoteProtocolError, ["ended the stream before the answer was finished"]),
    ("error-event", RemoteServerError, ["mid-answer", "the model crashed"]),
    ("llamacpp-error", RemoteServerError, ["mid-answer", "failed to decode the batch"]),
])
def test_each_failure_is_one_clear_line(server, model, error, words):
    with pytest.raises(error) as caught:
        ask(OpenAICompatibleProvider(server.url, model))
    message = str(caught.value)
    assert "\n" not in message and server.url in message
    for word in words:
        assert word in message
    # In a notebook it renders as one red line, not a traceback.
    assert len(caught.value._render_traceback_()) == 1


def test_wrong_base_url_path_is_not_blamed_on_the_model(server):
    url = server.url.replace("/v1", "/api")
    with pytest.raises(EndpointNotFoundError, match="usually ends in /v1"):
        ask(OpenAICompatibleProvider(url, "ok"))


def test_missing_and_wrong_keys_are_told_apart_and_the_key_is_never_shown(server, monkeypatch):
    with pytest.raises(RemoteAuthError, match="wants an API key .* QWEN_MAGIC_API_KEY"):
        ask(OpenAICompatibleProvider(server.url, "needs-key"))
    monkeypatch.setenv("QWEN_MAGIC_API_KEY", "sk-wrong-key-987654")
    with pytest.raises(RemoteAuthError, match="refused the API key") as caught:
        ask(OpenAICompatibleProvider(server.url, "needs-key"))
    assert "sk-wrong-key-987654" not in str(caught.value) and "***" in str(caught.value)


def test_the_key_is_sent_but_never_kept_or_recorded(server, monkeypatch):
    monkeypatch.setenv("QWEN_MAGIC_API_KEY", RIGHT_KEY)
    provider = OpenAICompatibleProvider(server.url, "needs-key")
    result = ask(provider)
    assert server.requests[-1][2]["Authorization"] == f"Bearer {RIGHT_KEY}"
    assert result.code.startswith("def add")
    for text in (repr(provider), json.dumps(result.provenance), repr(vars(provider)),
                 json.dumps(provider.status())):
        assert RIGHT_KEY not in text
    assert provider.status()["api_key"] == "from $QWEN_MAGIC_API_KEY"


def test_key_precedence_and_opt_out():
    assert api_key_from_env({"OPENAI_API_KEY": "b"}) == "b"
    assert api_key_from_env({"QWEN_MAGIC_API_KEY": "a", "OPENAI_API_KEY": "b"}) == "a"
    # Empty QWEN_MAGIC_API_KEY: an OpenAI key is not sent to a self-hosted server.
    assert api_key_from_env({"QWEN_MAGIC_API_KEY": "", "OPENAI_API_KEY": "b"}) is None
    assert api_key_from_env({}) is None


def test_read_timeout(server):
    provider = OpenAICompatibleProvider(server.url, "silent", read_timeout=0.3)
    server.silent_seconds = 2.0
    with pytest.raises(RemoteTimeoutError, match=r"sent nothing for 0.3 s"):
        ask(provider)


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


# -- URLs and selection ----------------------------------------------------------------------


def test_base_url_forms():
    assert normalize_base_url("http://gpu-box:8000") == "http://gpu-box:8000/v1"
    assert normalize_base_url("http://gpu-box:8000/v1/") == "http://gpu-box:8000/v1"
    assert normalize_base_url(" https://proxy.example/openai/v1 ") == (
        "https://proxy.example/openai/v1")
    for bad in ("gpu-box:8000", "ftp://x/v1", "", "http://:80/v1", "http://h:99999/v1"):
        with pytest.raises(ConfigError):
            normalize_base_url(bad)
    # What is shown and saved never carries credentials or query strings.
    assert public_endpoint("https://me:secret@host:1/v1?key=abc") == "https://host:1/v1"


def test_engine_selects_the_provider(monkeypatch, server):
    assert engine.get_provider(provider="openai", base_url=server.url).name == "openai"
    assert engine.get_provider(base_url=server.url).name == "openai"  # a URL implies openai
    monkeypatch.setenv("QWEN_MAGIC_PROVIDER", "openai")
    monkeypatch.setenv("QWEN_MAGIC_BASE_URL", server.url)
    monkeypatch.setenv("QWEN_MAGIC_REMOTE_MODEL", "ok")
    provider = engine.get_provider()
    assert (provider.name, provider.base_url, provider.model) == ("openai", server.url, "ok")
    assert engine.get_provider() is provider  # one client (and connection pool) per endpoint
    monkeypatch.setenv("QWEN_MAGIC_PROVIDER", "cloud")
    with pytest.raises(ConfigError, match="QWEN_MAGIC_PROVIDER must be one of local, openai"):
        engine.get_provider()


def test_python_api_takes_provider_and_base_url(server):
    from qwen_magic import generate, stream

    result = generate("write add", provider="openai", base_url=server.url, model="ok")
    assert result.code.startswith("def add")
    chunks = list(stream("write add", provider="openai", base_url=server.url, model="ok"))
    assert chunks == CODE_PIECES


def test_cell_options_parse():
    args, prompt = parse_cell_args("--provider openai --base-url http://h:8000/v1 --model m hi")
    assert (args.provider, args.base_url, args.model, prompt) == (
        "openai", "http://h:8000/v1", "m", "hi")


# -- the notebook and the CLI ------------------------------------------------------------------


@pytest.fixture
def shell(monkeypatch):
    ip = InteractiveShell.instance()
    ip.config.QwenMagics.preload = False  # these tests never touch the local model
    ip.display_pub = CapturingDisplayPublisher()
    ip.inserted = []
    monkeypatch.setattr(ip, "set_next_input", lambda text, replace=False: ip.inserted.append(text))
    yield ip
    ip.run_line_magic("unload_ext", "qwen_magic")
    InteractiveShell.clear_instance()


def test_cell_with_provider_options_streams_and_inserts(shell, server, monkeypatch):
    monkeypatch.setenv("QWEN_MAGIC_API_KEY", RIGHT_KEY)
    shell.run_line_magic("load_ext", "qwen_magic")
    magics = shell.magics_manager.registry["QwenMagics"]
    assert magics.provider == "local"  # the default is untouched: the cell's options choose
    result = shell.run_cell(f"%%qwen --provider openai --base-url {server.url} --model needs-key"
                            " write an add function")
    assert result.success, result.error_in_exec
    assert shell.inserted == ["def add(a, b):\n    return a + b"]
    assert shell.user_ns["_qwen"].finish_reason == "stop"
    final = [o for o in shell.display_pub.outputs if "qwen_magic" in o.get("metadata", {})][-1]
    provenance = final["metadata"]["qwen_magic"]
    assert provenance["endpoint"] == server.url and provenance["provider"] == "openai"
    assert RIGHT_KEY not in json.dumps(shell.display_pub.outputs, default=str)


def test_environment_selects_the_server_and_status_shows_it(shell, server, monkeypatch, capsys):
    monkeypatch.setenv("QWEN_MAGIC_PROVIDER", "openai")
    monkeypatch.setenv("QWEN_MAGIC_BASE_URL", server.url.removesuffix("/v1"))
    monkeypatch.setenv("QWEN_MAGIC_API_KEY", RIGHT_KEY)
    shell.run_line_magic("load_ext", "qwen_magic")
    magics = shell.magics_manager.registry["QwenMagics"]
    assert (magics.provider, magics.base_url) == ("openai", server.url)
    shell.run_cell("%qwen status")
    out = capsys.readouterr().out
    assert f"endpoint        {server.url}" in out and "reachable       True" in out
    assert "from $QWEN_MAGIC_API_KEY" in out and RIGHT_KEY not in out
    assert "fake-coder" in out
    result = shell.run_cell("%%qwen write an add function")
    assert result.success, result.error_in_exec
    assert shell.inserted == ["def add(a, b):\n    return a + b"]
    shell.run_line_magic("config", "QwenMagics.provider = 'local'")
    assert magics.get_provider().name in ("local", "fallback")


def test_cell_against_a_dead_server_is_one_red_line(shell, monkeypatch):
    shell.run_line_magic("load_ext", "qwen_magic")
    url = f"http://127.0.0.1:{free_port()}/v1"
    result = shell.run_cell(f"%%qwen --base-url {url} write add")
    assert isinstance(result.error_in_exec, EndpointUnreachableError)
    assert shell.inserted == []


def test_cli_generate_against_the_server(server, capsys):
    code = cli.main(["generate", "--provider", "openai", "--base-url", server.url, "--model", "ok",
                     "-t", "0", "write", "add"])
    captured = capsys.readouterr()
    assert code == 0 and "def add(a, b):" in captured.out and "tokens" in captured.err


def test_cli_exit_code_and_message_for_a_dead_server(capsys):
    url = f"http://127.0.0.1:{free_port()}/v1"
    code = cli.main(["generate", "--base-url", url, "write", "add"])
    err = capsys.readouterr().err
    assert code == EndpointUnreachableError.exit_code
    assert err.startswith("qwen-magic: Cannot reach") and err.count("\n") == 1


# -- `qwen-magic serve` settings (no server started here) ------------------------------------


def test_serve_settings_share_the_cpu_and_hide_the_path(tmp_path, monkeypatch):
    from qwen_magic.serve import server_settings

    monkeypatch.setenv("API_KEY", "from-a-stray-variable")  # pydantic-settings would read it
    monkeypatch.setenv("N_CTX", "99")
    path = tmp_path / "qwen2.5-coder-0.5b-instruct-q4_k_m.gguf"
    server, model = server_settings(path, "127.0.0.1", 8123, 2048, 2, None)
    assert server.interrupt_requests is False  # a second notebook waits, it does not cut
    assert server.api_key is None and (server.host, server.port) == ("127.0.0.1", 8123)
    assert model.model_alias == "qwen2.5-coder-0.5b-instruct-q4_k_m"
    assert (model.n_ctx, model.n_threads, model.n_threads_batch) == (2048, 2, 2)
    assert model.logits_all is False and model.chat_format is None


def test_serve_refuses_a_busy_port_before_loading(monkeypatch):
    from qwen_magic.serve import _check_port

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        with pytest.raises(ConfigError, match="pick another --port"):
            _check_port("127.0.0.1", busy.getsockname()[1])


def test_nothing_is_contacted_until_asked(server):
    OpenAICompatibleProvider(server.url)
    engine.get_provider(provider="openai", base_url=server.url)
    assert server.requests == []
    assert os.environ.get("QWEN_MAGIC_API_KEY") is None
