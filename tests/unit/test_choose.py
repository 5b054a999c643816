"""Choosing a model by name: alias, catalog name or path → file; unknown names; memory refusal.

Files are tiny fake GGUFs in a temporary project folder (no model, no network)."""

from __future__ import annotations

from pathlib import Path

import pytest

from qwen_magic import catalog
from qwen_magic.errors import ConfigError, InsufficientMemoryError, ModelNotFoundError
from qwen_magic.providers.local import choose, models
from tests.gguf_factory import build_gguf

pytestmark = pytest.mark.timeout(30)

GIB = 1024**3


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty project with a notebooks/ sub-folder as working folder, an empty user cache
    and no $QWEN_MAGIC_MODEL."""
    work = tmp_path / "project" / "notebooks"
    work.mkdir(parents=True)
    monkeypatch.chdir(work)
    monkeypatch.delenv(models.MODEL_ENV, raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    return tmp_path / "project"


def place(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(build_gguf())
    return path


def test_alias_finds_the_installed_file_where_the_loader_looks(project: Path, tmp_path: Path) -> None:
    entry = catalog.lookup("1.5b")
    cached = place(tmp_path / "cache" / "qwen-magic" / "models" / entry.file)
    assert choose.resolve("1.5b") == cached
    up = place(project / "models" / entry.file)  # `make model-1.5b` at the top, used from a sub-folder
    assert choose.resolve("1.5b") == up
    assert choose.resolve("qwen2.5-coder-1.5b-instruct") == up
    assert choose.resolve("1.5B") == up
    assert choose.installed_path(entry) == up


def test_alias_of_a_model_not_installed_says_how_to_pull_it(project: Path) -> None:
    with pytest.raises(ModelNotFoundError) as caught:
        choose.resolve("7b")
    message = str(caught.value)
    assert "\n" not in message and "qwen-magic pull 7b" in message
    assert catalog.lookup("7b").file in message


def test_environment_variable_counts_for_the_file_it_names(project: Path, tmp_path: Path,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    entry = catalog.lookup("0.5b")
    elsewhere = place(tmp_path / "disk" / entry.file)
    monkeypatch.setenv(models.MODEL_ENV, str(elsewhere))
    assert choose.installed_path(entry) == elsewhere
    assert choose.installed_path(catalog.lookup("1.5b")) is None


def test_a_path_stays_a_path(project: Path, tmp_path: Path) -> None:
    mine = place(tmp_path / "mine.gguf")
    assert choose.resolve(str(mine)) == mine
    assert choose.resolve(mine) == mine
    # A missing path is still the user's path: the loader reports it, it is not a name.
    assert choose.resolve("~/no/such.gguf") == Path.home() / "no" / "such.gguf"
    assert choose.resolve("weights/other.gguf") == Path("weights/other.gguf")


def test_unknown_name_is_one_line_listing_the_catalog(project: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        choose.resolve("2b")
    message = str(caught.value)
    assert "\n" not in message
    assert all(name in message for name in catalog.names()) and "path of a .gguf" in message


def test_entry_for_recognises_catalog_files(tmp_path: Path) -> None:
    assert choose.entry_for(tmp_path / catalog.lookup("3b").file) == catalog.lookup("3b")
    assert choose.entry_for(tmp_path / "mine.gguf") is None


def test_a_model_too_big_for_free_memory_is_refused_naming_what_fits() -> None:
    with pytest.raises(InsufficientMemoryError) as caught:
        choose.check_fits("7b", 4096, available=2 * GIB)
    message = str(caught.value)
    assert "\n" not in message and "models that fit: 1.5b, 0.5b" in message
    assert choose.fits_in_memory("1.5b", 4096, available=2 * GIB)
    assert not choose.fits_in_memory("1.5b", 4096, available=GIB)
    choose.check_fits(catalog.lookup("0.5b"), 2048, available=GIB)  # fits: no error


def test_memory_check_reads_free_memory_when_not_given(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(choose, "available_memory", lambda: 512 * 1024**2)
    with pytest.raises(InsufficientMemoryError, match="no catalog model fits|models that fit"):
        choose.check_fits("1.5b", 4096)


def test_memory_check_of_an_unknown_name_lists_the_catalog() -> None:
    with pytest.raises(ConfigError, match="0.5b, 1.5b, 3b, 7b"):
        choose.check_fits("13b", 4096, available=64 * GIB)
