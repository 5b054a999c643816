"""QwenPanel: an ipywidgets panel for tuning generation live, on the same cached model.

The panel generates in a background thread so that the kernel (and the panel's own Stop
button, whose click arrives as a comm message the kernel must be idle to handle) stays
responsive. Its buttons follow a small explicit state machine (:data:`TRANSITIONS`,
:func:`buttons_for`) rather than ad-hoc enable/disable calls scattered over handlers, so
the unit tests can check every state without a browser.

Inserting a cell from a button click cannot use ``set_next_input``: that payload only
travels on the reply to a cell execution, and a click is not one. JupyterLab 4 and
Notebook 7 are driven through ipylab's ``JupyterFrontEnd`` instead; where that front end
is not there, the panel says so and ``%qwen insert`` inserts the code as the next cell.
"""

from __future__ import annotations

import enum
import html
import itertools
import json
import threading
from collections.abc import Callable
from typing import Any

import ipywidgets as widgets

from . import engine
from .config import GenerationConfig
from .errors import ConfigError, QwenMagicError
from .providers.base import PromptRead
from .providers.fallback import FallbackProvider
from .streaming import BaseSink, GenerationResult, ThrottledSink

CURSOR = "▌"

#: Generation settings the panel edits and "Use as defaults" writes to ``QwenMagics``.
PANEL_SETTINGS = ("temperature", "top_p", "top_k", "max_tokens", "repeat_penalty", "seed", "system")


# -- the state machine ----------------------------------------------------------------------


class State(str, enum.Enum):
    IDLE = "idle"              # ready for Generate
    BUSY = "busy"              # someone else (a %%qwen cell, another panel) holds the model
    WAITING = "waiting"        # Generate pressed; the model is loading or still busy
    GENERATING = "generating"  # tokens are streaming into the panel
    STOPPING = "stopping"      # Stop pressed; the worker ends at the next token


class Event(str, enum.Enum):
    GENERATE = "generate"  # the Generate button
    STARTED = "started"    # the provider holds the model and read the prompt
    STOP = "stop"          # the Stop button
    FINISHED = "finished"  # the worker is done (finished, stopped or failed)
    BUSY = "busy"          # the watcher saw another generation take the model
    FREE = "free"          # ... and give it back


TRANSITIONS: dict[tuple[State, Event], State] = {
    (State.IDLE, Event.GENERATE): State.WAITING,
    (State.IDLE, Event.BUSY): State.BUSY,
    (State.BUSY, Event.FREE): State.IDLE,
    (State.WAITING, Event.STARTED): State.GENERATING,
    (State.WAITING, Event.STOP): State.STOPPING,
    (State.WAITING, Event.FINISHED): State.IDLE,
    (State.GENERATING, Event.STOP): State.STOPPING,
    (State.GENERATING, Event.FINISHED): State.IDLE,
    (State.STOPPING, Event.FINISHED): State.IDLE,
}
# Anything else (a double click on Generate, a late STARTED after Stop) leaves the state as
# it is: button clicks and worker callbacks race, and ignoring is the safe answer.

RUNNING = frozenset({State.WAITING, State.GENERATING, State.STOPPING})


def next_state(state: State, event: Event) -> State | None:
    """The state after ``event``, or None when the event does not apply in ``state``."""
    return TRANSITIONS.get((state, event))


def buttons_for(state: State, has_code: bool, complete: bool) -> dict[str, bool]:
    """Which buttons are enabled. Insert needs a complete answer (as a cell does: a stopped
    answer's code is cut off mid-way); Copy takes whatever code is shown."""
    running = state in RUNNING
    return {
        "generate": state is State.IDLE,
        "stop": state in (State.WAITING, State.GENERATING),
        "insert": not running and has_code and complete,
        "copy": not running and has_code,
        "defaults": True,
    }


# -- the front end: insert a cell, copy text ------------------------------------------------


