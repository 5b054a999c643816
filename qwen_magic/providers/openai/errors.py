"""Every way an exchange with the server fails, turned into one error with the fix in it.

A notebook shows ``str(error)`` as one red line, so each message names the endpoint, says
what happened in the user's terms and what to do; the class (and so the CLI's exit code)
tells apart the fixes: start the server or fix the URL, set the key, name another model,
read the server's log. Whatever the server said is passed on, on one line and with the API
key cut out, since some servers echo the key back in a 401.
"""

from __future__ import annotations

import json
from typing import Any

from ...errors import (
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

SERVER_HINT = "start one with `qwen-magic serve`, or fix --base-url / QWEN_MAGIC_BASE_URL"
NOT_OPENAI_HINT = "is --base-url an OpenAI-compatible /v1 API?"


def one_line(text: str, limit: int = 200) -> str:
    """``text`` with its whitespace runs collapsed, cut to ``limit`` characters."""
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def redact(text: str, key: str | None) -> str:
    """``text`` with every copy of ``key`` replaced by ``***``.

    Keys shorter than four characters are left alone: replacing them would garble the
    message while hiding nothing worth hiding.
    """
    if key and len(key) >= 4:
        text = text.replace(key, "***")
    return text


def server_message(body: bytes, key: str | None) -> str:
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
    return redact(one_line(str(message)), key)


def status_error(
    status: int, body: bytes, *, endpoint: str, key: str | None, model: str | None
) -> RemoteError | ContextOverflowError:
    """One HTTP error status → one error class with the fix in its message.

    ``model`` is the model the request named, or None for requests that name none
    (``GET /models``): only then can a 404 be blamed on the model rather than the URL.
    """
    message = server_message(body, key)
    said = f" (the server said: {message})" if message else ""
    if status in (401, 403):
        if key:
            return RemoteAuthError(
                f"{endpoint} refused the API key (HTTP {status}){said}. Set the right key in "
                "QWEN_MAGIC_API_KEY in the environment Jupyter was started from."
            )
        return RemoteAuthError(
            f"{endpoint} wants an API key (HTTP {status}){said}. Set QWEN_MAGIC_API_KEY "
            "(or OPENAI_API_KEY) in the environment Jupyter was started from."
        )
    if status == 404:
        if model and "model" in message.lower():
            return RemoteModelNotFoundError(
                f"{endpoint} does not serve a model named {model!r}{said}. Use one it lists "
                f"at {endpoint}/models, with --model NAME or %config QwenMagics.remote_model."
            )
        return EndpointNotFoundError(
            f"{endpoint} has no OpenAI-compatible API (HTTP 404){said}. The base URL "
            "usually ends in /v1, e.g. http://127.0.0.1:8000/v1."
        )
    if status == 400 and "context" in message.lower():
        return ContextOverflowError(
            f"{endpoint} says the prompt is too long for the model's context: {message}. "
            "Shorten the prompt or --context, or lower --max-tokens."
        )
    if status >= 500:
        return RemoteServerError(
            f"{endpoint} failed with HTTP {status}{said}. Its log says why; try again once "
            "it is healthy."
        )
    return RemoteError(f"{endpoint} rejected the request with HTTP {status}{said}.")


def transport_error(
    exc: BaseException, *, endpoint: str, connect_timeout: float, read_timeout: float
) -> BaseException:
    """httpx's exceptions → ours; anything else (ours included) passes through unchanged.

    The timeouts are the ones in force, so the message says how long was waited.
    """
    try:
        import httpx
    except ImportError:  # pragma: no cover - nothing from httpx can be raised without it
        return exc
    if isinstance(exc, httpx.ConnectTimeout):
        return EndpointUnreachableError(
            f"Cannot reach {endpoint}: no answer to connect within {connect_timeout:g} s; "
            f"{SERVER_HINT}."
        )
    if isinstance(exc, httpx.ConnectError):
        text = str(exc)
        reason = "connection refused" if "refused" in text.lower() else one_line(text, 80)
        return EndpointUnreachableError(f"Cannot reach {endpoint} ({reason}); {SERVER_HINT}.")
    if isinstance(exc, httpx.ReadTimeout):
        return RemoteTimeoutError(
            f"{endpoint} sent nothing for {read_timeout:g} s; it may be overloaded or "
            "stuck. Try again, or check the server."
        )
    if isinstance(exc, (httpx.RemoteProtocolError, httpx.ReadError)):
        return RemoteProtocolError(
            f"{endpoint} closed the connection in the middle of the answer; the server may "
            "have crashed or restarted. Its log says why."
        )
    if isinstance(exc, httpx.TimeoutException):
        return RemoteTimeoutError(f"{endpoint} timed out ({type(exc).__name__}). Try again.")
    if isinstance(exc, httpx.HTTPError):
        return RemoteError(f"Talking to {endpoint} failed: {one_line(str(exc))}.")
    return exc
