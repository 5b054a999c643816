"""QwenPanel: an ipywidgets panel for tuning generation live, on the same cached model.

This module is the wiring: the widgets come from :mod:`.view`, the buttons' rules from
:mod:`.state`, each generation's background thread from :mod:`.worker`, the browser side of
Insert/Copy from :mod:`.frontend`, and the ``%%qwen`` defaults and the provider from the
kernel's :class:`~qwen_magic.session.Session` — never from the magics themselves.

A watcher thread shows "busy" while a ``%%qwen`` cell holds the model: while a cell runs the
kernel handles no comm messages, so only a thread can tell the panel.
"""

from __future__ import annotations

import dataclasses
import itertools
import threading
from typing import Any

import ipywidgets as widgets

from .. import api
from ..errors import ConfigError, QwenMagicError
from ..options import GenerationConfig
from ..providers.base import PromptRead
from ..result import GenerationResult
from ..session import Session, current
from ..status import is_busy, provider_status
from .frontend import FrontEnd, copy_script, shared_frontend
from .state import RUNNING, Event, State, buttons_for, next_state
from .view import (
    CURSOR,
    PANEL_OPTIONS,
    PANEL_SETTINGS,
    PanelView,
    markdown_output,
    model_line,
    problem_line,
    stats_html,
    status_html,
)
from .worker import run_generation

#: Seconds between live updates when the extension (and its %config pace) is not loaded.
DEFAULT_UPDATE_INTERVAL = 0.15

_NO_EXTENSION = ("Load the extension first (`%load_ext qwen_magic`): there are no "
                 "%%qwen defaults to set yet.")


