"""The kernel session the magics and the panel share, with a FAKE provider and fake defaults.

Without ``%load_ext`` it answers as the panel did alone (GenerationConfig defaults, the
default local provider); with it, it reads and writes the magics' ``%config`` traits.
"""

from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import Mapping
from typing import Any

import pytest
from IPython.core.error import UsageError

from qwen_magic import api, session
from qwen_magic.config import GenerationConfig
from qwen_magic.result import GenerationResult
from qwen_magic.session import Session
from tests.fakes import FakeProvider

CODE = "```python\nx = 1\n```\n"


class FakeDefaults:
    """What the magics register, as a plain object: records what the session asks of it."""

    def __init__(self, **config: Any) -> None:
        self.config = GenerationConfig(**config)
        self.update_interval = 0.05
        self.provider_used = FakeProvider()
        self.written: list[dict[str, Any]] = []
        self.published: list[GenerationResult] = []
        self.is_loading = False

    def generation_config(self) -> GenerationConfig:
        return self.config

    def set_generation_defaults(self, values: Mapping[str, Any]) -> None:
        self.written.append(dict(values))
        self.config = self.config.replace(**values)

    def provider(self) -> Any:
        return self.provider_used

    def loading(self) -> bool:
        return self.is_loading

    def publish(self, result: GenerationResult) -> None:
        self.published.append(result)


@pytest.fixture(autouse=True)
def fresh_session(monkeypatch: pytest.MonkeyPatch) -> Session:
    # Runs before `shell`, so a test's %load_ext registers into this session.
    fresh = Session()
    monkeypatch.setattr(session, "_current", fresh)
    return fresh


# -- without the extension: what the panel did on its own ----------------------------------


def test_without_the_extension_the_defaults_are_generation_configs_own(monkeypatch):
    default_provider = FakeProvider()
    monkeypatch.setattr(api, "get_provider", lambda *a, **k: default_provider)
    alone = Session()
    assert not alone.registered
    assert alone.generation_defaults() == GenerationConfig()
    assert alone.provider() is default_provider  # the default local provider, via the engine
    assert alone.loading() is False
    assert alone.update_interval(0.15) == 0.15
    assert alone.set_generation_defaults({"temperature": 0.9}) is False  # nowhere to write
    assert alone.generation_defaults() == GenerationConfig()


def test_current_is_one_session_per_kernel(fresh_session):
    assert session.current() is session.current() is fresh_session


# -- registered defaults -------------------------------------------------------------------


def test_registered_defaults_are_read_and_written_through():
    shared, defaults = Session(), FakeDefaults(temperature=0.6, seed=3)
    shared.register(defaults)
    assert shared.registered
    assert shared.generation_defaults() == GenerationConfig(temperature=0.6, seed=3)
    assert shared.provider() is defaults.provider_used
    assert shared.update_interval(0.15) == 0.05
    defaults.is_loading = True
    assert shared.loading() is True
    assert shared.set_generation_defaults({"temperature": 0.1, "top_k": 9}) is True
    assert defaults.written == [{"temperature": 0.1, "top_k": 9}]
    assert (shared.generation_defaults().temperature, shared.generation_defaults().top_k) \
        == (0.1, 9)


def test_unregister_removes_only_what_is_still_registered():
    shared, old, new = Session(), FakeDefaults(), FakeDefaults(temperature=0.9)
    shared.register(old)
    shared.register(new)  # a later %load_ext (another shell, or a %reload_ext race)
    assert shared.unregister(old) is False  # stale: leaves the newer registration alone
    assert shared.generation_defaults().temperature == 0.9
    assert shared.unregister(new) is True and not shared.registered
    assert shared.generation_defaults() == GenerationConfig()
    assert shared.unregister(new) is False


# -- the last code, for %qwen insert ---------------------------------------------------------


@pytest.mark.parametrize(("text", "finish", "kept"), [
    (CODE, "stop", "x = 1\n"),
    (CODE, "length", "x = 1\n"),   # cut at max_tokens is still a finished answer
    (CODE, "cancelled", "old = 0\n"),  # a stopped answer's code is cut off mid-way
    ("no code here", "stop", "old = 0\n"),
])
def test_last_code_takes_only_complete_answers_with_code(text, finish, kept):
    shared = Session()
    shared.last_code = "old = 0\n"
    shared.record_answer(GenerationResult(text, finish))
    assert shared.last_code == kept


def test_answers_are_published_only_when_registered():
    shared, defaults = Session(), FakeDefaults()
    result = GenerationResult(CODE, "stop")
    shared.record_answer(result)  # nobody to publish to: no error either
    shared.register(defaults)
    shared.record_answer(result)
    assert defaults.published == [result] and shared.last_code == "x = 1\n"


def test_the_session_imports_no_ipython_or_widgets():
    code = ("import sys, qwen_magic.session; "
            "loaded = {'IPython', 'ipywidgets', 'traitlets', 'qwen_magic.notebook.magics', "
            "'qwen_magic.widgets'} & set(sys.modules); assert not loaded, loaded")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr


# -- the real magics, registered by %load_ext ------------------------------------------------


def test_load_ext_registers_the_magics_and_unload_forgets_them(shell, fresh_session):
    assert fresh_session.registered
    shell.run_line_magic("config", "QwenMagics.temperature = 0.9")
    shell.run_line_magic("config", "QwenMagics.update_interval = 0.3")
    assert fresh_session.generation_defaults().temperature == 0.9
    assert fresh_session.update_interval(0.15) == 0.3
    assert fresh_session.provider() is shell.fake_provider  # the magics' own choice
    shell.run_line_magic("unload_ext", "qwen_magic")
    assert not fresh_session.registered
    assert fresh_session.generation_defaults() == GenerationConfig()
    shell.run_line_magic("load_ext", "qwen_magic")  # the fixture unloads it again
    assert fresh_session.registered
    assert fresh_session.generation_defaults().temperature == 0.9  # %config outlives a reload
    fresh_session.set_generation_defaults({"temperature": 0.4})  # reaches the new magics
    assert shell.magics_manager.registry["QwenMagics"].temperature == 0.4


def test_set_generation_defaults_writes_the_traits_config_shows(shell, fresh_session, capsys):
    values = {"temperature": 0.7, "top_k": 5, "max_tokens": 64, "seed": 42, "system": "terse"}
    assert fresh_session.set_generation_defaults(values) is True
    magics = shell.magics_manager.registry["QwenMagics"]
    assert (magics.temperature, magics.top_k, magics.max_tokens, magics.seed, magics.system) \
        == (0.7, 5, 64, 42, "terse")
    shell.run_line_magic("qwen", "config")
    assert re.search(r"QwenMagics\.max_tokens\s*= 64\b", capsys.readouterr().out)
    shell.run_cell("%%qwen a cell with the new defaults")
    config = shell.fake_provider.requests[-1].config
    assert (config.temperature, config.top_k, config.max_tokens, config.seed, config.system) \
        == (0.7, 5, 64, 42, "terse")


def test_a_recorded_answer_becomes_qwen_and_what_qwen_insert_inserts(shell, fresh_session):
    with pytest.raises(UsageError, match="no code yet"):
        shell.run_line_magic("qwen", "insert")
    result = GenerationResult(CODE, "stop")
    fresh_session.record_answer(result)
    assert shell.user_ns["_qwen"] is result
    shell.inserted.clear()
    shell.run_line_magic("qwen", "insert")
    assert shell.inserted == ["x = 1"]
