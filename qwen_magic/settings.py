"""The ``QWEN_MAGIC_*`` environment: every default that comes from it, read in one place.

A team points every notebook, the CLI and ``qwen-magic serve`` at one server or one model
file by setting these once, in the environment Jupyter starts from; keeping the reads here
means one spelling of each name and one rule for blank values (blank means unset).

Each function reads ``os.environ`` when it is called, never at import, so ``%env``, a test's
monkeypatch or a kernel started later all see the environment as it is now. Values come back
as raw strings: whether a URL or a path is any good is for the module that uses it to say.
This module imports nothing from the package but :mod:`.errors`, so anything may import it.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

PROVIDER_VARIABLE = "QWEN_MAGIC_PROVIDER"
BASE_URL_VARIABLE = "QWEN_MAGIC_BASE_URL"
REMOTE_MODEL_VARIABLE = "QWEN_MAGIC_REMOTE_MODEL"
FIM_VARIABLE = "QWEN_MAGIC_FIM"
MODEL_VARIABLE = "QWEN_MAGIC_MODEL"
#: Looked up in this order; ``QWEN_MAGIC_API_KEY=""`` means "send no key" (see :func:`api_key`).
API_KEY_VARIABLES = ("QWEN_MAGIC_API_KEY", "OPENAI_API_KEY")


def _environ(environ: Mapping[str, str] | None) -> Mapping[str, str]:
    return os.environ if environ is None else environ


def _text(name: str, environ: Mapping[str, str] | None) -> str | None:
    """The variable's value stripped, or None when it is unset or blank."""
    return _environ(environ).get(name, "").strip() or None


def provider_kind(environ: Mapping[str, str] | None = None) -> str:
    """$QWEN_MAGIC_PROVIDER in lower case; "local" when unset.

    Whether it names a provider is the provider registry's to say
    (``providers.registry.default_name``, one line naming the variable), since plugins add
    names.
    """
    return (_text(PROVIDER_VARIABLE, environ) or "local").lower()


def base_url(environ: Mapping[str, str] | None = None) -> str | None:
    """$QWEN_MAGIC_BASE_URL as written, or None (the caller supplies its default)."""
    return _text(BASE_URL_VARIABLE, environ)


def remote_model(environ: Mapping[str, str] | None = None) -> str | None:
    """$QWEN_MAGIC_REMOTE_MODEL, or None: then the server's only model is used."""
    return _text(REMOTE_MODEL_VARIABLE, environ)


def fim_strategy(environ: Mapping[str, str] | None = None) -> str:
    """$QWEN_MAGIC_FIM in lower case (how a server fills in the middle); "auto" when unset."""
    return (_text(FIM_VARIABLE, environ) or "auto").lower()


def model_path(environ: Mapping[str, str] | None = None) -> str | None:
    """$QWEN_MAGIC_MODEL exactly as written (a path is not trimmed), or None when empty."""
    return _environ(environ).get(MODEL_VARIABLE) or None


def cache_dir(environ: Mapping[str, str] | None = None) -> Path:
    """qwen-magic's folder in the user's cache (``$XDG_CACHE_HOME`` or ``~/.cache``): the
    downloaded models, the files' sha256, this machine's bench records."""
    base = _environ(environ).get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "qwen-magic"


def api_key(environ: Mapping[str, str] | None = None) -> str | None:
    """The key the openai provider sends, or None.

    ``QWEN_MAGIC_API_KEY`` wins over ``OPENAI_API_KEY``; setting it to the empty string
    sends no key at all, so a real OpenAI key in the environment need not travel to a
    self-hosted server that has no use for it.
    """
    environ = _environ(environ)
    for name in API_KEY_VARIABLES:
        if name in environ:
            return environ[name].strip() or None
    return None


def api_key_source(environ: Mapping[str, str] | None = None) -> str:
    """Where the key comes from, for ``%qwen status``: a variable's name, never its value."""
    environ = _environ(environ)
    for name in API_KEY_VARIABLES:
        if name in environ:
            return f"from ${name}" if environ[name].strip() else f"none (${name} is empty)"
    return "none"


def server_api_key(environ: Mapping[str, str] | None = None) -> str | None:
    """The key ``qwen-magic serve`` requires of its clients: $QWEN_MAGIC_API_KEY only.

    ``OPENAI_API_KEY`` is a key for OpenAI, not a password for this server, so it is not
    used here even though the client side falls back to it.
    """
    return _text(API_KEY_VARIABLES[0], environ)
