"""The server's base URL: what counts as one, and the part of it that may be shown.

A bare host means ``/v1`` because every engine this targets serves the API there. What is
printed, put in error messages or saved in a notebook is the :func:`public_endpoint`, which
drops anything that could be a secret (``user:password@``, a query string).
"""

from __future__ import annotations

from urllib.parse import urlsplit, urlunsplit

from ...errors import ConfigError

#: Where ``qwen-magic serve`` listens by default, so the two work together with no settings.
DEFAULT_BASE_URL = "http://127.0.0.1:8000/v1"

#: Hosts that are this machine: a proxy from the environment must never capture them.
LOOPBACK_HOSTS = frozenset({"localhost", "127.0.0.1", "::1"})


def normalize_base_url(url: str) -> str:
    """``http://host:8000`` → ``http://host:8000/v1``; a URL with a path is kept as given.

    A proxy that mounts the API elsewhere is written out in full. Raises ConfigError for
    anything that is not an http(s) URL with a host and a valid port.
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


def is_loopback(url: str) -> bool:
    """Whether ``url`` names this machine (the usual case: ``qwen-magic serve``)."""
    return (urlsplit(url).hostname or "") in LOOPBACK_HOSTS
