"""HTTP to one server: a pooled client, plain requests, and streamed exchanges that Stop ends.

httpx is used directly rather than through the ``openai`` client because the failure
behaviour is the product here: connects are retried but a request that reached the server
never is (no duplicate generations on a busy CPU server), every failure becomes one
:class:`~qwen_magic.errors.RemoteError` (see :mod:`.errors`), and Stop/Ctrl-C closes the
connection at once, which is how these servers learn to stop generating.

httpx is imported on first use, so the package imports without the ``server`` extra.
"""

from __future__ import annotations

import queue
import socket
import threading
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from ...errors import ConfigError, RemoteProtocolError
from ..base import StreamEvent
from .errors import NOT_OPENAI_HINT, status_error, transport_error
from .urls import is_loopback, public_endpoint

# A CPU server may queue a request behind another notebook's and then read a long prompt
# before its first token, so the wait for data is long; a connect, by contrast, either
# happens at once or the server is not there.
DEFAULT_CONNECT_TIMEOUT = 5.0
DEFAULT_READ_TIMEOUT = 300.0
DEFAULT_CONNECT_RETRIES = 3  # httpx waits 0, 0.5, 1 s between tries: a restart window

#: How often a waiting stream looks at its cancel flag: Stop is seen within this.
CANCEL_POLL_S = 0.05

#: Turns a streamed response body (decoded text pieces) into events.
Decoder = Callable[[Iterable[str]], Iterator[StreamEvent]]


class Transport:
    """The HTTP side of one server at ``base_url`` (already normalized).

    The httpx client (and its connection pool) is made on first use and shared by every
    request, from any thread. No API key is kept here: each call is given the key to send.
    """

    def __init__(
        self,
        base_url: str,
        *,
        connect_timeout: float = DEFAULT_CONNECT_TIMEOUT,
        read_timeout: float = DEFAULT_READ_TIMEOUT,
        connect_retries: int = DEFAULT_CONNECT_RETRIES,
    ) -> None:
        self.base_url = base_url
        self.endpoint = public_endpoint(base_url)
        self.connect_timeout = connect_timeout
        self.read_timeout = read_timeout
        self.connect_retries = connect_retries
        self._client: Any = None
        self._lock = threading.Lock()

    def client(self) -> Any:
        """The shared ``httpx.Client``; raises ConfigError if the ``server`` extra is missing."""
        with self._lock:
            if self._client is None:
                try:
                    import httpx
                    import httpx_sse  # noqa: F401 - needed by every stream; fail here, clearly
                except ImportError:  # pragma: no cover - both come with the [server] extra
                    raise ConfigError(
                        "The openai provider needs httpx and httpx-sse: "
                        "pip install 'qwen-magic[server]'."
                    ) from None
                self._client = httpx.Client(
                    timeout=httpx.Timeout(
                        self.read_timeout, connect=self.connect_timeout, pool=self.connect_timeout
                    ),
                    # httpx retries only failed connects (refused, DNS, connect timeout): a
                    # request that reached the server is never sent twice.
                    transport=httpx.HTTPTransport(retries=self.connect_retries),
                    # An HTTP(S)_PROXY meant for the internet must not capture a server on
                    # this machine, which is the usual case (`qwen-magic serve`).
                    trust_env=not is_loopback(self.base_url),
                    follow_redirects=False,
                )
            return self._client

    def close(self) -> None:
        """Drop pooled connections (a new client is made on next use)."""
        with self._lock:
            client, self._client = self._client, None
        if client is not None:
            client.close()

    def url(self, path: str) -> str:
        """``path`` under the base URL (``/chat/completions``), or a whole URL as given."""
        return path if "://" in path else self.base_url + path

    def server_url(self, path: str) -> str:
        """``path`` at the server's root rather than under ``/v1`` (llama-server's ``/infill``)."""
        root = self.base_url[:-3] if self.base_url.endswith("/v1") else self.base_url
        return root + path

    def post(self, path: str, payload: dict[str, Any], key: str | None, *,
             timeout: float) -> tuple[int, Any]:
        """``POST path`` (a whole response, not a stream): its status and JSON body (None when
        it has none). Only a failed exchange raises; any status is the caller's to read."""
        try:
            response = self.client().post(
                self.url(path), json=payload, headers=self.headers(key, stream=False),
                timeout=timeout)
        except Exception as exc:
            raise self.error(exc) from None
        try:
            body = response.json()
        except ValueError:
            body = None
        return response.status_code, body

    @staticmethod
    def headers(key: str | None, *, stream: bool) -> dict[str, str]:
        headers = {"Accept": "text/event-stream" if stream else "application/json"}
        if key:
            headers["Authorization"] = f"Bearer {key}"
        return headers

    def error(self, exc: BaseException) -> BaseException:
        """``exc`` as one of our errors, with this server's endpoint and timeouts in it."""
        return transport_error(
            exc,
            endpoint=self.endpoint,
            connect_timeout=self.connect_timeout,
            read_timeout=self.read_timeout,
        )

    def get(self, path: str, key: str | None, *, timeout: float) -> Any:
        """``GET path``: the response, or a RemoteError for a failed exchange or status."""
        try:
            response = self.client().get(
                self.url(path), headers=self.headers(key, stream=False), timeout=timeout
            )
        except Exception as exc:
            raise self.error(exc) from None
        if response.status_code >= 400:
            raise status_error(
                response.status_code, response.content, endpoint=self.endpoint, key=key,
                model=None,
            )
        return response

    def stream(
        self,
        path: str,
        payload: dict[str, Any],
        *,
        key: str | None,
        model: str | None,
        decode: Decoder,
    ) -> Exchange:
        """A started ``POST path`` whose event-stream body ``decode`` turns into events."""
        exchange = Exchange(self, path, payload, key=key, model=model, decode=decode)
        exchange.start()
        return exchange


