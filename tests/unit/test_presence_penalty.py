"""presence_penalty was added as ONE entry in qwen_magic/options.py, plus its sampler plumbing
in the providers; this checks that it reached every surface with no other edit: the trait,
the %%qwen flag, the CLI flag, the API keyword, the panel, the provenance and the OpenAI
payload (FAKE providers, no model, no server)."""

from __future__ import annotations

import inspect
import threading

import pytest
from traitlets import TraitError

import qwen_magic
from qwen_magic import api, cli
from qwen_magic.errors import ConfigError
from qwen_magic.options import GenerationConfig
from qwen_magic.providers.base import GenerationRequest
from qwen_magic.providers.local.llama_adapter import LlamaAdapter
from qwen_magic.providers.local.provider import QwenLocalProvider
from qwen_magic.providers.openai import OpenAICompatibleProvider
from qwen_magic.widgets import QwenPanel
from tests.fakes import FakeProvider
from tests.unit.conftest import CODE_REPLY

RANGE = "presence_penalty must be a number from -2 to 2"


def test_a_config_trait_that_cells_use_and_that_checks_its_range(shell):
    magics = shell.magics_manager.registry["QwenMagics"]
    assert "presence_penalty" in magics.trait_names(config=True) and magics.presence_penalty == 0.0
    shell.run_line_magic("config", "QwenMagics.presence_penalty = 0.4")
    shell.run_cell("%%qwen write x")
    assert shell.fake_provider.requests[-1].config.presence_penalty == 0.4
    with pytest.raises(TraitError, match=RANGE):
        magics.presence_penalty = 3.0


def test_a_cell_option_recorded_in_the_outputs_provenance(shell, capsys):
    shell.run_cell("%%qwen --presence-penalty 1.5 write x")
    assert shell.fake_provider.requests[-1].config.presence_penalty == 1.5
    metadata = [o["metadata"] for o in shell.display_pub.outputs if o["metadata"].get("qwen_magic")]
    assert metadata[-1]["qwen_magic"]["presence_penalty"] == 1.5
    shell.run_cell("%%qwen --help\n")
    assert "--presence-penalty" in capsys.readouterr().out


def test_a_cli_flag(monkeypatch, capsys):
    fake = FakeProvider(CODE_REPLY)
    monkeypatch.setattr(api, "get_provider", lambda *a, **k: fake)
    assert cli.main(["generate", "--presence-penalty", "-0.5", "--no-stats", "write x"]) == 0
    assert fake.requests[-1].config.presence_penalty == -0.5
    assert cli.main(["generate", "--presence-penalty", "5", "write x"]) == 2  # a ConfigError
    assert RANGE in capsys.readouterr().err


def test_an_api_keyword_shown_with_its_default():
    fake = FakeProvider(CODE_REPLY)
    qwen_magic.generate("write x", presence_penalty=0.25, provider=fake)
    assert fake.requests[-1].config.presence_penalty == 0.25
    parameter = inspect.signature(qwen_magic.generate).parameters["presence_penalty"]
    assert (parameter.default, parameter.kind) == (0.0, inspect.Parameter.KEYWORD_ONLY)
    with pytest.raises(ConfigError, match=RANGE):
        qwen_magic.generate("write x", presence_penalty=9, provider=fake)


def test_a_panel_slider_that_generates_and_becomes_a_default(shell):
    fake = FakeProvider(CODE_REPLY)
    panel = QwenPanel(provider=fake, watch=False, update_interval=0.0, presence_penalty=0.5)
    try:
        slider = panel.presence_penalty
        assert (slider.description, slider.min, slider.max, slider.value) == (
            "presence penalty", -2, 2, 0.5)
        slider.value = -1.0
        panel.generate("write x")
        assert panel.wait(30)
        assert fake.requests[-1].config.presence_penalty == -1.0
        panel.use_as_defaults()
        assert shell.magics_manager.registry["QwenMagics"].presence_penalty == -1.0
    finally:
        panel.close()


def test_the_openai_payload_carries_it_when_set():
    provider = OpenAICompatibleProvider("http://127.0.0.1:9/v1", "m")

    def body(**settings):
        return provider.payload("m", GenerationRequest.from_prompt("x", GenerationConfig(**settings)))

    assert body(presence_penalty=0.5)["presence_penalty"] == 0.5
    assert "presence_penalty" not in body()  # 0.0 is every server's default: not sent


class _Recorded(Exception):
    pass


class _RecordingLlama:
    """Stands in for llama_cpp.Llama: keeps the sampler settings, then stops the decode."""

    def __init__(self) -> None:
        self.settings: dict[str, dict] = {}

    def set_seed(self, seed: int) -> None:
        pass

    def generate(self, tokens, **settings):
        self.settings["generate"] = settings
        raise _Recorded

    def _init_sampler(self, **settings):
        self.settings["speculative"] = settings
        raise _Recorded


def test_the_local_provider_hands_it_to_both_llama_samplers():
    llama, provider = _RecordingLlama(), QwenLocalProvider(loader=object())
    config = GenerationConfig(presence_penalty=0.3, seed=1)
    for decode in (provider._decode, provider._decode_speculative):
        with pytest.raises(_Recorded):
            list(decode(LlamaAdapter(llama), [1, 2, 3], config, threading.Event()))
    assert {path: s["presence_penalty"] for path, s in llama.settings.items()} == {
        "generate": 0.3, "speculative": 0.3}
