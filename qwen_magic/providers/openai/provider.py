"""OpenAICompatibleProvider: an inference server speaking ``/v1/chat/completions``.

llama.cpp's ``llama-server``, vLLM, Ollama and ``qwen-magic serve`` (llama-cpp-python's
server) all stream chat completions as Server-Sent Events in the OpenAI format, so one small
client reaches all of them and the notebook does not change when the model moves off the
laptop. This class is what is asked and what is answered; the HTTP is in :mod:`.transport`,
the stream's format in :mod:`.sse`, the failures in :mod:`.errors`.

Nothing here touches the network until the user has chosen this provider and asks for an
answer (or for ``%qwen status``). The API key is read from the environment for each request,
sent only in the ``Authorization`` header, and never kept on the object, printed, or put in
:meth:`describe` (which is what a notebook saves as provenance).
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Iterator
from typing import Any

from ... import settings
from ...errors import ConfigError, RemoteError, RemoteProtocolError
from ...options import remote_settings
from ..base import GenerationRequest, PromptRead, StreamEvent
from .sse import parse_stream
from .transport import (
    DEFAULT_CONNECT_RETRIES,
    DEFAULT_CONNECT_TIMEOUT,
    DEFAULT_READ_TIMEOUT,
    Transport,
)
from .urls import DEFAULT_BASE_URL, normalize_base_url

#: The longest wait for ``GET /models``: a server that cannot list its models that fast
#: will not stream an answer either.
MODELS_TIMEOUT_S = 30.0


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
        self._transport = Transport(
            normalize_base_url(base_url or DEFAULT_BASE_URL),
            connect_timeout=connect_timeout,
            read_timeout=read_timeout,
            connect_retries=connect_retries,
        )
        self.model = model or None
        self._served_model: str | None = None

    def __repr__(self) -> str:  # no key here, ever: the key is not even an attribute
        return f"OpenAICompatibleProvider({self.endpoint!r}, model={self.model!r})"

    @property
    def base_url(self) -> str:
        """The normalized URL requests go to (it may hold credentials: not for display)."""
        return self._transport.base_url

    @property
    def endpoint(self) -> str:
        """The base URL without credentials or query: what is shown and saved."""
        return self._transport.endpoint

    @property
    def connect_timeout(self) -> float:
        return self._transport.connect_timeout

    @property
    def read_timeout(self) -> float:
        return self._transport.read_timeout

    @property
    def connect_retries(self) -> int:
        return self._transport.connect_retries

    def close(self) -> None:
        """Drop pooled connections (a new client is made on next use)."""
        self._transport.close()

    # -- the model name -------------------------------------------------------------------

    def list_models(self) -> list[str]:
        """The model names the server serves (``GET /models``)."""
        response = self._transport.get(
            "/models", settings.api_key(), timeout=min(self.read_timeout, MODELS_TIMEOUT_S)
        )
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
        """The request body: OpenAI's fields plus the sampling knobs these engines share.

        Which settings are sent, and under which names, is each option's ``remote`` entry in
        :mod:`qwen_magic.options` (top_k, min_p, repeat_penalty are not OpenAI's own, but
        llama.cpp, llama-cpp-python and vLLM read them; see docs/remote-engines.md).
        """
        return {
            "model": model,
            "messages": request.messages,
            "stream": True,
            # Asks for a final usage chunk, so the token count is the server's own.
            "stream_options": {"include_usage": True},
            **remote_settings(request.config),
        }

    def stream(self, request: GenerationRequest, cancel: threading.Event) -> Iterator[StreamEvent]:
        model = self.resolve_model()
        key = settings.api_key()
        endpoint = self.endpoint

        def decode(texts: Iterable[str]) -> Iterator[StreamEvent]:
            return parse_stream(texts, endpoint=endpoint, key=key)

        exchange = self._transport.stream(
            "/chat/completions", self.payload(model, request), key=key, model=model,
            decode=decode,
        )
        try:
            # The clock starts as the request leaves: the network, the server's queue and its
            # reading of the prompt are all "time to first token" to the person waiting.
            # Servers differ in when they send headers (llama-cpp-python at once, Ollama
            # with the first token), so headers would be no common mark. The prompt's token
            # count is not known to a client, hence 0.
            yield PromptRead(0)
            yield from exchange.events(cancel)
        finally:
            exchange.close()

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
            "api_key": settings.api_key_source(),
        }
        try:
            info["served_models"] = self.list_models()
            info["reachable"] = True
        except RemoteError as exc:
            info["reachable"] = False
            info["problem"] = str(exc)
        return info
