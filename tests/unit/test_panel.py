"""QwenPanel's logic with a FAKE provider (tests/fakes.py): no model, no browser.

The state machine of the buttons, settings carried to the magics, busy handling while a
%%qwen cell holds the model, Stop, Insert/Copy and their fallbacks. What a person sees in
a browser is checked by tests/e2e/test_browser.py with the real model.
"""

from __future__ import annotations

import ast
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest

import qwen_magic
from qwen_magic import session
from qwen_magic.errors import ConfigError, ModelNotFoundError
from qwen_magic.providers.fallback import FallbackProvider
from qwen_magic.session import Session
from qwen_magic.widgets import (
    BUTTONS,
    CURSOR,
    PANEL_SETTINGS,
    RUNNING,
    SLIDERS,
    TRANSITIONS,
    Event,
    QwenPanel,
    State,
    buttons_for,
    frontend,
    next_state,
)
from tests.fakes import AnswersProvider, FakeProvider
from tests.unit.conftest import CODE_REPLY

# ipylab declares `List(Unicode)`, which traitlets warns about on import: not ours to fix.
pytestmark = pytest.mark.filterwarnings("ignore:Traits should be given as instances")


LONG_REPLY = ["```python\n"] + [f"x{i} = {i}\n" for i in range(400)] + ["```\n"]


