"""Choosing models by name: which setting wins, which model completes as you type, a model
too big for free memory, and the recommendation ``qwen-magic info`` makes.

Tiny FAKE GGUF files under the catalog's file names (tests/gguf_factory.py): nothing is
loaded, no llama.cpp. The 1.5B and 0.5B together with the real models are in
tests/integration/test_two_models.py.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from qwen_magic import api, catalog
from qwen_magic.errors import InsufficientMemoryError
from qwen_magic.providers.local import models
from qwen_magic.speed_records import SpeedRecord, read_records, remember
from tests.gguf_factory import build_gguf, qwen2_metadata

SMALL, BIG = catalog.find("0.5b"), catalog.find("1.5b")
BASE = catalog.find("0.5b-base")


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A project folder whose models/ holds FAKE copies of the catalog files it names."""
    (tmp_path / "models").mkdir()
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.delenv("QWEN_MAGIC_MODEL", raising=False)
    return tmp_path


def install(project: Path, *entries: Any) -> None:
    for entry in entries:
        (project / "models" / entry.file).write_bytes(build_gguf(qwen2_metadata()))


def magics_of(shell: Any) -> Any:
    return shell.magics_manager.registry["QwenMagics"]


@pytest.fixture
def magics(project: Path) -> Any:
    from IPython.core.interactiveshell import InteractiveShell

    shell = InteractiveShell.instance()
    shell.config.QwenMagics.preload = False
    shell.run_line_magic("load_ext", "qwen_magic")
    yield magics_of(shell)
    shell.run_line_magic("unload_ext", "qwen_magic")
    InteractiveShell.clear_instance()


def test_which_setting_names_the_model(magics: Any, project: Path) -> None:
    install(project, SMALL, BIG)
    assert magics.model_config().path is None  # the search path: the default model
    magics.model_path = "models/" + SMALL.file
    assert magics.model_config().path == "models/" + SMALL.file
    magics.model = "1.5b"  # QwenMagics.model wins over model_path
    assert magics.model_config().path == "1.5b"
    assert magics.model_config("0.5b").path == "0.5b"  # a cell's --model wins over both
    provider = magics.get_provider()
    assert api.model_file(provider).name == BIG.file
    # Under the openai provider, the same settings name the server's model.
    magics.provider, magics.remote_model = "openai", "qwen2.5-coder:7b"
    magics.base_url = "http://127.0.0.1:9/v1"
    assert magics.get_provider().describe()["model"] == "1.5b"
    magics.model = None
    assert magics.get_provider().describe()["model"] == "qwen2.5-coder:7b"
    assert magics.get_provider("other").describe()["model"] == "other"


def test_a_catalog_name_not_installed_is_one_line_naming_the_pull(project: Path) -> None:
    install(project, SMALL)
    with pytest.raises(Exception, match=r"1.5b is not installed .*run `qwen-magic pull 1.5b`"):
        models.resolve_model_path("1.5b")
    assert models.resolve_model_path("0.5b").name == SMALL.file


def test_the_default_completes_with_the_chat_model_itself(magics: Any, project: Path) -> None:
    install(project, SMALL)
    assert magics.completion_provider() is magics.get_provider()  # nothing changes


def test_a_bigger_chat_model_completes_with_the_smallest(magics: Any, project: Path) -> None:
    install(project, SMALL, BIG)
    magics.model = "1.5b"
    completion = magics.completion_provider()
    assert completion is not magics.get_provider()
    assert api.model_file(completion).name == SMALL.file
    assert completion.loader.role == "completion"  # a context of its own


def test_a_base_model_completes_when_installed(magics: Any, project: Path) -> None:
    install(project, SMALL, BASE)
    assert api.model_file(magics.completion_provider()).name == BASE.file


