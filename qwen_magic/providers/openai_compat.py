"""OpenAICompatibleProvider: an inference server speaking ``/v1/chat/completions``.

llama.cpp's ``llama-server``, vLLM, Ollama and ``qwen-magic serve`` (llama-cpp-python's
server) all stream chat completions as Server-Sent Events in the OpenAI format, so one small
client reaches all of them and the notebook does not change when the model moves off the
laptop.

It speaks HTTP through httpx directly rather than through the ``openai`` client because
the failure behaviour is the product here: connects are retried but a request that reached
the server never is (no duplicate generations on a busy CPU server), every way the exchange
can fail becomes one :class:`~qwen_magic.errors.RemoteError` with the fix in its message,
and Stop/Ctrl-C closes the connection at once, which is how these servers learn to stop
generating.

Nothing here touches the network until the user has chosen this provider and asks for an
answer (or for ``%qwen status``). The API key is read from the environment for each request,
sent only in the ``Authorization`` header, and never kept on the object, printed, or put in
:meth:`describe` (which is what a notebook saves as provenance).
"""

from __future__ import annotations

import json
import os
import queue
import socket
import threading
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from ..errors import (
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
from .base import Finished, GenerationRequest, PromptRead, StreamEvent, TextDelta

#: Where ``qwen-magic serve`` listens by default, so the two work together with no settings.
DEFAULT_BASE_URL = "http://127.0.0.1:8000/v1"
#: Looked up in this order; ``QWEN_MAGIC_API_KEY=""`` means "send no key" (see api_key_from_env).
API_KEY_VARIABLES = ("QWEN_MAGIC_API_KEY", "OPENAI_API_KEY")

# A CPU server may queue a request behind another notebook's and then read a long prompt
# before its first token, so the wait for data is long; a connect, by contrast, either
# happens at once or the server is not there.
DEFAULT_CONNECT_TIMEOUT = 5.0
DEFAULT_READ_TIMEOUT = 300.0
DEFAULT_CONNECT_RETRIES = 3  # httpx waits 0, 0.5, 1 s between tries: a restart window

_LOOPBACK = {"localhost", "127.0.0.1", "::1"}
_SERVER_HINT = "start one with `qwen-magic serve`, or fix --base-url / QWEN_MAGIC_BASE_URL"


def api_key_from_env(environ: Mapping[str, str] | None = None) -> str | None:
    """The key to send, or None.

    ``QWEN_MAGIC_API_KEY`` wins over ``OPENAI_API_KEY``; setting it to the empty string
    sends no key at all, so a real OpenAI key in the environment need not travel to a
    self-hosted server that has no use for it.
    """
    environ = os.environ if environ is None else environ
    for name in API_KEY_VARIABLES:
        if name in environ:
            return environ[name].strip() or None
    return None


def api_key_source(environ: Mapping[str, str] | None = None) -> str:
    """Where the key comes from, for ``%qwen status``: a variable's name, never its value."""
    environ = os.environ if environ is None else environ
    for name in API_KEY_VARIABLES:
        if name in environ:
            return f"from ${name}" if environ[name].strip() else f"none (${name} is empty)"
    return "none"


def normalize_base_url(url: str) -> str:
    """``http://host:8000`` → ``http://host:8000/v1``; a URL with a path is kept as given.

    Every engine this targets serves the API under ``/v1``, so a bare host means that; a
    proxy that mounts the API elsewhere is written out in full.
    """
    if not isinstance(url, str) or not url.strip():
        raise ConfigError(f"base_url must be a URL such as {DEFAULT_BASE_URL}, got {url!r}.")
    text = url.strip()
    parts = urlsplit(text)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigError(
            f"base_url must be an http(s) URL such as {DEFAULT_BASE_URL}, got {text!r}."
        )
    try:
        parts.port  # noqa: B018 - urlsplit validates the port lazily, here
    except ValueError:
        raise ConfigError(f"base_url has an invalid port: {text!r}.") from None
    path = parts.path.rstrip("/") or "/v1"
    return urlunsplit((parts.scheme, parts.netloc, path, parts.query, ""))


def public_endpoint(url: str) -> str:
    """The URL without user:password, query or fragment: safe to show and to save."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if ":" in host:  # IPv6 literal
        host = f"[{host}]"
    netloc = host if parts.port is None else f"{host}:{parts.port}"
    return urlunsplit((parts.scheme, netloc, parts.path, "", ""))


def _one_line(text: str, limit: int = 200) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _redact(text: str, key: str | None) -> str:
    # Some servers echo the key (or most of it) back in a 401: never pass that on.
    if key and len(key) >= 4:
        text = text.replace(key, "***")
    return text


def _server_message(body: bytes, key: str | None) -> str:
    """The human part of an error body, whichever of the common shapes the server uses."""
    text = body[:4096].decode("utf-8", errors="replace")
    message: Any = None
    try:
        data = json.loads(text)
    except ValueError:
        data = None
    if isinstance(data, dict):
        error = data.get("error")
        if isinstance(error, dict):
            message = error.get("message") or error.get("type")
        elif isinstance(error, str):
            message = error
        message = message or data.get("message") or data.get("detail")
    if not message:
        message = text
    return _redact(_one_line(str(message)), key)


@dataclass
class _StreamState:
    """What the event stream has said so far, to tell a finished answer from a cut one."""

    finish_reason: str | None = None
    completion_tokens: int | None = None
    prompt_tokens: int | None = None
    chunks: int = 0
    done: bool = False


class OpenAICompatibleProvider:
    """Streams chat completions from an OpenAI-compatible server.

    ``model`` is the server's name for the model; when None the server is asked
    (``GET /models``) and its only model is used.
    """

    name = "openai"

    def __init__(
        self,
        base_url: str | None = None,
        model: str | None = None,
        *,
        connect_timeout: float = DEFAULT_CONNECT_TIMEOUT,
        read_timeout: float = DEFAULT_READ_TIMEOUT,
        connect_retries: int = DEFAULT_CONNECT_RETRIES,
    ) -> None:
        self.base_url = normalize_base_url(base_url or DEFAULT_BASE_URL)
        self.endpoint = public_endpoint(self.base_url)
        self.model = model or None
        self.connect_timeout = connect_timeout
        self.read_timeout = read_timeout
        self.connect_retries = connect_retries
        self._served_model: str | None = None
        self._client: Any = None
        self._lock = threading.Lock()

    def __repr__(self) -> str:  # no key here, ever: the key is not even an attribute
        return f"OpenAICompatibleProvider({self.endpoint!r}, model={self.model!r})"

    # -- HTTP plumbing --------------------------------------------------------------------

    def _http(self) -> Any:
        with self._lock:
            if self._client is None:
                try:
                    import httpx
                except ImportError:  # pragma: no cover - httpx comes with the [server] extra
                    raise ConfigError(
                        "The openai provider needs httpx: pip install 'qwen-magic[server]'."
                    ) from None
                host = urlsplit(self.base_url).hostname or ""
                self._client = httpx.Client(
                    timeout=httpx.Timeout(
                        self.read_timeout, connect=self.connect_timeout, pool=self.connect_timeout
                    ),
                    # httpx retries only failed connects (refused, DNS, connect timeout): a
                    # request that reached the server is never sent twice.
                    transport=httpx.HTTPTransport(retries=self.connect_retries),
                    # An HTTP(S)_PROXY meant for the internet must not capture a server on
                    # this machine, which is the usual case (`qwen-magic serve`).
                    trust_env=host not in _LOOPBACK,
                    follow_redirects=False,
                )
            return self._client

    def close(self) -> None:
        """Drop pooled connections (a new client is made on next use)."""
        with self._lock:
            client, self._client = self._client, None
        if client is not None:
            client.close()

    def _headers(self, key: str | None, *, stream: bool) -> dict[str, str]:
        headers = {"Accept": "text/event-stream" if stream else "application/json"}
        if key:
            headers["Authorization"] = f"Bearer {key}"
        return headers

    def _url(self, path: str) -> str:
        return self.base_url + path

    # -- errors ---------------------------------------------------------------------------

    def _status_error(
        self, status: int, body: bytes, key: str | None, model: str | None
    ) -> RemoteError:
        """One HTTP error status → one error class with the fix in its message."""
        message = _server_message(body, key)
        where = self.endpoint
        said = f" (the server said: {message})" if message else ""
        if status in (401, 403):
            if key:
                return RemoteAuthError(
                    f"{where} refused the API key (HTTP {status}){said}. Set the right key in "
                    "QWEN_MAGIC_API_KEY in the environment Jupyter was started from."
                )
            return RemoteAuthError(
                f"{where} wants an API key (HTTP {status}){said}. Set QWEN_MAGIC_API_KEY "
                "(or OPENAI_API_KEY) in the environment Jupyter was started from."
            )
        if status == 404:
            if model and "model" in message.lower():
                return RemoteModelNotFoundError(
                    f"{where} does not serve a model named {model!r}{said}. Use one it lists "
                    f"at {where}/models, with --model NAME or %config QwenMagics.remote_model."
                )
            return EndpointNotFoundError(
                f"{where} has no OpenAI-compatible API (HTTP 404){said}. The base URL "
                "usually ends in /v1, e.g. http://127.0.0.1:8000/v1."
            )
        if status == 400 and "context" in message.lower():
            return ContextOverflowError(
                f"{where} says the prompt is too long for the model's context: {message}. "
                "Shorten the prompt or --context, or lower --max-tokens."
            )
        if status >= 500:
            return RemoteServerError(
                f"{where} failed with HTTP {status}{said}. Its log says why; try again once "
                "it is healthy."
            )
        return RemoteError(f"{where} rejected the request with HTTP {status}{said}.")

    def _transport_error(self, exc: BaseException) -> BaseException:
        """httpx's exceptions → ours; anything else passes through unchanged."""
        try:
            import httpx
        except ImportError:  # pragma: no cover
            return exc
        where = self.endpoint
        if isinstance(exc, httpx.ConnectTimeout):
            return EndpointUnreachableError(
                f"Cannot reach {where}: no answer to connect within {self.connect_timeout:g} s; "
                f"{_SERVER_HINT}."
            )
        if isinstance(exc, httpx.ConnectError):
            text = str(exc)
            reason = "connection refused" if "refused" in text.lower() else _one_line(text, 80)
            return EndpointUnreachableError(f"Cannot reach {where} ({reason}); {_SERVER_HINT}.")
        if isinstance(exc, httpx.ReadTimeout):
            return RemoteTimeoutError(
                f"{where} sent nothing for {self.read_timeout:g} s; it may be overloaded or "
                "stuck. Try again, or check the server."
            )
        if isinstance(exc, (httpx.RemoteProtocolError, httpx.ReadError)):
            return RemoteProtocolError(
                f"{where} closed the connection in the middle of the answer; the server may "
                "have crashed or restarted. Its log says why."
            )
        if isinstance(exc, httpx.TimeoutException):
            return RemoteTimeoutError(f"{where} timed out ({type(exc).__name__}). Try again.")
        if isinstance(exc, httpx.HTTPError):
            return RemoteError(f"Talking to {where} failed: {_one_line(str(exc))}.")
        return exc

    # -- the model name -------------------------------------------------------------------

    def list_models(self) -> list[str]:
        """The model names the server serves (``GET /models``)."""
        key = api_key_from_env()
        try:
            response = self._http().get(
                self._url("/models"),
                headers=self._headers(key, stream=False),
                timeout=min(self.read_timeout, 30.0),
            )
        except Exception as exc:
            raise self._transport_error(exc) from None
        if response.status_code >= 400:
            raise self._status_error(response.status_code, response.content, key, None)
        try:
            data = response.json()["data"]
            return [str(item["id"]) for item in data]
        except (ValueError, KeyError, TypeError):
            raise RemoteProtocolError(
                f"{self.endpoint}/models did not answer with an OpenAI model list; is this an "
                "OpenAI-compatible API?"
            ) from None

    def resolve_model(self) -> str:
        """The configured model, else the server's only one (asked once, then remembered)."""
        if self.model:
            return self.model
        if self._served_model is None:
            names = self.list_models()
            if len(names) != 1:
                listed = ", ".join(names[:10]) + (" …" if len(names) > 10 else "")
                raise ConfigError(
                    f"{self.endpoint} serves {len(names)} models ({listed or 'none'}); name "
                    "one with --model NAME, %config QwenMagics.remote_model or "
                    "$QWEN_MAGIC_REMOTE_MODEL."
                )
            self._served_model = names[0]
        return self._served_model

    # -- streaming ------------------------------------------------------------------------

    def payload(self, model: str, request: GenerationRequest) -> dict[str, Any]:
        """The request body: OpenAI's fields plus the sampling knobs these engines share."""
        config = request.config
        body: dict[str, Any] = {
            "model": model,
            "messages": request.messages,
            "stream": True,
            # Asks for a final usage chunk, so the token count is the server's own.
            "stream_options": {"include_usage": True},
            "max_tokens": config.max_tokens,
            "temperature": config.temperature,
            "top_p": config.top_p,
            # Not OpenAI's own fields, but llama.cpp, llama-cpp-python and vLLM read them
            # (and Ollama ignores them): without them the panel's knobs would do nothing.
            "top_k": config.top_k,
            "min_p": config.min_p,
            "repeat_penalty": config.repeat_penalty,  # llama.cpp / llama-cpp-python name
            "repetition_penalty": config.repeat_penalty,  # vLLM's name for the same thing
        }
        if config.seed is not None:
            body["seed"] = config.seed
        if config.stop:
            body["stop"] = list(config.stop)
        return body

    def stream(self, request: GenerationRequest, cancel: threading.Event) -> Iterator[StreamEvent]:
        model = self.resolve_model()
        exchange = _Exchange(self, model, self.payload(model, request), api_key_from_env())
        exchange.start()
        try:
            # The clock starts as the request leaves: the network, the server's queue and its
            # reading of the prompt are all "time to first token" to the person waiting.
            # Servers differ in when they send headers (llama-cpp-python at once, Ollama
            # with the first token), so headers would be no common mark. The prompt's token
            # count is not known to a client, hence 0.
            yield PromptRead(0)
            while True:
                try:
                    item = exchange.events.get(timeout=0.05)
                except queue.Empty:
                    # The reader may be blocked on the network for a long time (a queued
                    # request, a long prompt): Stop must not wait for the next byte.
                    if cancel.is_set():
                        return
                    continue
                if item is _END:
                    return
                if isinstance(item, BaseException):
                    raise item
                yield item
                if cancel.is_set():
                    return
        finally:
            exchange.close()

    def parse_stream(self, lines: Iterable[str], key: str | None = None) -> Iterator[StreamEvent]:
        """SSE lines of one chat-completion stream → TextDelta… then one Finished.

        Raises RemoteProtocolError for anything that is not that, and RemoteServerError for
        an error event, so a broken server never looks like a short answer.
        """
        state = _StreamState()
        for kind, data in _sse_events(lines, self.endpoint):
            if kind == "error":
                raise RemoteServerError(
                    f"{self.endpoint} failed mid-answer: {_server_message(data.encode(), key)}."
                )
            if data.strip() == "[DONE]":
                state.done = True
                break
            try:
                chunk = json.loads(data)
            except ValueError:
                raise RemoteProtocolError(
                    f"{self.endpoint} sent a malformed event stream ({_one_line(data, 60)!r} is "
                    "not JSON); is --base-url an OpenAI-compatible /v1 API?"
                ) from None
            yield from self._chunk_events(chunk, state, key)
        if not state.done and state.finish_reason is None:
            raise RemoteProtocolError(
                f"{self.endpoint} ended the stream before the answer was finished (after "
                f"{state.chunks} chunks); the server may have crashed or restarted."
            )
        # A [DONE] with no finish_reason: the server stopped this answer itself (e.g. a
        # server that interrupts one request for the next); say so rather than "stop".
        tokens = state.completion_tokens or state.chunks
        yield Finished(state.finish_reason or "interrupted", tokens, state.prompt_tokens)

    def _chunk_events(
        self, chunk: Any, state: _StreamState, key: str | None
    ) -> Iterator[StreamEvent]:
        if not isinstance(chunk, dict):
            raise RemoteProtocolError(
                f"{self.endpoint} sent {type(chunk).__name__} where a chat-completion chunk "
                "belongs; is --base-url an OpenAI-compatible /v1 API?"
            )
        if chunk.get("error"):
            raise RemoteServerError(
                f"{self.endpoint} failed mid-answer: "
                f"{_server_message(json.dumps(chunk).encode(), key)}."
            )
        usage = chunk.get("usage")
        if isinstance(usage, dict) and isinstance(usage.get("completion_tokens"), int):
            state.completion_tokens = usage["completion_tokens"]
        if isinstance(usage, dict) and isinstance(usage.get("prompt_tokens"), int):
            state.prompt_tokens = usage["prompt_tokens"]
        choices = chunk.get("choices")
        if choices is None and isinstance(usage, dict):
            return  # a usage-only chunk from a server that leaves out the empty choices
        if not isinstance(choices, list):
            raise RemoteProtocolError(
                f"{self.endpoint} sent a chunk without choices "
                f"({_one_line(json.dumps(chunk), 60)}); is --base-url an OpenAI-compatible /v1 API?"
            )
        for choice in choices[:1]:  # n=1: only one answer was asked for
            delta = choice.get("delta") if isinstance(choice, dict) else None
            content = delta.get("content") if isinstance(delta, dict) else None
            if content:
                state.chunks += 1
                yield TextDelta(str(content), tokens=1)  # these servers send a token per chunk
            reason = choice.get("finish_reason") if isinstance(choice, dict) else None
            if reason:
                state.finish_reason = str(reason)

    # -- what it is -----------------------------------------------------------------------

    def describe(self) -> dict[str, Any]:
        # Saved in notebooks as provenance: the public endpoint only, and no key.
        return {
            "provider": self.name,
            "endpoint": self.endpoint,
            "model": self.model or self._served_model,
        }

    def status(self) -> dict[str, Any]:
        """For ``%qwen status``: where, which model, whether a key is sent, and a live check."""
        info: dict[str, Any] = {
            "provider": self.name,
            "endpoint": self.endpoint,
            "model": self.model or self._served_model or "(the server's only model)",
            "api_key": api_key_source(),
        }
        try:
            info["served_models"] = self.list_models()
            info["reachable"] = True
        except RemoteError as exc:
            info["reachable"] = False
            info["problem"] = str(exc)
        return info


_END = object()


def _sse_events(lines: Iterable[str], endpoint: str) -> Iterator[tuple[str, str]]:
    """(event kind, data) per Server-Sent Event; comments (keep-alive pings) are skipped."""
    data: list[str] = []
    kind = "message"
    for line in lines:
        if not line:  # a blank line ends an event
            if data:
                yield kind, "\n".join(data)
            data, kind = [], "message"
            continue
        if line.startswith(":"):
            continue
        name, _, value = line.partition(":")
        value = value[1:] if value.startswith(" ") else value
        if name == "data":
            data.append(value)
        elif name == "event":
            kind = value.strip() or "message"
        elif name == "error":  # llama.cpp's server writes `error: {...}` lines
            yield "error", value
        elif name in ("id", "retry"):
            continue
        else:
            raise RemoteProtocolError(
                f"{endpoint} sent a malformed event stream ({_one_line(line, 60)!r} is not an "
                "SSE line); is --base-url an OpenAI-compatible /v1 API?"
            )
    if data:
        yield kind, "\n".join(data)


class _Exchange:
    """One streamed request, read in its own thread.

    The generator in :meth:`OpenAICompatibleProvider.stream` only waits on a queue, so a
    cancel is seen within 50 ms however long the server is silent; :meth:`close` then
    shuts the socket down, which both unblocks this thread and tells the server (vLLM,
    llama.cpp, llama-cpp-python all watch for it) to stop generating.
    """

    def __init__(
        self,
        provider: OpenAICompatibleProvider,
        model: str,
        payload: dict[str, Any],
        key: str | None,
    ) -> None:
        self.provider, self.model, self.payload, self.key = provider, model, payload, key
        self.events: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._closed = threading.Event()
        self._state_lock = threading.Lock()
        self._socket: socket.socket | None = None  # set only while the response is open
        self._thread = threading.Thread(target=self._run, name="qwen-magic-remote", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def _run(self) -> None:
        provider = self.provider
        try:
            with provider._http().stream(
                "POST",
                provider._url("/chat/completions"),
                json=self.payload,
                headers=provider._headers(self.key, stream=True),
            ) as response:
                with self._state_lock:
                    stream = response.extensions.get("network_stream")
                    self._socket = stream.get_extra_info("socket") if stream is not None else None
                try:
                    self._read(response)
                finally:
                    with self._state_lock:
                        self._socket = None  # the connection may go back to the pool now
        except BaseException as exc:
            if not self._closed.is_set():  # after close, failures are our own doing
                self.events.put(provider._transport_error(exc))
        finally:
            self.events.put(_END)

    def _read(self, response: Any) -> None:
        provider = self.provider
        if self._closed.is_set():
            return
        if response.status_code >= 400:
            body = response.read()
            raise provider._status_error(response.status_code, body, self.key, self.model)
        content_type = response.headers.get("content-type", "")
        if "text/event-stream" not in content_type:
            raise RemoteProtocolError(
                f"{provider.endpoint} answered with {content_type or 'no content type'} instead "
                "of an event stream; is --base-url an OpenAI-compatible /v1 API?"
            )
        for event in provider.parse_stream(response.iter_lines(), self.key):
            if self._closed.is_set():
                return
            self.events.put(event)

    def close(self) -> None:
        self._closed.set()
        with self._state_lock:
            sock = self._socket
            if sock is not None:
                try:
                    sock.shutdown(socket.SHUT_RDWR)
                except OSError:  # already closed by the other side
                    pass
