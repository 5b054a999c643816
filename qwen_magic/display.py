"""The live output of a ``%%qwen`` cell: one display, updated in place as tokens arrive.

Rendering is the front end's job; this sink only sends updates (throttled by the streamer's
ThrottledSink) and, at the end, the final Markdown with the stats footer and the provenance
record in the output's metadata, so a saved notebook says what produced each answer.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from IPython.display import Markdown, Pretty, display

from .providers.base import PromptRead
from .streaming import BaseSink, GenerationResult

CURSOR = "▌"
# Reading this many new prompt tokens takes long enough (~185 tok/s here) to deserve a notice.
LONG_PROMPT_TOKENS = 150


def render(text: str, fmt: str, code: str | None = None) -> Any:
    if fmt == "text":
        return Pretty(text)
    if fmt == "code":
        return Markdown(f"```python\n{code if code is not None else text}\n```")
    return Markdown(text)


class NotebookSink(BaseSink):
    """Shows a status line, then the growing answer, then the final answer with its footer."""

    def __init__(
        self,
        fmt: str = "markdown",
        footer: bool = True,
        metadata: Callable[[GenerationResult], dict[str, Any]] | None = None,
        status: str = "⏳ thinking…",
    ) -> None:
        self.fmt, self.footer, self.metadata = fmt, footer, metadata
        self.handle = display(Markdown(f"*{status}*"), display_id=True)

    def status(self, message: str) -> None:
        self.handle.update(Markdown(f"*{message}*"))

    def on_prompt(self, event: PromptRead) -> None:
        new = event.prompt_tokens - event.reused_tokens
        if new >= LONG_PROMPT_TOKENS:
            self.status(f"⏳ reading {new:,} tokens of context…")

    def on_text(self, delta: str, text: str) -> None:
        shown = Pretty(text + CURSOR) if self.fmt == "text" else Markdown(text + CURSOR)
        self.handle.update(shown)

    def on_finish(self, result: GenerationResult) -> None:
        body = result.text if self.fmt != "code" else None
        if result.finish_reason == "cancelled":
            note = "⏹ *interrupted — partial answer, nothing inserted*"
        else:
            note = f"*{result.stats_line()}*" if self.footer else ""
        shown = render(result.text, self.fmt, result.code if body is None else None)
        if note and self.fmt != "text":
            shown = Markdown(f"{shown.data}\n\n{note}")
        elif note:
            shown = Pretty(f"{result.text}\n\n{note.strip('*')}")
        self.handle.update(shown, metadata=self.metadata(result) if self.metadata else None)
