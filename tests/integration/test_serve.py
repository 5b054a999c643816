"""`qwen-magic serve` with the real model, and the openai provider talking to it.

One server per module: a subprocess on 127.0.0.1 on a free port, started the way a user
starts it (the console script, the default model found by the search path from the project
folder, an API key from $QWEN_MAGIC_API_KEY), and stopped by the fixture. Then a `%%qwen
--provider openai --base-url ...` cell runs in a real IPython InteractiveShell and the Python
API runs against it; both must stream several chunks and hand over the code.
"""

from __future__ import annotations

import json
import os
import secrets
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from IPython.core.displaypub import CapturingDisplayPublisher
from IPython.core.interactiveshell import InteractiveShell

import qwen_magic
from qwen_magic.errors import RemoteAuthError
from qwen_magic.providers.openai import OpenAICompatibleProvider
from qwen_magic.streaming import ListSink
from tests.conftest import assert_parses_or_is_marked_cut

pytestmark = [pytest.mark.model, pytest.mark.timeout(900)]

ROOT = Path(__file__).resolve().parents[2]
MODEL_ID = "qwen2.5-coder-0.5b-instruct-q4_k_m"  # the file's stem: what `serve` names it
PROMPT = "write a Python function add(a, b) that returns the sum of a and b"
READY_TIMEOUT = 180  # a cold page cache and a busy 2-core machine make loading slow


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def serve_command(port: int) -> list[str]:
    script = Path(sys.executable).with_name("qwen-magic")
    head = [str(script)] if script.exists() else [sys.executable, "-m", "qwen_magic.cli"]
    return [*head, "serve", "--host", "127.0.0.1", "--port", str(port),
            "--n-ctx", "2048", "--threads", "2"]


def wait_until_ready(url: str, key: str, process: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + READY_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"`qwen-magic serve` exited with {process.returncode}:\n"
                        f"{log.read_text(errors='replace')}")
        try:
            answer = httpx.get(f"{url}/models", headers={"Authorization": f"Bearer {key}"},
                               timeout=2, trust_env=False)
            if answer.status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.25)
    pytest.fail(f"`qwen-magic serve` not ready in {READY_TIMEOUT} s:\n{log.read_text()}")


@pytest.fixture(scope="module")
def server(model_path, tmp_path_factory) -> Iterator[tuple[str, str, Path]]:
    port = free_port()
    url = f"http://127.0.0.1:{port}/v1"
    key = "qm-test-" + secrets.token_hex(8)
    env = {**os.environ, "QWEN_MAGIC_API_KEY": key, "PYTHONUNBUFFERED": "1"}
    env.pop("QWEN_MAGIC_MODEL", None)  # the default model, by the search path from ROOT
    log = tmp_path_factory.mktemp("serve") / "server.log"
    with open(log, "wb") as out:
        process = subprocess.Popen(serve_command(port), cwd=ROOT, env=env, stdout=out,
                                   stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    try:
        wait_until_ready(url, key, process, log)
        yield url, key, log
    finally:
        process.terminate()  # uvicorn shuts down cleanly on SIGTERM
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(10)
    # Stopped for real: nothing listens on the port any more.
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"{url}/models", timeout=2, trust_env=False)


@pytest.fixture
def client_key(server, monkeypatch) -> str:
    url, key, _ = server
    monkeypatch.setenv("QWEN_MAGIC_API_KEY", key)
    for name in ("QWEN_MAGIC_PROVIDER", "QWEN_MAGIC_BASE_URL", "QWEN_MAGIC_REMOTE_MODEL"):
        monkeypatch.delenv(name, raising=False)
    return key


@pytest.fixture
def shell(monkeypatch):
    ip = InteractiveShell.instance()
    ip.config.QwenMagics.preload = False  # the model lives in the server, not in this process
    ip.display_pub = CapturingDisplayPublisher()
    ip.inserted = []
    monkeypatch.setattr(ip, "set_next_input", lambda text, replace=False: ip.inserted.append(text))
    ip.run_line_magic("load_ext", "qwen_magic")
    ip.run_line_magic("config", "QwenMagics.update_interval = 0")  # one update per chunk
    yield ip
    ip.run_line_magic("unload_ext", "qwen_magic")
    ip.user_ns.pop("_qwen", None)
    InteractiveShell.clear_instance()


def test_server_serves_the_default_model_and_wants_the_key(server, monkeypatch):
    url, key, _ = server
    models = httpx.get(f"{url}/models", headers={"Authorization": f"Bearer {key}"},
                       trust_env=False).json()
    assert [m["id"] for m in models["data"]] == [MODEL_ID]
    monkeypatch.setenv("QWEN_MAGIC_API_KEY", "not-the-key")
    with pytest.raises(RemoteAuthError, match="refused the API key") as caught:
        qwen_magic.generate(PROMPT, provider="openai", base_url=url, max_tokens=8)
    assert "not-the-key" not in str(caught.value)


def test_qwen_cell_streams_from_the_server_and_inserts_the_code(server, client_key, shell):
    url, key, _ = server
    cell = f"%%qwen --provider openai --base-url {url} -t 0 --seed 0 -n 96\n{PROMPT}"
    outcome = shell.run_cell(cell)
    assert outcome.success, outcome.error_in_exec
    result = shell.user_ns["_qwen"]
    assert result.finish_reason in ("stop", "length") and result.completion_tokens > 5
    # Streaming: the answer grew in place over several updates, not in one piece.
    updates = [o for o in shell.display_pub.outputs if o.get("update")]
    assert len(updates) >= 3
    texts = [o["data"].get("text/plain", "") for o in updates]
    assert len(set(texts)) >= 3
    # The code went into the next cell (the set_next_input payload), and it is Python.
    assert shell.inserted == [result.cell_source().rstrip("\n")]
    assert "def add" in shell.inserted[0]
    assert_parses_or_is_marked_cut(shell.inserted[0])
    # What was recorded names the server and its model, and nothing secret.
    assert result.provenance == {"provider": "openai", "endpoint": url, "model": MODEL_ID}
    assert key not in json.dumps(shell.display_pub.outputs, default=str)


def test_python_api_streams_from_the_server(server, client_key):
    url, _, _ = server
    chunks = list(qwen_magic.stream(PROMPT, provider="openai", base_url=url,
                                    temperature=0, seed=0, max_tokens=64))
    assert len(chunks) >= 3 and "def add" in "".join(chunks)
    sink = ListSink()
    result = qwen_magic.generate(PROMPT, provider="openai", base_url=url, temperature=0, seed=0,
                                 max_tokens=64, sinks=[sink])
    assert len(sink.chunks) >= 3 and "".join(sink.chunks) == result.text
    assert "def add" in result.code
    assert result.tokens_per_s and result.ttft_s is not None


def test_leaving_a_stream_early_frees_the_server(server, client_key):
    url, _, log = server
    provider = OpenAICompatibleProvider(url)
    for count, _ in enumerate(qwen_magic.stream(PROMPT, provider=provider, max_tokens=400), 1):
        if count == 3:
            break  # closes the connection: the server stops this answer
    # llama-cpp-python's server logs the client's hang-up when it abandons the answer.
    deadline = time.monotonic() + 60
    while "Disconnected from client" not in log.read_text(errors="replace"):
        assert time.monotonic() < deadline, "the server never noticed the closed stream"
        time.sleep(0.2)
    result = qwen_magic.generate("write hello world in python", provider=provider,
                                 temperature=0, max_tokens=24)
    assert result.text and result.finish_reason in ("stop", "length")
