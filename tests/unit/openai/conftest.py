"""Fixtures for the openai provider's tests: a clean environment and a FAKE server."""

from __future__ import annotations

import pytest

from tests.unit.openai.fake_server import FakeServer

ENV_VARS = ("QWEN_MAGIC_API_KEY", "OPENAI_API_KEY", "QWEN_MAGIC_PROVIDER", "QWEN_MAGIC_BASE_URL",
            "QWEN_MAGIC_REMOTE_MODEL")


@pytest.fixture(autouse=True)
def clean_env(monkeypatch):
    for name in ENV_VARS:
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def server():
    fake = FakeServer()
    yield fake
    fake.stop()
