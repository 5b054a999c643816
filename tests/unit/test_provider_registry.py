"""A third-party provider, added as a plugin adds one: one class and its registration.

Uses a FAKE provider (scripted tokens, no model). docs/architecture.md says a new engine is
one class plus its registration and nothing above the API changes: here the magics, the
panel, the Python API, the CLI and ghost text all use it, through a real ``qwen_magic.providers``
entry point (a distribution's metadata on sys.path, read by importlib.metadata) — and a
plugin whose entry point fails to import is skipped with one warning line.
"""

from __future__ import annotations

import threading
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from IPython.core.displaypub import CapturingDisplayPublisher
from IPython.core.interactiveshell import InteractiveShell

import qwen_magic
from qwen_magic import api, cli, session
from qwen_magic.completion import Completion, CompletionRequest, Suggestion
from qwen_magic.providers import registry
from qwen_magic.providers.registry import ProviderEntry, ProviderSettings
from qwen_magic.widgets import frontend
from tests.fakes import FakeProvider

REPLY = ["Here:\n", "```python\n", "def add(a, b):\n", "    return a + b\n", "```\n"]


# -- the plugin: one class and its registration ---------------------------------------------


class EchoProvider(FakeProvider):
    """A FAKE engine that streams a scripted answer and fills in the middle with ``pass``."""

    name = "echo"

    def __init__(self) -> None:
        super().__init__(REPLY)
        self.completions: list[CompletionRequest] = []

    def complete(self, request: CompletionRequest, cancel: threading.Event,
                 on_text: Callable[[str], None]) -> Completion:
        self.completions.append(request)
        suggestion = Suggestion(request, on_text)
        for piece in ("return ", "a + b", "\n\n# done"):
            suggestion.feed(piece)
        return suggestion.finish("stop")

    def completion_problem(self, *, check: bool = False) -> str | None:
        return None


ECHO = EchoProvider()


def make_entry() -> ProviderEntry:
    """What the entry point names: the registration."""
    return ProviderEntry("echo", lambda settings: ECHO, "a scripted test engine")


# -- installing it as a package would ----------------------------------------------------------


@pytest.fixture
def plugin(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    """A distribution on sys.path whose entry points name the plugin, and a broken one."""
    dist = tmp_path / "qwen_magic_echo-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: qwen-magic-echo\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text(
        "[qwen_magic.providers]\n"
        "echo = tests.unit.test_provider_registry:make_entry\n"
        "broken = qwen_magic_no_such_plugin.entry:ENTRY\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr(registry, "_plugins_loaded", False)
    ECHO.requests.clear()
    ECHO.completions.clear()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        names = registry.names()
    yield names, [str(w.message) for w in caught]
    registry.unregister("echo")


def test_the_entry_point_registers_it_and_a_broken_one_is_skipped(plugin):
    names, warned = plugin
    assert names[:2] == ("local", "openai") and "echo" in names and "broken" not in names
    assert len(warned) == 1 and "broken" in warned[0] and "qwen_magic_no_such_plugin" in warned[0]
    assert "\n" not in warned[0]
    # Every other provider still works: the built-in ones are made as before.
    assert api.get_provider(provider="openai", base_url="http://127.0.0.1:9/v1").name == "openai"


def test_the_python_api_uses_it(plugin):
    result = qwen_magic.generate("write add", provider="echo", temperature=0)
    assert result.code.startswith("def add") and ECHO.requests
    completion = qwen_magic.complete("def add(a, b):\n    ", "\nprint(add(1, 2))", provider="echo")
    assert completion.text == "return a + b" and completion.finish_reason == "stop"


def test_the_cli_uses_it(plugin, capsys):
    assert cli.main(["generate", "--provider", "echo", "--no-stats", "write add"]) == 0
    assert "def add(a, b):" in capsys.readouterr().out
    assert cli.main(["info", "--json"]) in (0, 3)
    assert '"echo"' in capsys.readouterr().out


@pytest.fixture
def shell(plugin, monkeypatch):
    ip = InteractiveShell.instance()
    ip.display_pub = CapturingDisplayPublisher()
    ip.inserted = []
    monkeypatch.setattr(ip, "set_next_input", lambda text, replace=False: ip.inserted.append(text))
    monkeypatch.setattr(frontend, "_frontend", frontend.FrontEnd(create=False))
    monkeypatch.setattr(session, "_current", session.Session())
    monkeypatch.setenv("QWEN_MAGIC_PROVIDER", "echo")  # as a team would set it
    ip.run_line_magic("load_ext", "qwen_magic")
    yield ip
    ip.run_line_magic("unload_ext", "qwen_magic")
    InteractiveShell.clear_instance()


def test_the_magics_panel_and_ghost_text_use_it(shell):
    magics = shell.magics_manager.registry["QwenMagics"]
    assert magics.provider == "echo"
    outcome = shell.run_cell("%%qwen write add")
    assert outcome.success, outcome.error_in_exec
    assert shell.inserted == ["def add(a, b):\n    return a + b"]

    from qwen_magic.widgets import QwenPanel

    panel = QwenPanel(watch=False, update_interval=0.0)
    try:
        panel.generate("write add")
        assert panel.wait(30) and panel.result is not None
        assert panel.result.code.startswith("def add")
    finally:
        panel.close()

    sent: list[dict[str, Any]] = []
    service = magics.completion_front_ends.service
    service.handle({"type": "complete", "id": 1, "prefix": "def add(a, b):\n    ",
                    "suffix": "", "cells": ["x = 1"]}, sent.append)
    assert service.wait_until_idle(30)
    assert "".join(m["text"] for m in sent if m["type"] == "chunk") == "return a + b"
    assert sent[-1]["type"] == "done" and sent[-1]["finish_reason"] == "stop"
    assert ECHO.completions[-1].context_cells == ("x = 1",)

    shell.run_line_magic("config", "QwenMagics.provider = 'nope'")  # refused, one line
    assert magics.provider == "echo"


def test_an_unknown_provider_is_one_line_listing_them(plugin):
    from qwen_magic.errors import ConfigError

    with pytest.raises(ConfigError, match=r"provider must be one of local, openai, echo, got 'nope'"):
        api.get_provider(provider="nope")
    with pytest.raises(ConfigError, match="QWEN_MAGIC_PROVIDER must be one of"):
        registry.entry("cloud", source="QWEN_MAGIC_PROVIDER")


def test_settings_reach_the_factory():
    seen: list[ProviderSettings] = []
    registry.register(ProviderEntry("spy", lambda s: seen.append(s) or ECHO, "records settings",
                                    options=("model",)))
    try:
        api.get_provider("some-model", provider="spy")
        assert seen[-1].model == "some-model"
    finally:
        registry.unregister("spy")


def test_a_plugin_that_gives_the_wrong_thing_is_skipped():
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert registry.load_plugin("odd", "pkg:thing", lambda: 42) is False
    assert "odd" in str(caught[0].message) and "not a ProviderEntry" in str(caught[0].message)
    assert "odd" not in registry.names()

