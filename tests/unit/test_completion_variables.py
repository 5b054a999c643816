"""Completion that knows the notebook's live values: the kernel describes them after each
cell ran and every completion and prefill carries the description (``completion_variables``).

A real IPython shell and a FAKE provider (it records the completion requests and prefill
texts it is given; no model). Registered as a provider that keeps data on this machine, or
as one that sends it away, so ``api.sends_data_away`` answers as for the real ones.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from qwen_magic import api
from qwen_magic.completion import STATE_FILE, Completion, CompletionRequest, Suggestion
from qwen_magic.notebook import completer
from qwen_magic.providers import registry
from qwen_magic.providers.openai.provider import OpenAICompatibleProvider
from qwen_magic.providers.registry import ProviderEntry
from tests.fakes import FakeProvider


class FillingProvider(FakeProvider):
    """A FAKE provider that fills in the middle with ``name`` and records what it reads."""

    def __init__(self, name: str) -> None:
        super().__init__()
        self.name = name
        self.completions: list[CompletionRequest] = []
        self.prefilled: list[str] = []

    def complete(self, request: CompletionRequest, cancel: threading.Event,
                 on_text: Callable[[str], None]) -> Completion:
        self.completions.append(request)
        suggestion = Suggestion(request, on_text)
        suggestion.feed("name")
        return suggestion.finish("stop")

    def completion_problem(self, *, check: bool = False) -> str | None:
        return None

    def prefill(self, text: str, cancel: threading.Event) -> int:
        self.prefilled.append(text)
        return len(text)

    def prefill_request(self, request: Any, upto: str, cancel: threading.Event) -> int:
        return 0


@pytest.fixture
def entries() -> Iterator[None]:
    registry.register(ProviderEntry("here", lambda s: FillingProvider("here"), "fake, local"))
    registry.register(ProviderEntry("away", lambda s: FillingProvider("away"), "fake, a server",
                                    remote=True))
    yield
    registry.unregister("here")
    registry.unregister("away")


def use(shell: Any, name: str) -> FillingProvider:
    shell.fake_provider = FillingProvider(name)
    return shell.fake_provider


def front_ends(shell: Any) -> completer.CompletionFrontEnds:
    return shell.magics_manager.registry["QwenMagics"].completion_front_ends


def ask(shell: Any, prefix: str, number: int = 1) -> CompletionRequest:
    """One ``complete`` message as the labextension sends it; the request the provider got."""
    service = front_ends(shell).service
    service.handle({"type": "complete", "id": number, "prefix": prefix, "suffix": "",
                    "cells": ["x = 1"]}, lambda _: None)
    assert service.wait_until_idle(10)
    return shell.fake_provider.completions[-1]


def prefill(shell: Any, prefix: str = "") -> str:
    service = front_ends(shell).service
    service.handle({"type": "prefill", "id": 9, "cells": ["x = 1"], "prefix": prefix},
                   lambda _: None)
    assert service.wait_until_idle(10)
    return shell.fake_provider.prefilled[-1]


def test_after_a_cell_every_request_and_prefill_carries_the_description(shell, entries):
    provider = use(shell, "here")
    shell.run_cell("prices = {'alpha': 1.5, 'beta': 2.0}\nfor k in ['gamma']:\n"
                   "    prices[k] = 3.0", store_history=True)
    live = front_ends(shell).live_data
    assert "prices" in live and "'gamma'" in live  # a key only the running code made
    assert ask(shell, "prices['").live_data == live
    read = prefill(shell, "prices['")
    assert f"{STATE_FILE}\n{live}\n" in read and read.endswith("prices['")
    # The prompt up to the cursor is what the prefill read: the completion only adds the rest.
    assert provider.completions[-1].live_data in read


def test_it_is_rebuilt_after_each_cell_never_per_keystroke(shell, entries, monkeypatch):
    use(shell, "here")
    built: list[str] = []
    describe = completer.livedata.describe

    def counting(namespace: Any, names: Any, **kwargs: Any) -> str:
        text = describe(namespace, names, **kwargs)
        built.append(text)
        return text

    monkeypatch.setattr(completer.livedata, "describe", counting)
    shell.run_cell("sizes = {'small': 1, 'large': 3}", store_history=True)
    assert len(built) == 1
    # Typing: a name only the cell being typed uses (and the namespace holds) is not described.
    shell.user_ns["typed_only"] = {"secret_key": 1}
    for number, prefix in enumerate(("typed_only[", "typed_only['", "typed_only['s"), 1):
        assert "secret_key" not in ask(shell, prefix, number).live_data
        prefill(shell, prefix)
    assert len(built) == 1
    shell.run_cell("print(typed_only)", store_history=True)  # now a cell that ran uses it
    assert len(built) == 2 and "secret_key" in front_ends(shell).live_data


def test_names_of_cells_that_ran_before_load_ext_count(shell, entries):
    """``%load_ext`` after the data was loaded: ``In`` holds the cells that ran before."""
    use(shell, "here")
    ends = front_ends(shell)
    shell.user_ns["In"].append("early = {'from_before': 1}")
    shell.user_ns["early"] = {"from_before": 1}
    again = completer.CompletionFrontEnds(shell, shell.magics_manager.registry["QwenMagics"])
    try:
        again._cell_finished(None)
        assert "from_before" in again.live_data
    finally:
        again.service.close()
    assert ends is not again


def test_completion_variables_false_turns_it_off_at_once(shell, entries):
    use(shell, "here")
    shell.run_cell("table = {'north': 1}", store_history=True)
    assert "north" in ask(shell, "table['").live_data
    shell.run_line_magic("config", "QwenMagics.completion_variables = False")
    assert ask(shell, "table['", 2).live_data == ""  # the next request, no cell needed
    assert STATE_FILE not in prefill(shell)
    shell.run_cell("table['south'] = 2", store_history=True)
    assert front_ends(shell).live_data == "" and ask(shell, "table['", 3).live_data == ""


def test_off_by_default_for_a_provider_that_sends_data_away_and_on_when_set(shell, entries):
    use(shell, "away")
    shell.run_cell("regions = {'east': 1}", store_history=True)
    assert ask(shell, "regions['").live_data == ""
    assert STATE_FILE not in prefill(shell)
    shell.run_line_magic("config", "QwenMagics.completion_variables = True")
    shell.run_cell("regions['west'] = 2", store_history=True)
    assert "west" in ask(shell, "regions['", 2).live_data
    # The built-in server provider is such a provider (constructing it contacts nothing).
    assert api.sends_data_away(OpenAICompatibleProvider("http://127.0.0.1:9/v1", "coder"))


def test_a_bad_setting_is_one_line(shell):
    shell.run_line_magic("config", "QwenMagics.completion_variables = 'yes'")
    magics = shell.magics_manager.registry["QwenMagics"]
    assert magics.completion_variables is None  # refused, left as it was


def test_a_prefill_sent_while_the_model_loads_waits_for_it(shell, entries):
    """(Fake provider and a stand-in for %load_ext's background load.) The labextension sends
    the notebook as soon as %load_ext ran: that read must not be dropped for the load."""
    provider = use(shell, "here")
    magics = shell.magics_manager.registry["QwenMagics"]
    loading = threading.Event()
    loading.set()
    magics._preload = type("Loading", (), {"running": property(lambda _: loading.is_set())})()
    service = front_ends(shell).service
    service.handle({"type": "prefill", "id": 1, "cells": ["x = 1"]}, lambda _: None)
    assert not service.wait_until_idle(0.3)  # still waiting for the load
    assert provider.prefilled == []
    loading.clear()  # loaded
    assert service.wait_until_idle(5)
    assert len(provider.prefilled) == 1 and "x = 1" in provider.prefilled[0]


def test_terminal_ipython_describes_from_its_in_without_a_transform(shell, entries):
    """(A stand-in for the terminal's key binding: its ``context_cells`` is ``In``.) The
    terminal's inputs are already transformed; the kernel's own record is not used there."""
    provider = use(shell, "here")
    ends = front_ends(shell)
    shell.user_ns["limits"] = {"upper_bound": 9}
    ends.terminal = type("Terminal", (), {"context_cells": lambda self: ("print(limits)",),
                                          "uninstall": lambda self: None})()
    try:
        ends._cell_finished(None)
        assert "upper_bound" in ends.live_data
        assert ends.service.wait_until_idle(5)  # the terminal's read ahead after a cell
        assert "upper_bound" in provider.prefilled[-1]
    finally:
        ends.terminal = None