def wait_until(condition: Any, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        time.sleep(0.005)


def enabled(panel: QwenPanel) -> dict[str, bool]:
    return {name: not getattr(panel, f"{name}_button").disabled
            for name in ("generate", "stop", "insert", "copy", "defaults")}


@pytest.fixture
def make_panel() -> Any:
    """Panels built with a fake provider and no watcher thread (tests call check_busy)."""
    made: list[QwenPanel] = []

    def make(provider: Any = None, **options: Any) -> QwenPanel:
        options.setdefault("watch", False)
        options.setdefault("update_interval", 0.0)
        panel = QwenPanel(provider=provider or FakeProvider(CODE_REPLY), **options)
        made.append(panel)
        return panel

    yield make
    for panel in made:
        panel.stop()
        panel.wait(30)
        panel.close()


@pytest.fixture(autouse=True)
def no_frontend(monkeypatch: pytest.MonkeyPatch) -> None:
    # No browser here: no ipylab front end at all, unless a test puts one in. A fresh
    # session: no panel code from an earlier test, and only this test's %load_ext in it
    # (autouse fixtures run before `shell`, which registers the magics into this one).
    monkeypatch.setattr(frontend, "_frontend", frontend.FrontEnd(create=False))
    monkeypatch.setattr(session, "_current", Session())


def last_panel_code() -> str | None:
    return session.current().last_code


# -- the state machine, as a table --------------------------------------------------------


def test_every_transition_is_explicit_and_the_rest_is_ignored():
    assert next_state(State.IDLE, Event.GENERATE) is State.WAITING
    assert next_state(State.WAITING, Event.STARTED) is State.GENERATING
    assert next_state(State.GENERATING, Event.STOP) is State.STOPPING
    assert next_state(State.STOPPING, Event.FINISHED) is State.IDLE
    assert next_state(State.IDLE, Event.BUSY) is State.BUSY
    assert next_state(State.BUSY, Event.FREE) is State.IDLE
    # A double click, a late STARTED after Stop, Generate while busy: nothing happens.
    assert next_state(State.GENERATING, Event.GENERATE) is None
    assert next_state(State.STOPPING, Event.STARTED) is None
    assert next_state(State.BUSY, Event.GENERATE) is None
    assert next_state(State.WAITING, Event.BUSY) is None
    # Whatever runs can always finish back to IDLE.
    for state in RUNNING:
        assert TRANSITIONS[(state, Event.FINISHED)] is State.IDLE


@pytest.mark.parametrize(("state", "generate", "stop"), [
    (State.IDLE, True, False), (State.BUSY, False, False), (State.WAITING, False, True),
    (State.GENERATING, False, True), (State.STOPPING, False, False),
])
def test_buttons_for_each_state(state, generate, stop):
    shown = buttons_for(state, has_code=True, complete=True)
    assert (shown["generate"], shown["stop"]) == (generate, stop)
    assert shown["insert"] == shown["copy"] == (state not in RUNNING)
    assert shown["defaults"]


def test_insert_needs_a_complete_answer_copy_only_code():
    assert buttons_for(State.IDLE, has_code=True, complete=False) == {
        "generate": True, "stop": False, "insert": False, "copy": True, "defaults": True}
    assert not buttons_for(State.IDLE, has_code=False, complete=True)["copy"]


# -- Generate -----------------------------------------------------------------------------


def test_fresh_panel_has_only_generate(make_panel):
    panel = make_panel()
    assert panel.state is State.IDLE
    assert enabled(panel) == {"generate": True, "stop": False, "insert": False, "copy": False,
                              "defaults": True}
    assert panel.system_box.selected_index is None  # the system prompt starts collapsed
    assert "fake.gguf" in panel.model_status.value


def test_generate_streams_then_renders_with_stats(make_panel):
    provider = FakeProvider(CODE_REPLY, delay=0.02)
    panel = make_panel(provider)
    seen: list[str] = []
    panel.output.observe(lambda c: seen.append(c["new"][0]["data"]["text/markdown"] if c["new"]
                                               else ""), "outputs")
    worker = panel.generate("write an add function")
    assert worker is not None
    assert enabled(panel)["stop"] and not enabled(panel)["generate"]
    assert panel.wait(30)
    assert panel.state is State.IDLE
    partial = [text for text in seen if text.endswith(CURSOR)]
    assert len(partial) >= 2, seen  # the answer grew in place before the final render
    final = panel.output.outputs[0]["data"]["text/markdown"]
    assert "```python\ndef add(a, b):" in final and CURSOR not in final
    for part in ("6 tokens", "tok/s", "first token", "seed "):
        assert part in panel.stats.value
    assert enabled(panel) == {"generate": True, "stop": False, "insert": True, "copy": True,
                              "defaults": True}
    assert last_panel_code() == "def add(a, b):\n    return a + b\n"
    assert provider.requests[0].messages[-1]["content"] == "write an add function"


def test_buttons_while_generating(make_panel):
    provider = FakeProvider(LONG_REPLY, delay=0.01)
    panel = make_panel(provider)
    panel.generate("count")
    wait_until(lambda: panel.state is State.GENERATING)
    assert enabled(panel) == {"generate": False, "stop": True, "insert": False, "copy": False,
                              "defaults": True}
    assert panel.generate("again") is None  # a second Generate is ignored, not queued
    assert len(provider.requests) == 1


def test_settings_of_the_controls_reach_the_provider(make_panel):
    provider = FakeProvider(CODE_REPLY)
    panel = make_panel(provider)
    panel.temperature.value, panel.top_p.value, panel.top_k.value = 0.0, 0.5, 7
    panel.max_tokens.value, panel.repeat_penalty.value = 3, 1.2
    panel.fixed_seed.value, panel.seed.value = True, 1234
    panel.system.value = "be terse"
    panel.generate("x")
    panel.wait(30)
    config = provider.requests[0].config
    assert (config.temperature, config.top_p, config.top_k, config.max_tokens,
            config.repeat_penalty, config.seed, config.system) \
        == (0.0, 0.5, 7, 3, 1.2, 1234, "be terse")
    assert provider.requests[0].messages[0] == {"role": "system", "content": "be terse"}
    assert "cut at max_tokens" in panel.stats.value


def test_the_check_box_checks_the_answer_and_the_status_says_how_it_ended(make_panel):
    """Fake provider; the examples run in the real sandbox (tests/unit/test_check_sandbox.py)."""
    provider = AnswersProvider(["```python\ndef double(x):\n    return x + x\n```"])
    panel = make_panel(provider)
    assert panel.check.value is False  # off unless asked: nothing is run
    panel.check.value = True
    panel.generate("write double(x)\n\n>>> double(4)\n8")
    panel.wait(60)
    assert provider.requests[0].config.check is True
    assert panel.result.check is not None and panel.result.check.verified
    assert "checked: 1/1 examples pass" in panel.status.value
    assert "checked: 1/1 examples pass" in panel.stats.value


def test_unfixed_seed_is_random_and_shown(make_panel):
    panel = make_panel()
    assert panel.seed.disabled
    panel.generate("x")
    panel.wait(30)
    assert f"seed {panel.result.config.seed}" in panel.stats.value


def test_empty_prompt_and_bad_values_say_why_and_start_nothing(make_panel):
    provider = FakeProvider(CODE_REPLY)
    panel = make_panel(provider)
    assert panel.generate("   ") is None
    assert "prompt is empty" in panel.status.value
    with pytest.raises(ConfigError, match="temperature"):
        make_panel(provider, temperature=9)
    with pytest.raises(ConfigError, match="Unknown panel setting"):
        make_panel(provider, temprature=0.1)
    assert provider.requests == [] and panel.state is State.IDLE


def test_provider_error_is_one_message_and_the_panel_recovers(make_panel):
    panel = make_panel(FakeProvider(error=ModelNotFoundError("No model: run `%qwen pull`.")))
    panel.generate("x")
    panel.wait(30)
    assert panel.state is State.IDLE and enabled(panel)["generate"]
    assert "No model: run `%qwen pull`." in panel.status.value


def test_missing_model_shows_in_the_status_line(make_panel):
    panel = make_panel(FallbackProvider(ModelNotFoundError("nothing found")))
    assert "%qwen pull" in panel.model_status.value


def test_updates_are_throttled(make_panel):
    pieces = [f"t{i} " for i in range(300)]
    panel = make_panel(FakeProvider(pieces, delay=0.001), update_interval=0.05)
    updates: list[Any] = []
    panel.output.observe(updates.append, "outputs")
    panel.generate("x")
    panel.wait(30)
    # ~0.3 s+ of tokens at most every 50 ms, plus the clear and the final render — never 300.
    assert 2 <= len(updates) < 60


# -- Stop ---------------------------------------------------------------------------------


def test_stop_halts_within_a_second_and_keeps_the_partial_answer(make_panel):
    provider = FakeProvider(LONG_REPLY, delay=0.01)
    panel = make_panel(provider)
    panel.generate("count to 400")
    wait_until(lambda: panel.output.outputs and "x3 = 3" in
               panel.output.outputs[0]["data"]["text/markdown"])
    panel.stop()
    assert panel.state is State.STOPPING
    assert enabled(panel) == {"generate": False, "stop": False, "insert": False, "copy": False,
                              "defaults": True}
    assert panel.wait(30)
    result = panel.result
    # Stopped long before the end of the reply; the streamer's tests prove "within one token"
    # (no wall-clock assertion here: the CPU is shared).
    assert result.finish_reason == "cancelled" and 0 < result.completion_tokens < len(LONG_REPLY) // 2
    assert "stopped" in panel.status.value and "stopped" in panel.stats.value
    # A cut-off answer is not offered for insertion (as a cell does); copying it is fine.
    assert enabled(panel) == {"generate": True, "stop": False, "insert": False, "copy": True,
                              "defaults": True}
    assert last_panel_code() is None


def test_stop_does_not_forget_the_previous_complete_code(make_panel):
    panel = make_panel(FakeProvider(CODE_REPLY))
    panel.generate("add")
    panel.wait(30)
    panel._provider = FakeProvider(LONG_REPLY, delay=0.01)
    panel.generate("long")
    wait_until(lambda: panel.state is State.GENERATING)
    panel.stop()
    panel.wait(30)
    assert last_panel_code() == "def add(a, b):\n    return a + b\n"


def test_generate_again_after_stop(make_panel):
    provider = FakeProvider(LONG_REPLY, delay=0.005)
    panel = make_panel(provider)
    panel.generate("one")
    wait_until(lambda: panel.state is State.GENERATING)
    panel.stop()
    panel.wait(30)
    provider.pieces = CODE_REPLY
    panel.generate("two")
    panel.wait(30)
    assert panel.result.finish_reason == "stop" and enabled(panel)["insert"]


# -- one generation at a time: busy handling -----------------------------------------------


def test_busy_while_another_generation_holds_the_model(make_panel):
    provider = FakeProvider(CODE_REPLY)
    panel = make_panel(provider)
    with provider.lock:  # what a running %%qwen cell does
        panel.check_busy()
        assert panel.state is State.BUSY
        assert not enabled(panel)["generate"]
        assert "busy" in panel.status.value
        assert panel.generate("x") is None
    panel.check_busy()
    assert panel.state is State.IDLE and enabled(panel)["generate"]
    assert "busy" not in panel.status.value
    assert provider.requests == []


def test_what_was_said_before_busy_is_said_again_after(make_panel):
    """A %%qwen cell that runs after the panel's answer: "done" comes back when it ends."""
    provider = FakeProvider(CODE_REPLY)
    panel = make_panel(provider)
    panel.generate("write add").join(5)
    done = panel.status.value
    assert "done" in done
    with provider.lock:
        panel.check_busy()
        assert "busy" in panel.status.value
    panel.check_busy()
    assert panel.status.value == done


def test_watcher_shows_busy_without_any_call(make_panel):
    provider = FakeProvider(CODE_REPLY)
    panel = make_panel(provider, watch=True, poll_interval=0.02)
    with provider.lock:
        wait_until(lambda: panel.state is State.BUSY)
    wait_until(lambda: panel.state is State.IDLE)
    panel.close()
    panel._watcher.join(1)
    assert not panel._watcher.is_alive()


def test_generate_waits_its_turn_and_stop_ends_the_wait(make_panel):
    provider = FakeProvider(CODE_REPLY)
    panel = make_panel(provider)
    provider.lock.acquire()  # taken between the watcher's look and the click
    try:
        panel.generate("x")
        wait_until(lambda: "waiting" in panel.status.value)
        assert panel.state is State.WAITING and enabled(panel)["stop"]
        panel.stop()
        assert panel.wait(30)
    finally:
        provider.lock.release()
    assert panel.state is State.IDLE and provider.requests == []
    assert "stopped" in panel.status.value


def test_generate_waits_its_turn_then_runs(make_panel):
    provider = FakeProvider(CODE_REPLY)
    panel = make_panel(provider)
    provider.lock.acquire()
    panel.generate("x")
    wait_until(lambda: "waiting" in panel.status.value)
    provider.lock.release()
    assert panel.wait(30)
    assert panel.result.finish_reason == "stop" and len(provider.requests) == 1


class TimedProvider(FakeProvider):
    """A fake that records when each stream held the model, to prove there is no overlap."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.spans: list[tuple[str, float, float]] = []

    def stream(self, request: Any, cancel: threading.Event) -> Any:
        with self.lock:
            start = time.monotonic()
            inner = FakeProvider(self.pieces, delay=self.delay)
            yield from inner.stream(request, cancel)
            self.requests.append(request)
            self.spans.append((request.messages[-1]["content"], start, time.monotonic()))


def test_qwen_cell_during_panel_generation_waits_its_turn(shell):
    shell.fake_provider = provider = TimedProvider(CODE_REPLY, delay=0.05)
    panel = shell.run_line_magic("qwen", "panel")
    panel.update_interval = 0.0
    try:
        panel.generate("from the panel")
        wait_until(lambda: panel.state is State.GENERATING)
        result = shell.run_cell("%%qwen from a cell")  # blocks until the panel is done
        assert result.success, result.error_in_exec
        panel.wait(30)
        (first, start1, end1), (second, start2, _) = provider.spans
        assert (first, second) == ("from the panel", "from a cell") and start2 >= end1
        # Neither answer was interleaved into the other.
        assert panel.result.text == "".join(CODE_REPLY)
        assert shell.user_ns["_qwen"].text == "".join(CODE_REPLY)
    finally:
        panel.close()


# -- the magics: defaults both ways, %qwen panel, %qwen insert -------------------------------


def test_panel_starts_from_the_magics_traits(shell):
    shell.run_line_magic("config", "QwenMagics.temperature = 0.9")
    shell.run_line_magic("config", "QwenMagics.seed = 5")
    panel = shell.run_line_magic("qwen", "panel")
    try:
        assert isinstance(panel, QwenPanel) and panel.session is session.current()
        assert panel.session.registered
        assert panel.temperature.value == 0.9
        assert panel.fixed_seed.value and panel.seed.value == 5 and not panel.seed.disabled
    finally:
        panel.close()


def test_use_as_defaults_sets_the_traits_and_cell_options_still_win(shell):
    panel = shell.run_line_magic("qwen", "panel")
    try:
        panel.temperature.value, panel.top_k.value, panel.max_tokens.value = 0.7, 5, 64
        panel.fixed_seed.value, panel.seed.value = True, 42
        panel.system.value = "be terse"
        values = panel.use_as_defaults()
        assert values["temperature"] == 0.7 and "defaults" in panel.status.value
        magics = shell.magics_manager.registry["QwenMagics"]
        assert (magics.temperature, magics.top_k, magics.max_tokens, magics.seed, magics.system) \
            == (0.7, 5, 64, 42, "be terse")
        shell.run_cell("%%qwen a cell with the panel's defaults")
        config = shell.fake_provider.requests[-1].config
        assert (config.temperature, config.top_k, config.max_tokens, config.seed) \
            == (0.7, 5, 64, 42)
        shell.run_cell("%%qwen -t 0.1 -n 9 this cell's options win")
        config = shell.fake_provider.requests[-1].config
        assert (config.temperature, config.max_tokens, config.top_k) == (0.1, 9, 5)
        # Turning the fixed seed off again means "a new seed each time" for the cells too.
        panel.fixed_seed.value = False
        panel.use_as_defaults()
        assert magics.seed is None
    finally:
        panel.close()


def test_use_as_defaults_without_the_extension_says_how(make_panel):
    panel = make_panel()
    assert not panel.session.registered and panel.use_as_defaults() == {}
    assert "%load_ext qwen_magic" in panel.status.value


def test_package_panel_function_takes_options(shell):
    panel = qwen_magic.panel(temperature=0.5, max_tokens=100, prompt="hi", watch=False)
    try:
        shown = (panel.temperature.value, panel.max_tokens.value, panel.prompt.value)
        assert shown == (0.5, 100, "hi")
        # The extension's defaults, found through the session it registered at %load_ext.
        assert panel.session is session.current() and panel.session.registered
    finally:
        panel.close()


def test_insert_without_a_front_end_points_to_qwen_insert(shell):
    panel = shell.run_line_magic("qwen", "panel")
    panel.update_interval = 0.0
    try:
        panel.generate("add")
        panel.wait(30)
        assert panel.insert() == "unavailable"
        assert "%qwen insert" in panel.status.value
        shell.inserted.clear()
        shell.run_line_magic("qwen", "insert")
        assert shell.inserted == ["def add(a, b):\n    return a + b"]
    finally:
        panel.close()


class FakeCommands:
    def __init__(self) -> None:
        self.executed: list[tuple[str, Any]] = []

    def list_commands(self) -> list[str]:
        return ["notebook:insert-cell-below", "notebook:replace-selection"]

    def execute(self, command_id: str, args: Any = None) -> None:
        self.executed.append((command_id, args))


def fake_frontend(monkeypatch: pytest.MonkeyPatch) -> frontend.FrontEnd:
    front = frontend.FrontEnd(create=False)
    front.app = type("App", (), {"commands": FakeCommands()})()
    monkeypatch.setattr(frontend, "_frontend", front)
    return front


INSERTED = [
    ("notebook:insert-cell-below", None),
    ("notebook:replace-selection", {"text": "def add(a, b):\n    return a + b"}),
]


def test_insert_waits_for_the_front_end_to_answer(make_panel, monkeypatch):
    front = fake_frontend(monkeypatch)
    panel = make_panel()
    assert panel.insert() == "nothing"  # no answer yet
    panel.generate("add")
    panel.wait(30)
    # ipylab's lab_ready arrives after this click has been handled: the insert waits for it.
    assert panel.insert() == "pending" and front.app.commands.executed == []
    assert panel.insert() == "pending"  # a second click does not make a second cell
    front._on_ready()
    assert front.app.commands.executed == INSERTED
    assert "not run" in panel.status.value
    assert panel.insert() == "inserted" and front.app.commands.executed == INSERTED * 2


def test_insert_gives_up_when_the_front_end_never_answers(make_panel, monkeypatch):
    front = fake_frontend(monkeypatch)
    panel = make_panel()
    panel.frontend_timeout = 0.05
    panel.generate("add")
    panel.wait(30)
    assert panel.insert() == "pending"
    wait_until(lambda: "%qwen insert" in panel.status.value)
    front._on_ready()  # too late: the timeout answered, and nothing is inserted behind its back
    assert front.app.commands.executed == []
    assert panel.insert() == "inserted"  # the next click works at once


def test_insert_refuses_a_front_end_without_the_notebook_command(make_panel, monkeypatch):
    front = fake_frontend(monkeypatch)
    front.app.commands.list_commands = lambda: ["console:create"]
    front._on_ready()
    panel = make_panel()
    panel.generate("add")
    panel.wait(30)
    assert panel.insert() == "unavailable" and front.app.commands.executed == []


def test_copy_sends_the_code_to_the_browser(make_panel, monkeypatch):
    front = fake_frontend(monkeypatch)
    panel = make_panel()
    assert panel.copy() is False  # nothing yet
    panel.generate("add")
    panel.wait(30)
    assert panel.copy() is True
    first = panel._script.outputs[0]["data"]["application/javascript"]
    assert '"def add(a, b):\\n    return a + b\\n"' in first
    assert "navigator.clipboard.writeText" in first
    assert "copying" in panel.status.value
    front._on_ready()  # JupyterLab answered: it runs the script
    assert "copied to the clipboard" in panel.status.value
    panel.copy()
    # A new script each time: the front end renders (runs) only what changed.
    assert panel._script.outputs[0]["data"]["application/javascript"] != first


def test_generation_publishes_qwen_like_a_cell(shell):
    panel = shell.run_line_magic("qwen", "panel")
    panel.update_interval = 0.0
    try:
        panel.generate("add")
        panel.wait(30)
        assert shell.user_ns["_qwen"] is panel.result
    finally:
        panel.close()


def test_copy_without_a_known_front_end_says_how_to_copy_by_hand(make_panel):
    panel = make_panel()
    panel.generate("add")
    panel.wait(30)
    assert panel.copy() is True
    assert "Ctrl+C" in panel.status.value


def test_panel_creates_no_front_end_until_asked(make_panel, monkeypatch):
    monkeypatch.setattr(frontend, "_frontend", None)
    make_panel()
    assert frontend._frontend is None  # no ipylab model just for showing the panel


# -- the controls come from a table; the layers import downwards only ------------------------


def test_sliders_are_built_from_the_spec_table(make_panel):
    panel = make_panel()
    assert PANEL_SETTINGS == ("temperature", "top_p", "top_k", "max_tokens", "repeat_penalty",
                              "presence_penalty", "seed", "system", "check")
    # The labels the browser tests find the sliders by, and the ranges people know.
    shown = {spec.name: (getattr(panel, spec.name).description, getattr(panel, spec.name).min,
                         getattr(panel, spec.name).max, getattr(panel, spec.name).step)
             for spec in SLIDERS}
    assert shown == {
        "temperature": ("temperature", 0, 2, 0.05), "top_p": ("top-p", 0, 1, 0.01),
        "top_k": ("top-k", 0, 200, 1), "max_tokens": ("max tokens", 1, 2048, 1),
        "repeat_penalty": ("repeat penalty", 0.5, 2, 0.01),
        "presence_penalty": ("presence penalty", -2, 2, 0.05),
    }
    assert [type(getattr(panel, spec.name)).__name__ for spec in SLIDERS] == [
        "FloatSlider", "FloatSlider", "IntSlider", "IntSlider", "FloatSlider", "FloatSlider"]
    assert all(not getattr(panel, spec.name).continuous_update for spec in SLIDERS)


def test_max_tokens_slider_stretches_to_a_larger_start_the_others_do_not(make_panel):
    panel = make_panel(max_tokens=4000, temperature=3.0)
    assert (panel.max_tokens.max, panel.max_tokens.value) == (4000, 4000)
    assert panel.temperature.max == 2  # as before the table: the slider holds at its end


def test_buttons_carry_their_labels_and_follow_the_state_names(make_panel):
    panel = make_panel()
    labels = {name: getattr(panel, f"{name}_button").description for name in BUTTONS}
    assert labels == {"generate": "Generate", "stop": "Stop", "insert": "Insert as cell",
                      "copy": "Copy", "defaults": "Use as defaults"}
    assert set(buttons_for(State.IDLE, True, True)) == set(BUTTONS)


PACKAGE = Path(qwen_magic.__file__).parent


def imported_modules(path: Path) -> set[str]:
    """The modules ``path`` imports, relative ones resolved against qwen_magic."""
    package = ".".join(("qwen_magic", *path.relative_to(PACKAGE).parent.parts))
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = package.rsplit(".", node.level - 1)[0] if node.level else ""
            module = ".".join(part for part in (base, node.module or "") if part)
            names.add(module)
            names.update(f"{module}.{alias.name}" for alias in node.names)
    return names


def test_the_panel_never_imports_the_magics_and_the_state_machine_no_widgets():
    for path in sorted((PACKAGE / "widgets").glob("*.py")):
        assert not {n for n in imported_modules(path) if n.startswith("qwen_magic.notebook.magics")}, path
    assert not {n for n in imported_modules(PACKAGE / "widgets" / "state.py")
                if n.split(".")[0] in ("ipywidgets", "IPython", "qwen_magic")}


def test_importing_the_panel_loads_no_magics():
    code = ("import sys, qwen_magic.widgets; "
            "assert 'qwen_magic.notebook.magics' not in sys.modules, 'magics imported'")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr
