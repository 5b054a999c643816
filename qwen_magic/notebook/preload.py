"""The background load ``%load_ext`` starts, and a cell's wait for it.

It belongs to the notebook front end rather than below it: only ``%load_ext`` starts one (so
that it returns at once while the model loads), and only a ``%%qwen`` cell waits for one,
with a status line and a cell's Ctrl-C behaviour. The panel learns of it only as
``session.loading()``, through the defaults the magics register; the API and the CLI load
on first use and have no thread to wait for. Imports no IPython.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

from .. import api
from ..errors import GenerationCancelled
from ..providers.base import Provider


class Preload:
    """At most one background load of a provider's model, and the wait for it."""

    def __init__(self) -> None:
        self._thread: threading.Thread | None = None

    def start(self, provider: Provider) -> None:
        """Load ``provider``'s model in a daemon thread, unless it is loaded already or
        loads none into this process (a server's provider)."""
        if api.model_loaded(provider):
            return

        def load() -> None:
            try:
                api.load_model(provider)
            except Exception:  # noqa: BLE001 - the first cell loads again and shows the error
                pass

        self._thread = threading.Thread(target=load, name="qwen-magic-preload", daemon=True)
        self._thread.start()

    @property
    def running(self) -> bool:
        """Whether the background load is still running."""
        return bool(self._thread and self._thread.is_alive())

    def wait(self, status: Callable[[str], object]) -> None:
        """Wait for a running load, saying so with ``status``; Ctrl-C leaves it running.

        Raises GenerationCancelled (one line, not a traceback from threading) when
        interrupted: llama.cpp cannot be stopped halfway through a load.
        """
        thread = self._thread
        if thread is None or not thread.is_alive():
            return
        try:  # the status update too: an interrupt can land while it is being sent
            status("⏳ loading the model (first use in this kernel)…")
            while thread.is_alive():
                thread.join(0.1)  # short waits so Kernel → Interrupt gets through
        except KeyboardInterrupt:
            status("⏹ interrupted — the model keeps loading in the background")
            raise GenerationCancelled(
                "interrupted while the model was loading; it keeps loading in the background "
                "— run the cell again."
            ) from None


__all__ = ["Preload"]
