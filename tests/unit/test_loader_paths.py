"""Model path resolution order and the pure-Python checks before llama.cpp (no model)."""

from __future__ import annotations

import os

import pytest

from qwen_magic.config import DEFAULT_MODEL_FILE
from qwen_magic.errors import InsufficientMemoryError, InvalidModelError, ModelNotFoundError
from qwen_magic.providers.local import models
from qwen_magic.providers.local.gguf import parse_header
from tests.gguf_factory import STRING, build_gguf, qwen2_metadata


@pytest.fixture
def sandbox(tmp_path, monkeypatch):
    """An empty working folder and cache, with no $QWEN_MAGIC_MODEL."""
    work = tmp_path / "project" / "notebooks"
    work.mkdir(parents=True)
    monkeypatch.chdir(work)
    monkeypatch.delenv(models.MODEL_ENV, raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    return tmp_path


def place(path):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(build_gguf())
    return path


def test_order_explicit_then_configured_then_env_then_models_then_cache(sandbox, monkeypatch):
    cache = place(sandbox / "cache" / "qwen-magic" / "models" / DEFAULT_MODEL_FILE)
    assert models.resolve_model_path() == cache
    parent_models = place(sandbox / "project" / "models" / DEFAULT_MODEL_FILE)
    assert models.resolve_model_path() == parent_models  # found from a sub-folder
    local = place(sandbox / "project" / "notebooks" / "models" / DEFAULT_MODEL_FILE)
    assert models.resolve_model_path() == local
    env = place(sandbox / "env.gguf")
    monkeypatch.setenv(models.MODEL_ENV, str(env))
    assert models.resolve_model_path() == env
    configured = place(sandbox / "configured.gguf")
    assert models.resolve_model_path(configured=configured) == configured
    explicit = place(sandbox / "explicit.gguf")
    assert models.resolve_model_path(explicit, configured) == explicit


def test_nothing_found_says_where_it_looked_and_how_to_fix(sandbox):
    with pytest.raises(ModelNotFoundError) as info:
        models.resolve_model_path()
    message = str(info.value)
    assert "qwen-magic pull" in message and DEFAULT_MODEL_FILE in message
    assert str(sandbox / "cache") in message


def test_a_named_path_that_does_not_exist_is_never_skipped(sandbox, monkeypatch):
    place(sandbox / "project" / "notebooks" / "models" / DEFAULT_MODEL_FILE)
    with pytest.raises(ModelNotFoundError, match="No model file at .*nope.gguf"):
        models.resolve_model_path(sandbox / "nope.gguf")
    monkeypatch.setenv(models.MODEL_ENV, str(sandbox / "missing.gguf"))
    with pytest.raises(ModelNotFoundError, match=r"\$QWEN_MAGIC_MODEL"):
        models.resolve_model_path()


def test_validate_rejects_folders_other_architectures_and_unreadable_files(sandbox, monkeypatch):
    with pytest.raises(InvalidModelError, match="is a folder"):
        models.validate_model(sandbox)
    llama = sandbox / "llama.gguf"
    llama.write_bytes(build_gguf(qwen2_metadata(**{"general.architecture": (STRING, "llama")})))
    with pytest.raises(InvalidModelError, match="'llama' model"):
        models.validate_model(llama)
    good = place(sandbox / "good.gguf")
    monkeypatch.setattr(os, "access", lambda path, mode: False)
    with pytest.raises(InvalidModelError, match="not readable"):
        models.validate_model(good)


def test_memory_preflight_gives_the_numbers(monkeypatch):
    data = build_gguf()
    info = parse_header(data, len(data))
    monkeypatch.setattr(models, "available_memory", lambda: 10 * 1024**2)
    with pytest.raises(InsufficientMemoryError, match=r"needs about .* MB.*only 10 MB.*n_ctx"):
        models.preflight_memory(info, 4096)
    monkeypatch.setattr(models, "available_memory", lambda: 64 * 1024**3)
    models.preflight_memory(info, 4096)
