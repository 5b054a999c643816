"""Completion as you type from a server: each fill-in-the-middle strategy, the probe that
chooses one, and a server that cannot or stops answering — against a FAKE server
(tests/unit/openai/fim_server.py) that answers as Ollama and llama-server do. The ``raw``
strategy against ``qwen-magic serve`` with the real model is in tests/integration/test_serve.py.
"""

from __future__ import annotations

import threading
import time

import pytest
from IPython.core.interactiveshell import InteractiveShell

from qwen_magic import api
from qwen_magic.completion import FIM_MIDDLE, FIM_PREFIX, CompletionRequest
from qwen_magic.errors import ConfigError
from qwen_magic.providers.openai import fim
from qwen_magic.providers.openai.provider import OpenAICompatibleProvider
from qwen_magic.status import provider_status
from tests.unit.openai.fim_server import FimServer

HOLE = CompletionRequest("def add(a, b):\n    ", "\nprint(add(1, 2))\n",
                         context_cells=("import math",))


@pytest.fixture
def serve():
    made: list[FimServer] = []

    def start(engine: str) -> FimServer:
        made.append(FimServer(engine))
        return made[-1]

    yield start
    for server in made:
        server.stop()


def suggest(server: FimServer, request: CompletionRequest = HOLE, **kwargs):
    provider = OpenAICompatibleProvider(server.url, "coder", **kwargs)
    shown: list[str] = []
    return provider, provider.complete(request, threading.Event(), shown.append), shown


def test_suffix_strategy_as_ollama(serve):
    server = serve("ollama")
    provider, completion, shown = suggest(server)
    assert provider.fim() == "suffix"
    assert completion.text == "return a + b" and "".join(shown) == completion.text
    path, body = server.requests[-1]
    assert path == "/v1/completions" and body["stream"] is True
    assert body["suffix"] == HOLE.suffix and body["prompt"].endswith("def add(a, b):\n")
    assert "import math" in body["prompt"] and FIM_PREFIX not in body["prompt"]
    assert body["max_tokens"] == HOLE.max_tokens and body["temperature"] == 0


def test_infill_strategy_as_llama_server(serve):
    server = serve("llama-server")
    provider, completion, _ = suggest(server)
    assert provider.fim() == "infill"
    assert completion.text == "return a + b" and completion.finish_reason == "stop"
    path, body = server.requests[-1]
    assert path == "/infill"  # at the server's root, not under /v1
    assert body["input_prefix"] == "def add(a, b):\n" and body["input_suffix"] == HOLE.suffix
    assert body["input_extra"] == [{"filename": "cell_1.py", "text": "import math\n"}]
    assert body["n_predict"] == HOLE.max_tokens


def test_raw_strategy_sends_the_local_paths_prompt(serve):
    server = serve("ollama")
    provider, completion, _ = suggest(server, fim_strategy="raw")
    path, body = server.requests[-1]
    assert path == "/v1/completions" and "suffix" not in body
    assert body["prompt"].startswith("<|repo_name|>notebook\n") and body["prompt"].endswith(FIM_MIDDLE)
    assert completion.text == "return a + b"


def test_no_fim_route_gives_no_suggestion_and_says_why(serve):
    server = serve("none")
    provider, completion, shown = suggest(server)
    assert (completion.text, completion.finish_reason, shown) == ("", "unavailable", [])
    problem = api.completion_problem(provider, check=True)
    assert problem is not None and "no fill-in-the-middle route" in problem
    line = provider_status(provider, check=True).as_dict()["completion"]
    assert line.startswith("unavailable — ") and server.url.removesuffix("/v1") in line
    asked = len(server.requests)
    provider.complete(HOLE, threading.Event(), lambda _: None)
    assert len(server.requests) == asked  # found out once, not asked at every keystroke


def test_a_server_that_stops_answering_mid_suggestion(serve, monkeypatch):
    monkeypatch.setattr(fim, "FIRST_TEXT_WAIT_S", 1.0)
    server = serve("stall")
    provider = OpenAICompatibleProvider(server.url, "coder", fim_strategy="infill")
    cancel = threading.Event()
    threading.Timer(0.5, cancel.set).start()  # the user types on
    started = time.monotonic()
    completion = provider.complete(HOLE, cancel, lambda _: None)
    assert time.monotonic() - started < 5
    assert completion.finish_reason == "cancelled"
    server.stall_seconds = 0.3  # now it hangs up after its first piece
    completion = provider.complete(HOLE, threading.Event(), lambda _: None)
    assert (completion.text, completion.finish_reason) == ("", "error")


