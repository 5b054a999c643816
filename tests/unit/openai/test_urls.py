"""Base URLs: what is accepted, what a bare host means, and what may be shown."""

from __future__ import annotations

import pytest

from qwen_magic.errors import ConfigError
from qwen_magic.providers.openai import normalize_base_url, public_endpoint
from qwen_magic.providers.openai.urls import is_loopback


def test_base_url_forms():
    assert normalize_base_url("http://gpu-box:8000") == "http://gpu-box:8000/v1"
    assert normalize_base_url("http://gpu-box:8000/v1/") == "http://gpu-box:8000/v1"
    assert normalize_base_url(" https://proxy.example/openai/v1 ") == (
        "https://proxy.example/openai/v1")
    for bad in ("gpu-box:8000", "ftp://x/v1", "", "http://:80/v1", "http://h:99999/v1"):
        with pytest.raises(ConfigError):
            normalize_base_url(bad)
    # What is shown and saved never carries credentials or query strings.
    assert public_endpoint("https://me:secret@host:1/v1?key=abc") == "https://host:1/v1"


def test_loopback_hosts_are_this_machine():
    assert is_loopback("http://127.0.0.1:8000/v1") and is_loopback("http://[::1]:8000/v1")
    assert is_loopback("http://localhost:8000/v1")
    assert not is_loopback("http://gpu-box:8000/v1")