class FrontEnd:
    """JupyterLab / Notebook 7 reached through ipylab, if it answers.

    ipylab's front-end model announces itself with a ``lab_ready`` message once the
    browser has created it; until then (or forever, in classic Notebook, VS Code or a
    headless run) we must not pretend that a command will do anything. It is created on
    the first Insert, not with the panel: front ends without ipylab (VS Code) may prompt
    the user to fetch unknown widget code, which nobody should see just for opening a panel.
    """

    INSERT_COMMAND = "notebook:insert-cell-below"
    TEXT_COMMAND = "notebook:replace-selection"

    def __init__(self, create: bool = True) -> None:
        self.ready = False
        self.app: Any = None
        self._lock = threading.Lock()
        self._waiting: list[Callable[[], None]] = []
        if not create:
            return
        try:
            from ipylab import JupyterFrontEnd
        except ImportError:  # ipylab is a dependency, but a broken install must not break the panel
            return
        try:
            self.app = JupyterFrontEnd()
        except Exception:  # no kernel with comms (plain Python): no front end either
            self.app = None
            return
        self.app.on_ready(self._on_ready)

    def _on_ready(self) -> None:
        with self._lock:
            self.ready = True
            waiting, self._waiting = self._waiting, []
        for callback in waiting:
            callback()

    def when_ready(self, callback: Callable[[], None], timeout: float,
                   on_timeout: Callable[[], None]) -> None:
        """Run ``callback`` once the front end has announced itself, else ``on_timeout``.

        The announcement is a comm message the kernel handles only after the current one
        (a button click) returns, so waiting must be a callback, never a blocking wait.
        """
        once = threading.Lock()

        def run(action: Callable[[], None]) -> None:
            if once.acquire(blocking=False):  # whichever comes first, and only that one
                action()

        with self._lock:
            if not self.ready and self.app is not None:
                self._waiting.append(lambda: run(callback))
                timer = threading.Timer(timeout, run, args=(on_timeout,))
                timer.daemon = True
                timer.start()
                return
        run(callback if self.ready else on_timeout)

    def can_insert(self) -> bool:
        if not self.ready or self.app is None:
            return False
        commands = self.app.commands.list_commands()
        # An empty list means the command list has not been synced yet; trust lab_ready then.
        return not commands or self.INSERT_COMMAND in commands

    def insert_cell_below(self, code: str) -> bool:
        """A new code cell below the active one, holding ``code``; never executed."""
        if not self.can_insert():
            return False
        # Both commands act on the active notebook (clicking the panel made its cell the
        # active one). Lumino runs a command synchronously as it arrives, so the new cell
        # is active, its editor ready, when the second message sets its text.
        self.app.commands.execute(self.INSERT_COMMAND)
        self.app.commands.execute(self.TEXT_COMMAND, {"text": code.rstrip("\n")})
        return True


_frontend: FrontEnd | None = None
_frontend_lock = threading.Lock()


def frontend() -> FrontEnd:
    """The one ipylab front end of this kernel, created on first use."""
    global _frontend
    with _frontend_lock:
        if _frontend is None:
            _frontend = FrontEnd()
        return _frontend


def copy_script(text: str, nonce: int) -> str:
    """JavaScript that puts ``text`` on the clipboard, run by the front end's JS renderer.

    It must run in the browser: the kernel may be on another machine. The click that
    asked for it still counts as a user gesture when this arrives a moment later, which
    both the Clipboard API and the execCommand fallback require.
    """
    return (
        f"/* qwen-magic copy {nonce} */ (function () {{\n"
        f"  const text = {json.dumps(text)};\n"
        "  const legacy = () => {\n"
        "    const area = document.createElement('textarea');\n"
        "    area.value = text; area.style.position = 'fixed'; area.style.opacity = '0';\n"
        "    document.body.appendChild(area); area.select();\n"
        "    try { document.execCommand('copy'); } finally { area.remove(); }\n"
        "  };\n"
        "  if (navigator.clipboard && window.isSecureContext) {\n"
        "    navigator.clipboard.writeText(text).catch(legacy);\n"
        "  } else { legacy(); }\n"
        "})();"
    )


# -- what the panel remembers for %qwen insert ----------------------------------------------

_last_code: str | None = None


def last_panel_code() -> str | None:
    """The code of the last complete answer of any panel in this kernel (for ``%qwen insert``)."""
    return _last_code


# -- the panel ------------------------------------------------------------------------------


