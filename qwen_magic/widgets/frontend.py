"""The browser side of Insert and Copy: JupyterLab's commands through ipylab, clipboard JS.

Inserting a cell from a button click cannot use ``set_next_input``: that payload only
travels on the reply to a cell execution, and a click is not one. JupyterLab 4 and
Notebook 7 are driven through ipylab's ``JupyterFrontEnd`` instead; where that front end
is not there, the panel says so and ``%qwen insert`` inserts the code as the next cell.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from typing import Any


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


def shared_frontend() -> FrontEnd:
    """The one ipylab front end of this kernel, created on first use.

    One per kernel, not per panel: each would be another widget model in the browser, and
    ``lab_ready`` is announced once per model.
    """
    global _frontend
    with _frontend_lock:
        if _frontend is None:
            _frontend = FrontEnd()
        return _frontend


def copy_script(text: str, nonce: int) -> str:
    """JavaScript that puts ``text`` on the clipboard, run by the front end's JS renderer.

    It must run in the browser: the kernel may be on another machine. The click that
    asked for it still counts as a user gesture when this arrives a moment later, which
    both the Clipboard API and the execCommand fallback require. ``nonce`` makes each
    script new: the front end renders (runs) only an output that changed.
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


__all__ = ["FrontEnd", "copy_script", "shared_frontend"]
