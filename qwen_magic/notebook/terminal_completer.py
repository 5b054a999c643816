"""Completion as you type in terminal IPython, through prompt_toolkit itself.

IPython 9's own LLM suggestions (``TerminalInteractiveShell.llm_provider_class``) need
jupyter-ai installed; this does the same with the kernel's model and nothing else. ``Ctrl-Q``
(:data:`KEY`) asks the model to fill in at the cursor, with this session's earlier inputs as
context. The answer streams in as prompt_toolkit's grey suggestion after the cursor, computed
in a thread so that typing never waits; IPython's own keys accept it (→ or End: all of it,
Ctrl-→: a word) and typing on discards and cancels it. Each change to the text also hands it
to ``read_ahead``, so that the model has read the typed text before the key is pressed.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from ..completion import Completion, CompletionRequest
from ..options import CHARS_PER_TOKEN, COMPLETION_CONTEXT_TOKENS, COMPLETION_MAX_TOKENS

KEY = "c-q"

CompleteFn = Callable[[CompletionRequest, threading.Event, Callable[[str], None]], Completion]
#: ``read_ahead(context_cells, text_before_cursor)``: returns at once; the model reads later.
ReadAheadFn = Callable[[tuple[str, ...], str], None]


class TerminalCompleter:
    """The key binding and the suggestion it streams into the prompt's buffer."""

    def __init__(self, shell: Any, complete: CompleteFn, *, read_ahead: ReadAheadFn | None = None,
                 max_tokens: int = COMPLETION_MAX_TOKENS.default,
                 context_chars: int = COMPLETION_CONTEXT_TOKENS.default * CHARS_PER_TOKEN) -> None:
        self.shell, self.complete, self.read_ahead = shell, complete, read_ahead
        self.max_tokens, self.context_chars = max_tokens, context_chars
        self._cancel = threading.Event()
        self._previous_bindings: Any = None

    def install(self) -> bool:
        """Bind :data:`KEY` in the shell's prompt; False where there is no prompt_toolkit app."""
        app = getattr(self.shell, "pt_app", None)
        if app is None:
            return False
        from prompt_toolkit.filters import has_focus
        from prompt_toolkit.key_binding import KeyBindings, merge_key_bindings

        bindings = KeyBindings()
        bindings.add(KEY, filter=has_focus("DEFAULT_BUFFER"))(self._on_key)
        self._previous_bindings = app.key_bindings
        app.key_bindings = merge_key_bindings([app.key_bindings, bindings])
        app.default_buffer.on_text_changed += self._on_text_changed
        return True

    def uninstall(self) -> None:
        app = getattr(self.shell, "pt_app", None)
        self._cancel.set()
        if app is not None and self._previous_bindings is not None:
            app.key_bindings = self._previous_bindings
            app.default_buffer.on_text_changed -= self._on_text_changed
            self._previous_bindings = None

    def context_cells(self) -> tuple[str, ...]:
        """This session's earlier inputs, as the notebook's earlier cells."""
        history = self.shell.user_ns.get("In", [])
        return tuple(cell for cell in history[1:] if cell.strip())

    def request_for(self, before: str, after: str) -> CompletionRequest:
        return CompletionRequest(before, after, context_cells=self.context_cells(),
                                 max_tokens=self.max_tokens, context_chars=self.context_chars)

    # -- prompt_toolkit side (its event loop thread) ----------------------------------------

    def _on_text_changed(self, buffer: Any) -> None:
        self._cancel.set()  # typing on: the suggestion being written is for another text
        if self.read_ahead is not None:
            self.read_ahead(self.context_cells(), buffer.document.text_before_cursor)

    def _on_key(self, event: Any) -> None:
        from prompt_toolkit.auto_suggest import Suggestion

        buffer = event.current_buffer
        document = buffer.document
        request = self.request_for(document.text_before_cursor, document.text_after_cursor)
        self._cancel.set()
        cancel = self._cancel = threading.Event()
        app, loop = event.app, event.app.loop
        shown = [""]

        def show() -> None:
            # Only while the text is still what the request was for.
            if not cancel.is_set() and buffer.document.text == document.text:
                buffer.suggestion = Suggestion(shown[0])
                app.invalidate()

        def on_text(delta: str) -> None:
            shown[0] += delta
            loop.call_soon_threadsafe(show)

        def work() -> None:
            try:
                self.complete(request, cancel, on_text)
            except Exception as exc:  # noqa: BLE001 - one line under the prompt, never a crash
                message = f"qwen: {exc}".splitlines()[0]
                loop.call_soon_threadsafe(lambda: app.print_text(message + "\n"))

        threading.Thread(target=work, name="qwen-magic-terminal-completion", daemon=True).start()
