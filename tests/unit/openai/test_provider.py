"""OpenAICompatibleProvider against a FAKE server: what it sends, streams, remembers and hides."""

from __future__ import annotations

import json
import os

import pytest

from qwen_magic import api
from qwen_magic.errors import ConfigError
from qwen_magic.providers.openai import OpenAICompatibleProvider, api_key_from_env
from qwen_magic.streaming import ListSink
from tests.unit.openai.fake_server import CODE_PIECES, RIGHT_KEY, ask

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


# -- the API key -----------------------------------------------------------------------------


def test_the_key_is_sent_but_never_kept_or_recorded(server, monkeypatch):
    monkeypatch.setenv("QWEN_MAGIC_API_KEY", RIGHT_KEY)
    provider = OpenAICompatibleProvider(server.url, "needs-key")
    result = ask(provider)
    assert server.requests[-1][2]["Authorization"] == f"Bearer {RIGHT_KEY}"
    assert result.code.startswith("def add")
    status = provider.status(check=True).as_dict()
    for text in (repr(provider), json.dumps(result.provenance), repr(vars(provider)),
                 json.dumps(status)):
        assert RIGHT_KEY not in text
    assert status["api_key"] == "from $QWEN_MAGIC_API_KEY"


def test_key_precedence_and_opt_out():
    assert api_key_from_env({"OPENAI_API_KEY": "b"}) == "b"
    assert api_key_from_env({"QWEN_MAGIC_API_KEY": "a", "OPENAI_API_KEY": "b"}) == "a"
    # Empty QWEN_MAGIC_API_KEY: an OpenAI key is not sent to a self-hosted server.
    assert api_key_from_env({"QWEN_MAGIC_API_KEY": "", "OPENAI_API_KEY": "b"}) is None
    assert api_key_from_env({}) is None


def test_nothing_is_contacted_until_asked(server):
    OpenAICompatibleProvider(server.url)
    api.get_provider(provider="openai", base_url=server.url)
    assert server.requests == []
    assert os.environ.get("QWEN_MAGIC_API_KEY") is None
