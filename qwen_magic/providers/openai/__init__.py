"""The ``openai`` provider: any server that streams ``/v1/chat/completions``.

``qwen-magic serve``, llama.cpp's ``llama-server``, llama-cpp-python's server, vLLM and
Ollama all do. The modules, each with one job and imported in this order (none imports a
later one): :mod:`.urls` (what a base URL is), :mod:`.errors` (failures → one clear
error), :mod:`.sse` (the event stream → TextDelta/Finished), :mod:`.transport` (HTTP, and
the exchange thread Stop can end), :mod:`.fim` (fill in the middle: the strategies and the
probe that picks one), :mod:`.provider` (the Provider itself), :mod:`.entry` (what the
provider registry makes).

Importing this package needs neither httpx nor httpx-sse (the ``server`` extra): they are
imported when a request is first made.
"""

from __future__ import annotations

from ...settings import API_KEY_VARIABLES, api_key_source
from ...settings import api_key as api_key_from_env
from .provider import OpenAICompatibleProvider
from .transport import DEFAULT_CONNECT_RETRIES, DEFAULT_CONNECT_TIMEOUT, DEFAULT_READ_TIMEOUT
from .urls import DEFAULT_BASE_URL, normalize_base_url, public_endpoint

__all__ = [
    "API_KEY_VARIABLES", "DEFAULT_BASE_URL", "DEFAULT_CONNECT_RETRIES", "DEFAULT_CONNECT_TIMEOUT",
    "DEFAULT_READ_TIMEOUT", "OpenAICompatibleProvider", "api_key_from_env", "api_key_source",
    "normalize_base_url", "public_endpoint",
]