def test_a_suggestion_queued_behind_a_long_answer_gives_up_quietly(serve, monkeypatch):
    """A shared server answers one request at a time: a suggestion that waits behind a
    teammate's answer ends within JupyterLab's provider timeout, with nothing shown."""
    monkeypatch.setattr(fim, "FIRST_TEXT_WAIT_S", 0.5)
    server = serve("busy")
    provider = OpenAICompatibleProvider(server.url, "coder", fim_strategy="infill")
    shown: list[str] = []
    started = time.monotonic()
    completion = provider.complete(HOLE, threading.Event(), shown.append)
    assert time.monotonic() - started < 3
    assert (completion.text, completion.finish_reason, shown) == ("", "timeout", [])


def test_the_strategy_setting_is_checked(monkeypatch):
    monkeypatch.setenv("QWEN_MAGIC_FIM", "psychic")
    with pytest.raises(ConfigError, match="QWEN_MAGIC_FIM .* must be one of auto, raw, suffix"):
        OpenAICompatibleProvider("http://127.0.0.1:9/v1", "coder")


def test_complete_selects_its_provider_as_generate_does(serve, monkeypatch):
    server = serve("ollama")
    completion = api.complete("def add(a, b):\n    ", "", provider="openai", base_url=server.url,
                              model="coder")
    assert completion.text == "return a + b"
    monkeypatch.setenv("QWEN_MAGIC_PROVIDER", "openai")
    monkeypatch.setenv("QWEN_MAGIC_BASE_URL", server.url)
    monkeypatch.setenv("QWEN_MAGIC_REMOTE_MODEL", "coder")
    assert api.complete("def add(a, b):\n    ").text == "return a + b"


def test_ghost_text_in_a_kernel_with_a_server_without_fim(serve, monkeypatch, capsys):
    """No error for the front end, and %qwen status says why there is no ghost text."""
    server = serve("none")
    ip = InteractiveShell.instance()
    ip.config.QwenMagics.preload = False
    try:
        ip.run_line_magic("load_ext", "qwen_magic")
        ip.run_line_magic("config", "QwenMagics.provider = 'openai'")
        ip.run_line_magic("config", f"QwenMagics.base_url = '{server.url}'")
        magics = ip.magics_manager.registry["QwenMagics"]
        sent: list[dict] = []
        magics.completion_front_ends.service.handle(
            {"type": "complete", "id": 1, "prefix": "x = ", "suffix": "", "cells": []}, sent.append)
        assert magics.completion_front_ends.service.wait_until_idle(30)
        assert [m["type"] for m in sent] == ["done"] and sent[0]["finish_reason"] == "unavailable"
        ip.run_line_magic("qwen", "status")
        out = capsys.readouterr().out
        assert "completion      unavailable — " in out
    finally:
        ip.run_line_magic("unload_ext", "qwen_magic")
        InteractiveShell.clear_instance()


def test_every_strategy_carries_the_live_values_where_it_carries_the_cells():
    """(No server: the request bodies themselves.)"""
    live = "orders: DataFrame  # columns: sku: object, qty: int64"
    request = CompletionRequest('orders["', '"]', context_cells=("import pandas as pd",),
                                live_data=live)
    _, raw = fim.payload("raw", "coder", request)
    assert f"<|file_sep|>notebook_state.py\n{live}\n<|file_sep|>current.py\n" in raw["prompt"]
    _, suffix = fim.payload("suffix", "coder", request)
    assert suffix["prompt"].index("import pandas") < suffix["prompt"].index(live) \
        < suffix["prompt"].index('orders["')
    _, infill = fim.payload("infill", "coder", request)
    assert infill["input_extra"][-1] == {"filename": "notebook_state.py", "text": live + "\n"}
    # Without one, nothing of it.
    plain = CompletionRequest('orders["', '"]', context_cells=("import pandas as pd",))
    assert "notebook_state" not in fim.payload("raw", "coder", plain)[1]["prompt"]
    assert len(fim.payload("infill", "coder", plain)[1]["input_extra"]) == 1
    assert "live values" not in fim.payload("suffix", "coder", plain)[1]["prompt"]
