"""Every way an exchange fails is one clear line with the fix, and never shows the key.

End to end against a FAKE server (see fake_server.py), then the mapping functions alone.
"""

from __future__ import annotations

import time

import pytest

from qwen_magic.errors import (
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
from qwen_magic.providers.openai import OpenAICompatibleProvider
from qwen_magic.providers.openai.errors import redact, server_message, status_error
from tests.unit.openai.fake_server import ask, free_port

# -- against the fake server -----------------------------------------------------------------


def test_connection_refused_says_how_to_start_a_server():
    url = f"http://127.0.0.1:{free_port()}/v1"
    start = time.monotonic()
    with pytest.raises(EndpointUnreachableError) as caught:
        ask(OpenAICompatibleProvider(url, "ok", connect_retries=1))
    message = str(caught.value)
    assert url in message and "connection refused" in message and "qwen-magic serve" in message
    assert "\n" not in message and time.monotonic() - start < 5


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


def test_read_timeout(server):
    provider = OpenAICompatibleProvider(server.url, "silent", read_timeout=0.3)
    server.silent_seconds = 2.0
    with pytest.raises(RemoteTimeoutError, match=r"sent nothing for 0.3 s"):
        ask(provider)


# -- the mapping alone -----------------------------------------------------------------------


@pytest.mark.parametrize(("body", "message"), [
    (b'{"error": {"message": "bad model", "type": "x"}}', "bad model"),  # OpenAI, vLLM
    (b'{"error": {"type": "overloaded"}}', "overloaded"),
    (b'{"error": "model not loaded"}', "model not loaded"),  # Ollama
    (b'{"detail": "Not Found"}', "Not Found"),  # FastAPI (llama-cpp-python)
    (b'{"message": "teapot"}', "teapot"),
    (b"Service\n  Unavailable", "Service Unavailable"),  # plain text, on one line
])
def test_server_message_reads_the_common_error_shapes(body, message):
    assert server_message(body, None) == message


def test_server_message_is_one_bounded_line():
    message = server_message(("word " * 500).encode(), None)
    assert len(message) == 200 and message.endswith("…") and "\n" not in message


def test_the_key_is_cut_out_of_what_the_server_says():
    key = "sk-secret-0123"
    assert redact(f"bad key {key}, really {key}", key) == "bad key ***, really ***"
    assert redact("abc", "ab") == "abc"  # too short to hide anything by garbling the text
    error = status_error(401, f'{{"error": {{"message": "wrong {key}"}}}}'.encode(),
                         endpoint="http://h/v1", key=key, model=None)
    assert isinstance(error, RemoteAuthError) and key not in str(error) and "***" in str(error)


def test_a_404_blames_the_model_only_for_a_request_that_named_one():
    body = b'{"error": {"message": "model \\"m\\" not found"}}'
    named = status_error(404, body, endpoint="http://h/v1", key=None, model="m")
    unnamed = status_error(404, body, endpoint="http://h/v1", key=None, model=None)
    assert isinstance(named, RemoteModelNotFoundError)
    assert type(unnamed) is EndpointNotFoundError
