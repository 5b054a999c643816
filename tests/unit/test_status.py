"""One status record (qwen_magic/status.py), three renderings: ``%qwen status``, the panel's
model line, ``qwen-magic info``. FAKE providers and a FAKE loaded model: no llama.cpp."""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any

import pytest

from qwen_magic.cli.main import main as cli_main
from qwen_magic.config import ModelConfig
from qwen_magic.errors import ModelNotFoundError
from qwen_magic.providers.fallback import FallbackProvider
from qwen_magic.providers.local.models import GgufModelLoader, LoadedModel
from qwen_magic.providers.local.provider import QwenLocalProvider
from qwen_magic.status import is_busy, provider_status
from qwen_magic.widgets.view import model_line
from tests.fakes import FakeProvider
from tests.gguf_factory import build_gguf, qwen2_metadata

# ipylab declares `List(Unicode)`, which traitlets warns about on import: not ours to fix.
pytestmark = pytest.mark.filterwarnings("ignore:Traits should be given as instances")


@pytest.fixture
def gguf(tmp_path: Path) -> Path:
    path = tmp_path / "tiny.gguf"
    path.write_bytes(build_gguf(qwen2_metadata()))
    return path


def FakeLoaded(path: Path, config: ModelConfig) -> LoadedModel:  # noqa: N802 - reads as a class
    """A LoadedModel with no llama.cpp model in it (FAKE): only its lock and flags are used."""
    return LoadedModel(llama=None, info=None, path=path, config=config,  # type: ignore[arg-type]
                       load_seconds=0.449)


class LoadedLoader(GgufModelLoader):
    """A loader whose model is "loaded" (a FAKE LoadedModel): nothing is read by llama.cpp."""

    def __init__(self, path: Path) -> None:
        super().__init__(ModelConfig(path=str(path), n_ctx=2048, n_threads=1))
        self.model = FakeLoaded(path, self.config)

    def cached(self) -> Any:
        return self.model


def LocalProvider(loader: GgufModelLoader) -> QwenLocalProvider:  # noqa: N802 - reads as a class
    """The real local provider over a FAKE loader: its status is the provider's own report."""
    return QwenLocalProvider(loader)


def test_a_local_model_not_loaded_yet(gguf: Path) -> None:
    status = provider_status(LocalProvider(GgufModelLoader(ModelConfig(path=str(gguf)))),
                             loading=True)
    info = status.as_dict()
    assert list(info) == ["provider", "model", "size_mb", "loaded", "loading", "n_ctx",
                          "n_threads", "load_seconds", "busy", "memory_mb", "completion",
                          "process_rss_mb"]
    assert info["completion"].startswith("available (fill in the middle")
    assert (info["model"], info["loaded"], info["loading"], info["busy"]) == (str(gguf), False, True,
                                                                            False)
    assert info["n_ctx"] == ModelConfig().n_ctx and info["process_rss_mb"] > 0
    assert model_line(status) == "◌ tiny.gguf · loading…"
    idle = provider_status(LocalProvider(GgufModelLoader(ModelConfig(path=str(gguf)))))
    assert model_line(idle) == "○ tiny.gguf · not loaded yet (loads on first Generate)"


def test_a_loaded_model_and_a_busy_one(gguf: Path) -> None:
    provider = LocalProvider(LoadedLoader(gguf))
    status = provider_status(provider)
    assert status.as_dict()["load_seconds"] == 0.45 and status.local is not None
    assert model_line(status) == "● tiny.gguf · loaded in 0.4 s · n_ctx 2048 · 1 threads"
    cancel = threading.Event()
    assert provider.loader.model.acquire_for_background(cancel)  # a read-ahead after a cell
    try:
        assert not is_busy(provider)  # background work is not "another generation"
        assert provider_status(provider).as_dict()["busy"] is False
    finally:
        provider.loader.model.release_background()
    with provider.loader.model.generation_turn():
        assert is_busy(provider)
        assert provider_status(provider).as_dict()["busy"] is True
        assert model_line(provider_status(provider)).endswith(" · <b>busy</b>")


def test_a_model_file_gone_since_is_a_problem_not_an_error(tmp_path: Path) -> None:
    status = provider_status(LocalProvider(GgufModelLoader(ModelConfig(path=str(tmp_path / "x.gguf")))))
    assert status.local is None and "No model file at" in (status.problem or "")
    assert status.as_dict()["model"] is None
    assert model_line(status).startswith("⚠ No model file at")


def test_no_model_found() -> None:
    status = provider_status(FallbackProvider(ModelNotFoundError("nothing found")))
    assert list(status.as_dict()) == ["provider", "model", "problem", "completion",
                                      "process_rss_mb"]
    assert status.as_dict()["completion"] == "unavailable — nothing found"
    assert status.as_dict()["problem"] == "nothing found"
    assert "%qwen pull" in model_line(status)


def test_a_provider_that_loads_nothing_here() -> None:
    provider = FakeProvider()
    status = provider_status(provider)
    assert status.remote is not None and status.remote.model == "fake.gguf"
    assert model_line(status) == "● fake.gguf · fake provider"
    assert not is_busy(provider)
    with provider.lock:
        assert is_busy(provider)
    assert status.as_dict()["completion"].startswith("unavailable — ")


def test_a_remote_server_is_not_contacted_unless_checked(monkeypatch: pytest.MonkeyPatch) -> None:
    from qwen_magic.providers.openai import OpenAICompatibleProvider

    provider = OpenAICompatibleProvider("http://127.0.0.1:9/v1")
    monkeypatch.setattr(provider, "list_models", lambda: pytest.fail("contacted the server"))
    status = provider_status(provider)
    assert status.remote is not None and status.remote.reachable is None
    assert status.as_dict()["model"] == "(the server's only model)"
    assert model_line(status) == "● the server&#x27;s model · openai provider at http://127.0.0.1:9/v1"
    assert status.as_dict()["completion"].startswith("not checked yet")


def test_cli_info_renders_the_same_record(gguf: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli_main(["info", "--json", "--model", str(gguf), "--n-ctx", "1024"]) == 0
    model = json.loads(capsys.readouterr().out)["model"]
    assert (model["path"], model["architecture"], model["n_ctx"]) == (str(gguf), "qwen2", 1024)
    assert cli_main(["info", "--model", str(gguf.parent / "absent.gguf")]) == 3
    assert "No model file at" in capsys.readouterr().out


def test_a_generation_goes_before_background_work(gguf: Path) -> None:
    """A read-ahead holding the model is cancelled by a generation that wants it (the panel's
    Generate right after a cell ran), and the generation gets the model once it lets go."""
    model = FakeLoaded(gguf, ModelConfig(path=str(gguf)))
    cancel = threading.Event()
    assert model.acquire_for_background(cancel)
    turns: list[bool] = []

    def generate() -> None:
        with model.generation_turn():
            turns.append(model.generating)

    thread = threading.Thread(target=generate)
    thread.start()
    assert cancel.wait(5), "the generation did not ask the read-ahead to stop"
    assert not turns  # it waits for the read-ahead to let go
    model.release_background()
    thread.join(5)
    assert turns == [True] and not model.generating
    late = threading.Event()
    with model.generation_turn():  # background work waits, and gives up when cancelled
        late.set()
        assert not model.acquire_for_background(late)
