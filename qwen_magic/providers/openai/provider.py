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
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from ... import settings
from ...completion import Completion, CompletionRequest
from ...errors import ConfigError, RemoteError, RemoteProtocolError
from ...options import remote_settings
from ..base import GenerationRequest, PromptRead, StreamEvent
from ..status import ProviderStatus, RemoteStatus, completion_line
from . import fim
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
        fim_strategy: str | None = None,
    ) -> None:
        strategy = (fim_strategy or settings.fim_strategy()).lower()
        if strategy not in fim.CHOICES:
            raise ConfigError(f"{settings.FIM_VARIABLE} (how a server fills in the middle) must "
                              f"be one of {', '.join(fim.CHOICES)}, got {strategy!r}.")
        self.fim_strategy = strategy
        self._probe: fim.Probe | None = None
        self._probe_lock = threading.Lock()
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

    #: An answer's given start is sent as the beginning of the assistant's turn, in the
    #: model's chat layout on /v1/completions (where the server reads special tokens).
    continues_answers = True

    def continuation_payload(self, model: str, request: GenerationRequest) -> dict[str, Any]:
        """``request`` as a raw ChatML prompt ending in the answer's start (Qwen's layout)."""
        if self.fim() != "raw":
            raise RemoteError(
                f"{self.endpoint} cannot continue an answer from a given start: that needs "
                "/v1/completions reading the model's special tokens (docs/remote-engines.md).")
        turns = "".join(f"<|im_start|>{m['role']}\n{m['content']}<|im_end|>\n"
                        for m in request.messages)
        body = {"model": model, "prompt": f"{turns}<|im_start|>assistant\n{request.answer_start}",
                "stream": True, "stop": ["<|im_end|>", "<|endoftext|>"],
                **remote_settings(request.config)}
        body.pop("stream_options", None)
        return body

    def stream(self, request: GenerationRequest, cancel: threading.Event) -> Iterator[StreamEvent]:
        model = self.resolve_model()
        key = settings.api_key()
        endpoint = self.endpoint

        def decode(texts: Iterable[str]) -> Iterator[StreamEvent]:
            return parse_stream(texts, endpoint=endpoint, key=key)

        if request.answer_start:
            path, body = "/completions", self.continuation_payload(model, request)
        else:
            path, body = "/chat/completions", self.payload(model, request)
        exchange = self._transport.stream(path, body, key=key, model=model, decode=decode)
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

    # -- fill in the middle (providers.base.Completes) -------------------------------------

    def fim(self, *, check: bool = True) -> str | None:
        """The strategy this server fills in the middle by (probed once), or None."""
        if self.fim_strategy == "none":
            return None
        if self.fim_strategy != "auto":
            return self.fim_strategy
        probe = self._probe
        if probe is None and check:
            with self._probe_lock:
                if self._probe is None:
                    found = fim.probe_safely(self._transport, self.resolve_model, settings.api_key())
                    if not found.heard:
                        return None  # unreachable now: ask again next time
                    self._probe = found
                probe = self._probe
        return probe.strategy if probe is not None else None

    def completion_problem(self, *, check: bool = False) -> str | None:
        if self.fim_strategy == "none":
            return f"{settings.FIM_VARIABLE} is 'none'"
        if self.fim_strategy != "auto":
            return None
        if self._probe is None:
            if not check:
                return None  # not known yet: the first suggestion (or a checked status) asks
            self.fim()
            if self._probe is None:
                return f"{self.endpoint} did not answer"
        return self._probe.problem

    def complete(self, request: CompletionRequest, cancel: threading.Event,
                 on_text: Callable[[str], None]) -> Completion:
        """A suggestion from the server; none (no error) when it cannot fill in the middle."""
        strategy = self.fim()
        if strategy is None:
            return Completion("", "unavailable")
        return fim.complete(self._transport, strategy, self.resolve_model(), settings.api_key(),
                            request, cancel, on_text)

    # -- what it is -----------------------------------------------------------------------

    def describe(self) -> dict[str, Any]:
        # Saved in notebooks as provenance: the public endpoint only, and no key.
        return {
            "provider": self.name,
            "endpoint": self.endpoint,
            "model": self.model or self._served_model,
        }

    def status(self, *, check: bool = False) -> ProviderStatus:
        """For ``%qwen status``: where, which model, whether a key is sent (never the key),
        and with ``check`` whether it answers and how it fills in the middle."""
        endpoint, model = self.endpoint, self.model or self._served_model
        if not check:
            remote = RemoteStatus(endpoint, model, settings.api_key_source())
            known = self.completion_problem(check=False)
            return ProviderStatus(self.name, remote=remote,
                                  completion=self._completion_line(known, probed=False))
        try:
            served: list[str] | None = self.list_models()
            reachable, problem = True, None
        except RemoteError as exc:
            served, reachable, problem = None, False, str(exc)
        remote = RemoteStatus(endpoint, model, settings.api_key_source(), reachable, served)
        completion = self._completion_line(self.completion_problem(check=reachable), probed=True)
        return ProviderStatus(self.name, remote=remote, problem=problem, completion=completion)

    def _completion_line(self, problem: str | None, *, probed: bool) -> str:
        strategy = self.fim(check=False)
        if problem is None and strategy is None:
            return "not checked yet (asked at the first suggestion)" if not probed \
                else f"unavailable — {self.endpoint} did not answer"
        return completion_line(problem, f"{strategy} fill-in-the-middle on {self.endpoint}")

