"""One panel generation, run in a background thread and reported through callbacks.

The panel generates in a thread so that the kernel (and the panel's own Stop button, whose
click arrives as a comm message the kernel must be idle to handle) stays responsive. This
module knows nothing of widgets: it waits its turn for the model, runs the engine and says
what happened; the panel decides what that looks like.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from .. import api
from ..config import GenerationConfig
from ..providers.base import PromptRead
from ..result import GenerationResult
from ..status import is_busy
from ..streaming import BaseSink, ThrottledSink

#: Called once the worker is done: the result (None if nothing ran), the error, the cancel event.
Finished = Callable[[GenerationResult | None, BaseException | None, threading.Event], None]


class _CallbackSink(BaseSink):
    """Feeds the callbacks from the streamer (already throttled by a ThrottledSink)."""

    def __init__(self, started: Callable[[PromptRead], None], partial: Callable[[str], None],
                 say: Callable[[str, str], None]) -> None:
        self.started, self.partial, self.say = started, partial, say

    def on_prompt(self, event: PromptRead) -> None:
        self.started(event)

    def on_text(self, delta: str, text: str) -> None:
        self.partial(text)

    def on_status(self, message: str) -> None:
        if message:  # --check's progress; the stats line says how it ended
            self.say(f"▸ {message}", "info")


def wait_for_model(provider: Any, cancel: threading.Event,
                   say: Callable[[str, str], None]) -> bool:
    """Wait for another generation to let go of the model; False if Stop came first.

    The provider would wait on the lock by itself, but uninterruptibly: polling here is
    what lets Stop work while a %%qwen cell is still generating.
    """
    if is_busy(provider):
        say("◌ waiting: the model is busy with another generation…", "busy")
        while is_busy(provider):
            if cancel.wait(0.1):
                return False
    if not api.model_loaded(provider):
        say("◌ loading the model (first use in this kernel)…", "info")
    return not cancel.is_set()


def run_generation(
    prompt: str,
    config: GenerationConfig,
    cancel: threading.Event,
    *,
    provider: Callable[[], Any],
    update_interval: float,
    say: Callable[[str, str], None],
    started: Callable[[PromptRead], None],
    partial: Callable[[str], None],
    finished: Finished,
) -> None:
    """The worker thread's body. ``finished`` is always called, whatever happens.

    ``provider`` is asked here, in the thread: finding the model may fail, and that failure
    belongs in the panel like any other, not in the click handler.
    """
    result: GenerationResult | None = None
    error: BaseException | None = None
    try:
        chosen = provider()
        if wait_for_model(chosen, cancel, say):
            sink = ThrottledSink(_CallbackSink(started, partial, say), update_interval)
            result = api.run(prompt, config, provider=chosen, sinks=[sink], cancel=cancel)
    except Exception as exc:  # shown in the panel; the kernel and the model stay usable
        error = exc
    finally:
        finished(result, error, cancel)


__all__ = ["run_generation", "wait_for_model"]