_END = object()


class Exchange:
    """One streamed request, read in its own thread.

    :meth:`events` only waits on a queue, so a cancel is seen within 50 ms however long
    the server is silent; :meth:`close` then shuts the socket down, which both unblocks
    the reading thread and tells the server (vLLM, llama.cpp, llama-cpp-python all watch
    for it) to stop generating.
    """

    def __init__(
        self,
        transport: Transport,
        path: str,
        payload: dict[str, Any],
        *,
        key: str | None,
        model: str | None,
        decode: Decoder,
    ) -> None:
        self.transport, self.path, self.payload = transport, path, payload
        self.key, self.model, self.decode = key, model, decode
        self._queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._closed = threading.Event()
        self._state_lock = threading.Lock()
        self._socket: socket.socket | None = None  # set only while the response is open
        self._thread = threading.Thread(target=self._run, name="qwen-magic-remote", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def events(self, cancel: threading.Event) -> Iterator[StreamEvent]:
        """The decoded events as they arrive; raises the exchange's error, if any.

        Returns when the stream ends or as soon as ``cancel`` is set: the reader may be
        blocked on the network for a long time (a queued request, a long prompt), and Stop
        must not wait for the next byte.
        """
        while True:
            try:
                item = self._queue.get(timeout=CANCEL_POLL_S)
            except queue.Empty:
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

    def _run(self) -> None:
        transport = self.transport
        try:
            with transport.client().stream(
                "POST",
                transport.url(self.path),
                json=self.payload,
                headers=transport.headers(self.key, stream=True),
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
                self._queue.put(transport.error(exc))
        finally:
            self._queue.put(_END)

    def _read(self, response: Any) -> None:
        if self._closed.is_set():
            return
        endpoint = self.transport.endpoint
        if response.status_code >= 400:
            body = response.read()
            raise status_error(
                response.status_code, body, endpoint=endpoint, key=self.key, model=self.model
            )
        content_type = response.headers.get("content-type", "")
        if "text/event-stream" not in content_type:
            raise RemoteProtocolError(
                f"{endpoint} answered with {content_type or 'no content type'} instead "
                f"of an event stream; {NOT_OPENAI_HINT}"
            )
        for event in self.decode(response.iter_text()):
            if self._closed.is_set():
                return
            self._queue.put(event)

    def close(self) -> None:
        """Stop reading and hang up; safe to call at any time, more than once."""
        self._closed.set()
        with self._state_lock:
            sock = self._socket
            if sock is not None:
                try:
                    sock.shutdown(socket.SHUT_RDWR)
                except OSError:  # already closed by the other side
                    pass
