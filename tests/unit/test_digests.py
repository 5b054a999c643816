"""The model file's sha256, remembered across processes (a small file stands in for the model)."""

from __future__ import annotations

import hashlib
import os

import pytest

from qwen_magic.providers.local import digests


@pytest.fixture
def model(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    path = tmp_path / "model.gguf"
    path.write_bytes(b"GGUF" + b"x" * 10_000)
    return path


def forbid_hashing(monkeypatch):
    def fail(*_):
        raise AssertionError("hashed again")
    monkeypatch.setattr(digests, "sha256_of", fail)


def test_hashed_once_then_remembered_by_a_new_process(model, monkeypatch):
    expected = hashlib.sha256(model.read_bytes()).hexdigest()
    assert digests.file_sha256(model) == expected
    assert digests.cache_file().is_file()
    forbid_hashing(monkeypatch)  # what another process finds: the record, not the file's bytes
    assert digests.file_sha256(model) == expected


def test_a_changed_file_is_hashed_again(model):
    first = digests.file_sha256(model)
    model.write_bytes(b"GGUF" + b"y" * 10_000)  # same size, new contents and mtime
    os.utime(model, ns=(1, 1))
    assert digests.file_sha256(model) == hashlib.sha256(model.read_bytes()).hexdigest() != first


def test_what_pull_verified_is_not_hashed_again(model, monkeypatch):
    digests.remember(model, "ab" * 32)
    forbid_hashing(monkeypatch)
    assert digests.file_sha256(model) == "ab" * 32


def test_a_broken_or_unwritable_cache_only_means_hashing(model, monkeypatch, tmp_path):
    expected = hashlib.sha256(model.read_bytes()).hexdigest()
    digests.cache_file().parent.mkdir(parents=True)
    digests.cache_file().write_text("{not json")
    assert digests.file_sha256(model) == expected
    digests.cache_file().write_text("[1, 2]")
    assert digests.file_sha256(model) == expected
    blocked = tmp_path / "blocked"
    blocked.write_text("a file where the cache folder should be")
    monkeypatch.setenv("XDG_CACHE_HOME", str(blocked))
    assert digests.file_sha256(model) == expected