def _markdown(text: str) -> dict[str, Any]:
    return {"output_type": "display_data", "metadata": {},
            "data": {"text/markdown": text, "text/plain": text}}


def _find_magics() -> Any:
    """The QwenMagics registered by ``%load_ext qwen_magic`` in the running shell, if any."""
    try:
        from IPython import get_ipython

        from .magics import _registered
    except ImportError:
        return None
    shell = get_ipython()
    return None if shell is None else _registered.get(id(shell))


def _model_lock(provider: Any) -> Any:
    """The lock that serialises generation on ``provider``'s model, if there is one yet.

    The local provider's lock lives on the loaded model (``LoadedModel.lock``); other
    providers (the fake one in tests) may keep their own ``lock``.
    """
    loader = getattr(provider, "loader", None)
    if loader is not None:
        model = loader.cached()
        return None if model is None else model.lock
    return getattr(provider, "lock", None)


class _PanelSink(BaseSink):
    """Feeds the panel from the streamer (already throttled by a ThrottledSink)."""

    def __init__(self, panel: QwenPanel) -> None:
        self.panel = panel

    def on_prompt(self, event: PromptRead) -> None:
        self.panel._started(event)

    def on_text(self, delta: str, text: str) -> None:
        self.panel._show_partial(text)


class QwenPanel(widgets.VBox):
    """Prompt, settings and buttons over the shared model; display it as a cell's result.

    ``magics`` is the ``QwenMagics`` whose traits seed the controls and receive "Use as
    defaults" (found automatically after ``%load_ext qwen_magic``). ``provider`` replaces
    the model (tests pass a fake one). Generation settings given as keywords override the
    magics' values in the controls.
    """

    def __init__(
        self,
        magics: Any = None,
        *,
        provider: Any = None,
        prompt: str = "",
        update_interval: float | None = None,
        poll_interval: float = 0.5,
        watch: bool = True,
        **settings: Any,
    ) -> None:
        super().__init__()
        self.magics = magics if magics is not None else _find_magics()
        self._provider = provider
        self._state = State.IDLE
        self._state_lock = threading.RLock()
        self._cancel: threading.Event | None = None
        self._worker: threading.Thread | None = None
        self.result: GenerationResult | None = None
        self._closed = threading.Event()
        self._nonce = itertools.count(1)
        self._status_serial = 0
        self._insert_pending = False
        self.frontend_timeout = 5.0  # JupyterLab answers in well under a second
        if update_interval is None:
            update_interval = getattr(self.magics, "update_interval", 0.15)
        self.update_interval = update_interval
        self.poll_interval = poll_interval

        unknown = set(settings) - set(PANEL_SETTINGS)
        try:
            if unknown:
                raise ConfigError(
                    f"Unknown panel setting(s): {', '.join(sorted(unknown))}. "
                    f"Valid: {', '.join(PANEL_SETTINGS)}, prompt, magics, provider."
                )
            start = self._initial_config().replace(**settings)
        except ConfigError:
            super().close()  # the widget's comm is already open; do not leak it
            raise

        self._build(prompt, start)
        self.add_class("qwen-panel")

        self._apply_state()
        self.refresh_status()
        self._watcher: threading.Thread | None = None
        if watch:
            self._watcher = threading.Thread(
                target=self._watch, name="qwen-magic-panel-watch", daemon=True
            )
            self._watcher.start()

    def _build(self, prompt: str, start: GenerationConfig) -> None:
        full = widgets.Layout(width="100%")
        self.prompt = widgets.Textarea(
            value=prompt, layout=widgets.Layout(width="100%", height="5em"),
            placeholder="Describe the code you want, e.g. a function that parses ISO dates",
        )
        self.system = widgets.Textarea(value=start.system or "",
                                       layout=widgets.Layout(width="100%", height="6em"))
        # Collapsed: most people never touch it, and it is long.
        self.system_box = widgets.Accordion([self.system], selected_index=None, layout=full)
        self.system_box.set_title(0, "System prompt")

        def slider(kind: type, name: str, value: float, low: float, high: float,
                   step: float = 1) -> Any:
            # continuous_update=False: one sync per release, not one per pixel dragged.
            return kind(value=value, min=low, max=high, step=step, description=name,
                        continuous_update=False, style={"description_width": "8em"},
                        layout=widgets.Layout(width="26em"))

        self.temperature = slider(widgets.FloatSlider, "temperature", start.temperature, 0, 2, 0.05)
        self.top_p = slider(widgets.FloatSlider, "top-p", start.top_p, 0, 1, 0.01)
        self.top_k = slider(widgets.IntSlider, "top-k", start.top_k, 0, 200)
        self.max_tokens = slider(widgets.IntSlider, "max tokens", start.max_tokens, 1,
                                 max(2048, start.max_tokens))
        self.repeat_penalty = slider(widgets.FloatSlider, "repeat penalty", start.repeat_penalty,
                                     0.5, 2, 0.01)
        self.fixed_seed = widgets.Checkbox(value=start.seed is not None, description="fixed seed",
                                           indent=False, layout=widgets.Layout(width="8em"))
        self.seed = widgets.BoundedIntText(value=start.seed or 0, min=0, max=2**32 - 1,
                                           disabled=start.seed is None,
                                           layout=widgets.Layout(width="10em"))
        self.fixed_seed.observe(self._on_fixed_seed, "value")

        def button(label: str, icon: str, style: str, tooltip: str) -> widgets.Button:
            return widgets.Button(description=label, icon=icon, button_style=style, tooltip=tooltip)

        self.generate_button = button("Generate", "play", "primary", "Generate with these settings")
        self.stop_button = button("Stop", "stop", "danger", "Stop (keeps the text so far)")
        self.insert_button = button("Insert as cell", "level-down", "",
                                    "Put the code in a new cell below (not run)")
        self.copy_button = button("Copy", "copy", "", "Copy the code to the clipboard")
        self.defaults_button = button("Use as defaults", "check", "",
                                      "Make these settings the defaults of later %%qwen cells")
        self.generate_button.on_click(self._on_generate)
        self.stop_button.on_click(self._on_stop)
        self.insert_button.on_click(self._on_insert)
        self.copy_button.on_click(self._on_copy)
        self.defaults_button.on_click(self._on_defaults)

        self.model_status = widgets.HTML()
        self.status = widgets.HTML()
        self.output = widgets.Output(layout=widgets.Layout(
            border="1px solid var(--jp-border-color2, #ddd)", padding="0 0.5em", min_height="3em"))
        self.stats = widgets.HTML()
        self._script = widgets.Output(layout=widgets.Layout(display="none"))  # runs Copy's JS

        # Class names give a stylesheet (and the browser test) something stable to hold.
        for widget, name in ((self.model_status, "model"), (self.status, "status"),
                             (self.output, "output"), (self.stats, "stats"),
                             (self.prompt, "prompt")):
            widget.add_class(f"qwen-panel-{name}")

        settings_box = widgets.VBox([
            widgets.HBox([self.temperature, self.top_p]),
            widgets.HBox([self.top_k, self.max_tokens]),
            widgets.HBox([self.repeat_penalty, self.fixed_seed, self.seed]),
        ])
        buttons = widgets.HBox([self.generate_button, self.stop_button, self.insert_button,
                                self.copy_button, self.defaults_button])
        self.children = (
            widgets.HTML("<b>Qwen panel</b>"), self.model_status, self.prompt, self.system_box,
            settings_box, buttons, self.status, self.output, self.stats, self._script,
        )

    def _on_fixed_seed(self, change: dict[str, Any]) -> None:
        self.seed.disabled = not change["new"]

    # -- settings -----------------------------------------------------------------------

    def _initial_config(self) -> GenerationConfig:
        if self.magics is not None:
            return self.magics.generation_config()
        return GenerationConfig()

    def config(self) -> GenerationConfig:
        """The settings as the controls show them, validated. Raises ConfigError."""
        return GenerationConfig(
            temperature=float(self.temperature.value), top_p=float(self.top_p.value),
            top_k=int(self.top_k.value), max_tokens=int(self.max_tokens.value),
            repeat_penalty=float(self.repeat_penalty.value),
            seed=int(self.seed.value) if self.fixed_seed.value else None,
            system=self.system.value,
            min_p=getattr(self.magics, "min_p", 0.0),
        )

    def provider(self) -> Any:
        if self._provider is not None:
            return self._provider
        if self.magics is not None:
            # The magics' own choice honours %config provider / model_path / n_ctx / n_threads.
            getter = getattr(self.magics, "get_provider", None)
            if callable(getter):
                return getter()
        return engine.get_provider()

    # -- state ----------------------------------------------------------------------------

    @property
    def state(self) -> State:
        return self._state

    def _fire(self, event: Event) -> bool:
        with self._state_lock:
            new = next_state(self._state, event)
            if new is None:
                return False
            self._state = new
            self._apply_state()
            return True

    def _apply_state(self) -> None:
        result = self.result
        code = bool(result and result.code.strip())
        complete = bool(result and result.finish_reason != "cancelled")
        enabled = buttons_for(self._state, code, complete)
        for name, button in (("generate", self.generate_button), ("stop", self.stop_button),
                             ("insert", self.insert_button), ("copy", self.copy_button),
                             ("defaults", self.defaults_button)):
            if button.disabled != (not enabled[name]):
                button.disabled = not enabled[name]

    def _say(self, message: str, kind: str = "info") -> None:
        colour = {"info": "inherit", "error": "var(--jp-error-color1, #c62828)",
                  "busy": "var(--jp-warn-color1, #e65100)"}[kind]
        text = f'<span style="color:{colour}">{html.escape(message)}</span>' if message else ""
        self._status_serial += 1
        if self.status.value != text:
            self.status.value = text

    def refresh_status(self) -> None:
        """The model line: which file, loaded or not, busy or not. Cheap; polled by the watcher."""
        line = self._model_line()
        if self.model_status.value != line:
            self.model_status.value = line

    def _model_line(self) -> str:
        try:
            provider = self.provider()
        except QwenMagicError as exc:
            return f"⚠ {html.escape(str(exc))}"
        if isinstance(provider, FallbackProvider):
            return ("⚠ no model found — run <code>%qwen pull</code> to download it "
                    "(see <code>%qwen status</code>)")
        loader = getattr(provider, "loader", None)
        if loader is None:  # a remote server or a test fake: nothing loads in this kernel
            about = provider.describe()
            where = f" at {about['endpoint']}" if about.get("endpoint") else ""
            name = about.get("model") or "the server's model"
            return html.escape(f"● {name} · {provider.name} provider{where}")
        model = loader.cached()
        if model is None:
            try:
                name = loader.resolve().name
            except QwenMagicError as exc:
                return f"⚠ {html.escape(str(exc))}"
            if getattr(self.magics, "loading", False):
                return f"◌ {html.escape(name)} · loading…"
            return f"○ {html.escape(name)} · not loaded yet (loads on first Generate)"
        busy = " · <b>busy</b>" if model.lock.locked() else ""
        return (f"● {html.escape(model.path.name)} · loaded in {model.load_seconds:.1f} s · "
                f"n_ctx {model.config.n_ctx} · {model.config.n_threads} threads{busy}")

    def check_busy(self) -> None:
        """Show "busy" while another generation (a %%qwen cell) holds the model.

        Called by the watcher thread: while a cell runs, the kernel handles no comm messages,
        so only a thread can tell the panel; its widget updates still reach the browser.
        """
        if self._state in RUNNING:
            return  # the lock, if held, is ours
        lock = self._lock_if_loaded()
        held = bool(lock is not None and lock.locked())
        if held and self._fire(Event.BUSY):
            self._say("● The model is busy with another generation (a %%qwen cell?); "
                      "Generate is back when it finishes.", "busy")
        elif not held and self._state is State.BUSY and self._fire(Event.FREE):
            self._say("")

    def _lock_if_loaded(self) -> Any:
        try:
            return _model_lock(self.provider())
        except QwenMagicError:
            return None

    def _watch(self) -> None:
        while not self._closed.wait(self.poll_interval):
            try:
                self.check_busy()
                self.refresh_status()
            except Exception:  # a status poll must never kill the panel; the next one may work
                continue

    def close(self) -> None:
        self._closed.set()
        if self._cancel is not None:
            self._cancel.set()
        super().close()

    # -- Generate / Stop ----------------------------------------------------------------

    def _on_generate(self, _: Any = None) -> None:
        self.generate()

    def generate(self, prompt: str | None = None) -> threading.Thread | None:
        """Start a generation in the background (what the Generate button does).

        Returns the worker thread (tests join it), or None when nothing was started.
        """
        if prompt is not None:
            self.prompt.value = prompt
        text = self.prompt.value
        try:
            engine.check_prompt(text)
            config = self.config()
        except ConfigError as exc:
            self._say(str(exc), "error")
            return None
        with self._state_lock:
            if not self._fire(Event.GENERATE):
                return None
            cancel = self._cancel = threading.Event()
        self.stats.value = ""
        self.output.outputs = ()
        self._say("◌ starting…")
        worker = threading.Thread(target=self._work, args=(text, config, cancel),
                                  name="qwen-magic-panel", daemon=True)
        self._worker = worker
        worker.start()
        return worker

    def _on_stop(self, _: Any = None) -> None:
        self.stop()

    def stop(self) -> None:
        """Ask the running generation to stop; it ends at the next token."""
        with self._state_lock:
            cancel = self._cancel
            if cancel is None or not self._fire(Event.STOP):
                return
            cancel.set()
        self._say("■ stopping…")

    def _work(self, prompt: str, config: GenerationConfig, cancel: threading.Event) -> None:
        result: GenerationResult | None = None
        error: BaseException | None = None
        try:
            provider = self.provider()
            if self._wait_for_model(provider, cancel):
                sink = ThrottledSink(_PanelSink(self), self.update_interval)
                result = engine.run(prompt, config, provider=provider, sinks=[sink], cancel=cancel)
        except Exception as exc:  # shown in the panel; the kernel and the model stay usable
            error = exc
        finally:
            self._finished(result, error, cancel)

    def _wait_for_model(self, provider: Any, cancel: threading.Event) -> bool:
        """Wait for another generation to let go of the model; False if Stop came first.

        The provider would wait on the lock by itself, but uninterruptibly: polling here is
        what lets Stop work while a %%qwen cell is still generating.
        """
        lock = _model_lock(provider)
        if lock is not None and lock.locked():
            self._say("◌ waiting: the model is busy with another generation…", "busy")
            while lock.locked():
                if cancel.wait(0.1):
                    return False
        if getattr(provider, "loader", None) is not None and provider.loader.cached() is None:
            self._say("◌ loading the model (first use in this kernel)…")
        return not cancel.is_set()

    def _started(self, event: PromptRead) -> None:
        if self._fire(Event.STARTED):
            new = event.prompt_tokens - event.reused_tokens
            self._say(f"▸ generating… (prompt {event.prompt_tokens} tokens, {new} new)")
        self.refresh_status()

    def _show_partial(self, text: str) -> None:
        self.output.outputs = (_markdown(text + CURSOR),)

    def _finished(self, result: GenerationResult | None, error: BaseException | None,
                  cancel: threading.Event) -> None:
        global _last_code
        if result is not None:
            self.result = result
            self.output.outputs = (_markdown(result.text or "*(no text)*"),)
            line = result.stats_line()
            if result.config is not None and result.config.seed is not None:
                line += f" · seed {result.config.seed}"
            self.stats.value = f"<small><i>{html.escape(line)}</i></small>"
            if result.finish_reason != "cancelled" and result.code.strip():
                _last_code = result.code
            self._publish(result)
        with self._state_lock:
            if self._cancel is cancel:
                self._cancel = None
            self._fire(Event.FINISHED)
        if error is not None:
            message = str(error) if isinstance(error, QwenMagicError) \
                else f"{type(error).__name__}: {error}"
            self._say(f"⚠ {message}", "error")
        elif result is None:
            self._say("■ stopped before the model started.")
        elif result.finish_reason == "cancelled":
            self._say("■ stopped — partial answer shown; Insert is off for a cut-off answer.")
        elif not result.code.strip():
            self._say("✓ done — the answer has no code to insert.")
        else:
            self._say("✓ done")
        self.refresh_status()

    def _publish(self, result: GenerationResult) -> None:
        # Like a %%qwen cell, the latest answer is `_qwen` in the user's namespace.
        shell = getattr(self.magics, "shell", None)
        if shell is not None:
            shell.user_ns["_qwen"] = result

    def wait(self, timeout: float | None = None) -> bool:
        """Block until the current generation ends (tests and scripts); True if it did."""
        worker = self._worker
        if worker is not None:
            worker.join(timeout)
            return not worker.is_alive()
        return True

    # -- Insert / Copy / Use as defaults -------------------------------------------------

    def _code(self) -> str:
        return self.result.code if self.result is not None else ""

    def _on_insert(self, _: Any = None) -> None:
        self.insert()

    def insert(self) -> str:
        """Insert the code as a new cell below the active one (what Insert as cell does).

        Returns "inserted", "pending" (waiting for the front end to answer, at most
        ``frontend_timeout`` seconds), "unavailable" (it said so) or "nothing".
        """
        code = self._code()
        if not code.strip() or self.result is None or self.result.finish_reason == "cancelled":
            self._say("Nothing to insert: generate a complete answer first.", "error")
            return "nothing"
        if self._insert_pending:
            return "pending"  # a second click while the front end has not answered yet
        front = frontend()
        if front.ready:
            return self._insert_now(front, code)
        self._insert_pending = True
        self._say("◌ asking the front end for a new cell…")
        outcome: list[str] = []
        front.when_ready(lambda: outcome.append(self._insert_now(front, code)),
                         self.frontend_timeout, lambda: outcome.append(self._no_frontend()))
        return outcome[0] if outcome else "pending"

    def _insert_now(self, front: FrontEnd, code: str) -> str:
        self._insert_pending = False
        if front.insert_cell_below(code):
            self._say("↳ inserted as a new cell below (not run).")
            return "inserted"
        return self._no_frontend()

    def _no_frontend(self) -> str:
        self._insert_pending = False
        self._say("This front end offers the panel no way to insert a cell: run "
                  "`%qwen insert` in a cell to get the code as the next cell.", "error")
        return "unavailable"

    def _on_copy(self, _: Any = None) -> None:
        self.copy()

    def copy(self) -> bool:
        """Copy the code to the browser's clipboard (through the front end's JS renderer)."""
        code = self._code()
        if not code.strip():
            self._say("Nothing to copy yet.", "error")
            return False
        script = copy_script(code, next(self._nonce))
        self._script.outputs = ({"output_type": "display_data", "metadata": {},
                                 "data": {"application/javascript": script, "text/plain": ""}},)
        # Whether the script ran cannot be reported back; that the front end is JupyterLab
        # or Notebook 7 (which run it) can, once ipylab has answered.
        self._say("◌ copying…")
        serial = self._status_serial

        def say(message: str) -> None:
            if self._status_serial == serial:  # nothing newer was said in the meantime
                self._say(message)

        frontend().when_ready(
            lambda: say("✓ code copied to the clipboard."), self.frontend_timeout,
            lambda: say("✓ code sent to the clipboard; if your front end blocked it, "
                        "select the code above and press Ctrl+C."))
        return True

    def _on_defaults(self, _: Any = None) -> None:
        self.use_as_defaults()

    def use_as_defaults(self) -> dict[str, Any]:
        """Make the panel's settings the ``QwenMagics`` traits that ``%config`` sets.

        Options written on a ``%%qwen`` cell still win for that cell, exactly as with %config.
        """
        magics = self.magics if self.magics is not None else _find_magics()
        if magics is None:
            self._say("Load the extension first (`%load_ext qwen_magic`): there are no "
                      "%%qwen defaults to set yet.", "error")
            return {}
        self.magics = magics
        try:
            config = self.config()
        except ConfigError as exc:
            self._say(str(exc), "error")
            return {}
        values = {name: getattr(config, name) for name in PANEL_SETTINGS}
        values["system"] = values["system"] or ""
        for name, value in values.items():
            setattr(magics, name, value)
        shown = ", ".join(f"{k}={v!r}" for k, v in values.items() if k != "system")
        self._say(f"✓ defaults for %%qwen cells: {shown}")
        return values


__all__: list[str] = [
    "PANEL_SETTINGS", "TRANSITIONS", "Event", "FrontEnd", "QwenPanel", "State", "buttons_for",
    "copy_script", "frontend", "last_panel_code", "next_state",
]