class QwenPanel(widgets.VBox):
    """Prompt, settings and buttons over the shared model; display it as a cell's result.

    ``session`` is where the ``%%qwen`` defaults that seed the controls (and receive "Use as
    defaults") and the model come from: the kernel's own unless given. ``provider`` replaces
    the model (tests pass a fake one). Generation settings given as keywords override the
    defaults in the controls.
    """

    def __init__(
        self,
        session: Session | None = None,
        *,
        provider: Any = None,
        prompt: str = "",
        update_interval: float | None = None,
        poll_interval: float = 0.5,
        watch: bool = True,
        **settings: Any,
    ) -> None:
        super().__init__()
        self.session = session if session is not None else current()
        self._provider = provider
        self._state = State.IDLE
        self._state_lock = threading.RLock()
        self._cancel: threading.Event | None = None
        self._worker: threading.Thread | None = None
        self.result: GenerationResult | None = None
        self._closed = threading.Event()
        self._nonce = itertools.count(1)
        self._status_serial = 0
        self._said_before_busy = ""
        self._insert_pending = False
        self.frontend_timeout = 5.0  # JupyterLab answers in well under a second
        if update_interval is None:
            update_interval = self.session.update_interval(DEFAULT_UPDATE_INTERVAL)
        self.update_interval = update_interval
        self.poll_interval = poll_interval

        unknown = set(settings) - set(PANEL_SETTINGS)
        try:
            if unknown:
                raise ConfigError(
                    f"Unknown panel setting(s): {', '.join(sorted(unknown))}. "
                    f"Valid: {', '.join(PANEL_SETTINGS)}, prompt, session, provider."
                )
            start = self.session.generation_defaults().replace(**settings)
        except ConfigError:
            super().close()  # the widget's comm is already open; do not leak it
            raise

        self._wire(PanelView(prompt, start))
        self.add_class("qwen-panel")

        self._apply_state()
        self.refresh_status()
        self._watcher: threading.Thread | None = None
        if watch:
            self._watcher = threading.Thread(
                target=self._watch, name="qwen-magic-panel-watch", daemon=True
            )
            self._watcher.start()

    def _wire(self, view: PanelView) -> None:
        """Show ``view`` and connect its buttons; its widgets are the panel's attributes too
        (``panel.temperature``, ``panel.generate_button``...), as scripts and tests use them."""
        self.view = view
        self.prompt = view.prompt
        for name, widget in view.named().items():  # one per option: see PanelView.named
            setattr(self, name, widget)
        handlers = {"generate": self._on_generate, "stop": self._on_stop,
                    "insert": self._on_insert, "copy": self._on_copy,
                    "defaults": self._on_defaults}
        for name, button in view.buttons.items():
            setattr(self, f"{name}_button", button)
            button.on_click(handlers[name])
        self.model_status, self.status, self.stats = view.model_status, view.status, view.stats
        self.output, self._script = view.output, view.script
        self.children = view.children

    # -- settings -----------------------------------------------------------------------

    def config(self) -> GenerationConfig:
        """The settings as the controls show them, validated. Raises ConfigError.

        A setting without a control (min_p...) follows the %%qwen default.
        """
        return dataclasses.replace(self.session.generation_defaults(), **self.view.settings())

    def provider(self) -> Any:
        if self._provider is not None:
            return self._provider
        return self.session.provider()

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
        for name, button in self.view.buttons.items():
            if button.disabled != (not enabled[name]):
                button.disabled = not enabled[name]

    def _say(self, message: str, kind: str = "info") -> None:
        text = status_html(message, kind)
        self._status_serial += 1
        if self.status.value != text:
            self.status.value = text

    def refresh_status(self) -> None:
        """The model line: which file, loaded or not, busy or not. Cheap; polled by the watcher."""
        try:
            provider = self.provider()
        except QwenMagicError as exc:
            line = problem_line(exc)
        else:
            line = model_line(provider_status(provider, loading=self.session.loading()))
        if self.model_status.value != line:
            self.model_status.value = line

    def check_busy(self) -> None:
        """Show "busy" while another generation (a %%qwen cell) holds the model.

        Called by the watcher thread: while a cell runs, the kernel handles no comm messages,
        so only a thread can tell the panel; its widget updates still reach the browser.
        """
        if self._state in RUNNING:
            return  # the lock, if held, is ours
        held = self._model_busy()
        if held and self._fire(Event.BUSY):
            self._said_before_busy = self.status.value  # e.g. "stopped": said again after
            self._say("● The model is busy with another generation (a %%qwen cell?); "
                      "Generate is back when it finishes.", "busy")
        elif not held and self._state is State.BUSY and self._fire(Event.FREE):
            self._status_serial += 1
            self.status.value = self._said_before_busy

    def _model_busy(self) -> bool:
        try:
            return is_busy(self.provider())
        except QwenMagicError:
            return False

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
            api.check_prompt(text)
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
        worker = threading.Thread(
            target=run_generation, args=(text, config, cancel), name="qwen-magic-panel",
            daemon=True, kwargs={
                "provider": self.provider, "update_interval": self.update_interval,
                "say": self._say, "started": self._started, "partial": self._show_partial,
                "finished": self._finished})
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

    def _started(self, event: PromptRead) -> None:
        if self._fire(Event.STARTED):
            new = event.prompt_tokens - event.reused_tokens
            self._say(f"▸ generating… (prompt {event.prompt_tokens} tokens, {new} new)")
        self.refresh_status()

    def _show_partial(self, text: str) -> None:
        self.output.outputs = (markdown_output(text + CURSOR),)

    def _finished(self, result: GenerationResult | None, error: BaseException | None,
                  cancel: threading.Event) -> None:
        if result is not None:
            self.result = result
            self.output.outputs = (markdown_output(result.text or "*(no text)*"),)
            self.stats.value = stats_html(result)
            # `_qwen` like a %%qwen cell, and the code for %qwen insert if complete.
            self.session.record_answer(result)
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
        elif result.check is not None:
            self._say(("✓ " if result.check.verified else "⚠ ") + result.check.line())
        else:
            self._say("✓ done")
        self.refresh_status()

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
        if (self.result is None or not self._code().strip()
                or self.result.finish_reason == "cancelled"):
            self._say("Nothing to insert: generate a complete answer first.", "error")
            return "nothing"
        code = self.result.cell_source()  # as a %%qwen cell inserts it: marked if cut or unverified
        if self._insert_pending:
            return "pending"  # a second click while the front end has not answered yet
        front = shared_frontend()
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

        shared_frontend().when_ready(
            lambda: say("✓ code copied to the clipboard."), self.frontend_timeout,
            lambda: say("✓ code sent to the clipboard; if your front end blocked it, "
                        "select the code above and press Ctrl+C."))
        return True

    def _on_defaults(self, _: Any = None) -> None:
        self.use_as_defaults()

    def use_as_defaults(self) -> dict[str, Any]:
        """Make the panel's settings the ``%%qwen`` defaults (the traits ``%config`` sets).

        Options written on a ``%%qwen`` cell still win for that cell, exactly as with %config.
        The session is asked at the click, so a panel opened before ``%load_ext`` works too.
        """
        if not self.session.registered:
            self._say(_NO_EXTENSION, "error")
            return {}
        try:
            config = self.config()
        except ConfigError as exc:
            self._say(str(exc), "error")
            return {}
        values = {name: getattr(config, name) for name in PANEL_SETTINGS}
        if not self.session.set_generation_defaults(values):  # unloaded meanwhile
            self._say(_NO_EXTENSION, "error")
            return {}
        shown = ", ".join(f"{option.name}={values[option.name]!r}" for option in PANEL_OPTIONS
                          if option.widget != "textarea")  # a long text would hide the rest
        self._say(f"✓ defaults for %%qwen cells: {shown}")
        return values


__all__ = ["DEFAULT_UPDATE_INTERVAL", "QwenPanel"]