def test_the_same_file_for_both_roles_keeps_two_contexts(magics: Any, project: Path) -> None:
    install(project, SMALL)
    magics.completion_model = "0.5b"
    chat, completion = magics.get_provider(), magics.completion_provider()
    assert chat is not completion and api.model_file(chat) == api.model_file(completion)
    assert (chat.loader.role, completion.loader.role) == ("chat", "completion")


def test_status_names_the_completion_model_and_its_memory(magics: Any, project: Path) -> None:
    install(project, SMALL, BIG)
    magics.model = "1.5b"
    info = magics.status_info()
    assert info["memory_mb"] > 0 and BIG.file in info["model"]
    assert SMALL.file in info["completion_model"]
    assert "not loaded yet" in info["completion_model"] and "MB" in info["completion_model"]


def test_a_model_too_big_for_free_memory_names_what_fits(project: Path,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    install(project, BIG)
    path = project / "models" / BIG.file
    info = models.validate_model(path)
    free = SMALL.memory_needed(4096) + 10 * 1024**2  # room for the 0.5B, not the 1.5B
    monkeypatch.setattr(models, "available_memory", lambda: free)
    # The FAKE file is tiny: it needs what the real 1.5B would.
    monkeypatch.setattr(models, "required_memory", lambda info, n_ctx: BIG.memory_needed(n_ctx))
    with pytest.raises(InsufficientMemoryError) as refused:
        models.preflight_memory(info, 4096, path)
    message = str(refused.value)
    assert "\n" not in message and "1.5b needs about" in message and "fit: 0.5b" in message


def test_the_recommendation_by_speed_and_by_size(project: Path) -> None:
    plenty = 20 * 1024**3
    best, why = catalog.recommend([SMALL, BIG], 4096, plenty, {})
    assert best is BIG and "no bench record" in why
    best, why = catalog.recommend([SMALL, BIG], 4096, plenty, {SMALL.file: 37.6, BIG.file: 20.7})
    assert best is BIG and "20.7 tok/s" in why
    best, _ = catalog.recommend([SMALL, BIG], 4096, plenty, {SMALL.file: 37.6, BIG.file: 6.0})
    assert best is SMALL
    best, _ = catalog.recommend([SMALL, BIG], 4096, SMALL.memory_needed(4096), {})
    assert best is SMALL  # the 1.5B does not fit
    assert catalog.recommend([], 4096, plenty, {})[0] is None


def test_bench_records_are_kept_per_file_and_info_reads_them(project: Path,
                                                             capsys: pytest.CaptureFixture[str]) -> None:
    from qwen_magic.cli.main import main

    install(project, SMALL, BIG)
    remember(str(project / "models" / BIG.file), SpeedRecord(20.7, 0.4, "2026-12-07", False))
    remember(str(project / "models" / SMALL.file), SpeedRecord(37.6, 0.2, "2026-12-07", False))
    assert read_records()[BIG.file].decode_tok_s == 20.7
    assert main(["info", "--json"]) == 0
    out = capsys.readouterr().out
    assert '"recommended_model": "1.5b: the biggest installed model' in out


def test_the_bigger_installed_chat_model_is_what_a_fix_that_fell_short_suggests(
        project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The provider's model file is given (FAKE: no provider loads anything here)."""
    install(project, SMALL, BIG, BASE)
    monkeypatch.setattr(api, "available_memory", lambda: 24 * 1024**3)
    running = {"file": project / "models" / SMALL.file}
    monkeypatch.setattr(api, "model_file", lambda provider: running["file"])
    assert api.bigger_chat_model(object(), 4096) == BIG
    running["file"] = project / "models" / BIG.file
    assert api.bigger_chat_model(object(), 4096) is None  # the 3B is not installed
    running["file"] = project / "mine.gguf"
    assert api.bigger_chat_model(object(), 4096) is None  # not a catalog model
    running["file"] = project / "models" / SMALL.file
    monkeypatch.setattr(api, "available_memory", lambda: BIG.memory_needed(4096) - 1)
    assert api.bigger_chat_model(object(), 4096) is None  # it would not fit
