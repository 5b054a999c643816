"""`qwen-magic serve` with the real model, and the openai provider talking to it.

One server per module (tests/serve_process.py: a subprocess on 127.0.0.1 on a free port,
started the way a user starts it), stopped by the fixture. Then a `%%qwen
--provider openai --base-url ...` cell runs in a real IPython InteractiveShell and the Python
API runs against it; both must stream several chunks and hand over the code.
"""

from __future__ import annotations

import json
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
from tests.serve_process import running_server

pytestmark = [pytest.mark.model, pytest.mark.timeout(900)]

MODEL_ID = "qwen2.5-coder-0.5b-instruct-q4_k_m"  # the file's stem: what `serve` names it
PROMPT = "write a Python function add(a, b) that returns the sum of a and b"


@pytest.fixture(scope="module")
def server(model_path, tmp_path_factory) -> Iterator[tuple[str, str, Path]]:
    with running_server(tmp_path_factory.mktemp("serve")) as started:
        yield started


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


# -- completion as you type from the server (the `raw` strategy, the real model) ---------------

HOLE_PREFIX = "def add(a, b):\n    "
HOLE_SUFFIX = "\n\nprint(add(1, 2))\n"


def assert_a_suggestion(text: str) -> None:
    """Properties any reasonable fill has: something, and not the text after the cursor."""
    assert text.strip(), "an empty suggestion"
    assert "print(add(1, 2))" not in text, text


def test_the_server_fills_in_the_middle_with_the_raw_prompt(server, client_key):
    url, _, _ = server
    provider = OpenAICompatibleProvider(url)
    assert provider.fim() == "raw"  # llama-cpp-python's server reads the FIM tokens
    shown: list[str] = []
    completion = qwen_magic.complete(HOLE_PREFIX, HOLE_SUFFIX, provider="openai", base_url=url,
                                     on_text=shown.append)
    assert_a_suggestion(completion.text)
    assert "".join(shown) == completion.text and completion.finish_reason in ("stop", "length")
    again = qwen_magic.complete(HOLE_PREFIX, HOLE_SUFFIX, provider="openai", base_url=url)
    assert again.text == completion.text  # greedy: the same text gives the same suggestion


def test_ghost_text_through_a_kernels_comm_from_the_server(server, client_key, monkeypatch):
    """A real kernel with `%config QwenMagics.provider = "openai"`: the completion comm
    JupyterLab opens gives a suggestion from the server; nothing loads in the kernel."""
    from qwen_magic.bench.comm_path import CommClient

    url, _, _ = server
    monkeypatch.setenv("QWEN_MAGIC_PROVIDER", "openai")  # read by the kernel at %load_ext:
    monkeypatch.setenv("QWEN_MAGIC_BASE_URL", url)       # its preload has nothing to load
    client = CommClient(['%config QwenMagics.provider = "openai"',
                         f'%config QwenMagics.base_url = "{url}"'], timeout=300)
    try:
        reply = client.complete(HOLE_PREFIX, ["import math"], 32, suffix=HOLE_SUFFIX)
        assert reply.finish_reason in ("stop", "length"), reply
        assert_a_suggestion(reply.text)
        client.execute("import sys\nassert 'llama_cpp' not in sys.modules, 'the kernel loaded llama.cpp'")
    finally:
        client.close()
