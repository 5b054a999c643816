"""What a provider can do beyond streaming, asked by capability (providers/base.py).

FAKE providers (scripted tokens, no model): which capability a front end finds, how an
answer continues from a given start, and what a provider without a capability gives.
"""

from __future__ import annotations

import threading

import pytest

from qwen_magic import api
from qwen_magic.completion import CompletionRequest
from qwen_magic.config import GenerationConfig
from qwen_magic.errors import ConfigError
from qwen_magic.providers.base import Completes, ContinuesAnswers, LoadsModel, ReadsAhead
from qwen_magic.status import provider_status
from qwen_magic.streaming import ListSink
from tests.fakes import FakeProvider


class ContinuingProvider(FakeProvider):
    """A FAKE provider that continues an answer: it records the start it was given."""

    continues_answers = True


def test_a_plain_provider_has_no_capability_beyond_streaming():
    provider = FakeProvider()
    assert not isinstance(provider, (Completes, ReadsAhead, LoadsModel, ContinuesAnswers))
    assert api.model_loaded(provider) and api.load_model(provider) is None
    assert api.prefill(provider, "x = 1") == 0 and not api.unload_model(provider)
    assert "does not fill in the middle" in (api.completion_problem(provider) or "")
    with pytest.raises(ConfigError, match="the fake provider does not"):
        api.complete_request(provider, CompletionRequest("x = "))
    status = provider_status(provider).as_dict()
    assert status["completion"] == "unavailable — this provider does not fill in the middle"


def test_an_answer_continues_from_its_given_start():
    provider = ContinuingProvider(["def f():\n", "    return 1\n", "```"])
    sink = ListSink()
    result = api.run("write f", GenerationConfig(temperature=0), provider=provider, sinks=[sink],
                     answer_start="Fixed:\n```python\n")
    assert provider.requests[-1].answer_start == "Fixed:\n```python\n"
    # Shown first, kept in the text, not counted as generated.
    assert sink.chunks[0] == "Fixed:\n```python\n"
    assert result.text == "Fixed:\n```python\ndef f():\n    return 1\n```"
    assert result.code.strip() == "def f():\n    return 1" and result.completion_tokens == 3


def test_a_provider_that_cannot_continue_is_refused_not_ignored():
    with pytest.raises(ConfigError, match="cannot continue an answer"):
        api.run("write f", GenerationConfig(), provider=FakeProvider(), answer_start="```python\n")


def test_the_panel_waits_for_a_busy_provider_by_capability():
    from qwen_magic.status import is_busy

    provider = FakeProvider()
    assert not is_busy(provider)
    with provider.lock:
        assert is_busy(provider)
    assert not is_busy(object())  # a provider that cannot say is never "busy"


def test_prefill_never_starts_a_load():
    class Unloaded(FakeProvider):
        prefilled: list[str] = []

        def prefill(self, text: str, cancel: threading.Event) -> int:
            self.prefilled.append(text)
            return 1

        def prefill_request(self, request, upto, cancel):  # noqa: ANN001
            return 0

        def load(self):  # noqa: ANN201
            raise AssertionError("loaded")

        def is_loaded(self) -> bool:
            return False

        def unload(self) -> bool:
            return False

    provider = Unloaded()
    assert isinstance(provider, ReadsAhead) and isinstance(provider, LoadsModel)
    assert api.prefill(provider, "x") == 0 and provider.prefilled == []
