"""GenerationConfig / ModelConfig validation: every bad value names its valid range."""

from __future__ import annotations

import math

import pytest

from qwen_magic.config import GenerationConfig, ModelConfig, default_threads
from qwen_magic.errors import ConfigError


def test_defaults_are_valid_and_code_friendly():
    config = GenerationConfig()
    assert 0 < config.temperature < 0.7  # cooler than chat defaults: code must be exact
    assert config.max_tokens >= 256
    assert config.system and "Python" in config.system


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("temperature", -0.1, "temperature must be a number from 0 to 5"),
        ("temperature", math.nan, "temperature"),
        ("temperature", "hot", "temperature"),
        ("top_p", 1.5, "top_p must be a number from 0 to 1"),
        ("top_k", 2.5, "top_k must be an integer"),
        ("min_p", -1, "min_p"),
        ("repeat_penalty", 3, "repeat_penalty must be a number from 0.5 to 2"),
        ("max_tokens", 0, "max_tokens must be an integer from 1"),
        ("max_tokens", True, "max_tokens"),
        ("seed", -1, "seed must be an integer from 0"),
        ("seed", 1.5, "seed must be an integer"),
        ("stop", [""], "stop must be a list of non-empty strings"),
        ("system", 3, "system must be text"),
    ],
)
def test_bad_values_raise_config_error_with_the_range(field, value, message):
    with pytest.raises(ConfigError, match=message):
        GenerationConfig(**{field: value})


def test_int_accepted_for_float_fields():
    assert GenerationConfig(temperature=0).temperature == 0


def test_replace_keeps_unset_values_and_rejects_unknown_names():
    base = GenerationConfig(temperature=0.5)
    assert base.replace(top_p=None, max_tokens=10).temperature == 0.5
    assert base.replace(max_tokens=10).max_tokens == 10
    with pytest.raises(ConfigError, match="Unknown generation setting.*tempreature"):
        base.replace(tempreature=1)


def test_stop_string_becomes_tuple():
    assert GenerationConfig(stop="\n\n").stop == ("\n\n",)


def test_model_config_validation():
    with pytest.raises(ConfigError, match="n_ctx"):
        ModelConfig(n_ctx=10)
    with pytest.raises(ConfigError, match="n_threads"):
        ModelConfig(n_threads=0)


def test_default_threads_uses_physical_cores(monkeypatch):
    import psutil

    monkeypatch.setattr(psutil, "cpu_count", lambda logical=True: None if not logical else 8)
    monkeypatch.setattr("os.cpu_count", lambda: 8)
    # No SMT information: every logical CPU, never a guess of 1.
    assert default_threads() == 8
    monkeypatch.setattr(psutil, "cpu_count", lambda logical=True: 4 if not logical else 8)
    assert default_threads() == 4
