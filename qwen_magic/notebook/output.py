"""The live output of a ``%%qwen`` cell: one display, updated in place as tokens arrive.

Rendering is the front end's job; this sink only sends updates (throttled by the streamer's
ThrottledSink) and, at the end, the final Markdown with the stats footer and the provenance
record in the output's metadata, so a saved notebook says what produced each answer.
Terminal IPython, which cannot update an output in place, gets the tokens printed instead.
:func:`cell_output` picks one of the two for a cell.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import dataclass
from importlib.metadata import version as package_version
from typing import Any

from IPython.display import display

from ..providers.base import PromptRead
from ..result import GenerationResult
from ..streaming import BaseSink, Sink, TextIOSink, ThrottledSink
from .insert import is_terminal

CURSOR = "▌"
# Reading this many new prompt tokens takes a second or more (prompt rates: docs/performance.md),
# long enough to deserve a notice.
LONG_PROMPT_TOKENS = 150


def bundle(markdown: str, plain: str) -> dict[str, str]:
    """A raw MIME bundle: Markdown for notebooks, the same text as plain text for consoles."""
    return {"text/markdown": markdown, "text/plain": plain}


def render(text: str, fmt: str, code: str) -> dict[str, str]:
    if fmt == "text":
        return {"text/plain": text}
    if fmt == "code":
        return bundle(f"```python\n{code.rstrip()}\n```", code)
    return bundle(text, text)


class NotebookSink(BaseSink):
    """Shows a status line, then the growing answer, then the final answer with its footer."""

    def __init__(
        self,
        fmt: str = "markdown",
        footer: bool = True,
        metadata: Callable[[GenerationResult], dict[str, Any]] | None = None,
        status: str = "⏳ thinking…",
        note: str = "",
    ) -> None:
        self.fmt, self.footer, self.metadata = fmt, footer, metadata
        self.note = note  # appended to the footer ("2 earlier turns dropped")
        self.handle = display(bundle(f"*{status}*", status), raw=True, display_id=True)
        self.text = ""  # the answer so far, for a status line shown under it

    def status(self, message: str) -> None:
        # An empty message clears the line: a failed cell shows only its one-line error.
        shown = bundle(f"*{message}*", message) if message else {"text/plain": ""}
        self.handle.update(shown, raw=True)

    def on_status(self, message: str) -> None:
        # --check's progress, under the answer it is about; the final render replaces it.
        if message:
            self.handle.update(bundle(f"{self.text}\n\n*⏳ {message}*", f"{self.text}\n\n{message}"),
                               raw=True)

    def on_prompt(self, event: PromptRead) -> None:
        new = event.prompt_tokens - event.reused_tokens
        if new >= LONG_PROMPT_TOKENS:
            self.status(f"⏳ reading {new:,} tokens of context…")

    def on_text(self, delta: str, text: str) -> None:
        self.text = text
        # While streaming, every format shows the raw answer: the code is not final yet.
        shown = {"text/plain": text + CURSOR} if self.fmt == "text" else bundle(text + CURSOR, text)
        self.handle.update(shown, raw=True)

    def on_finish(self, result: GenerationResult) -> None:
        if result.finish_reason == "cancelled":
            note = "⏹ interrupted — partial answer, nothing inserted"
        else:
            note = " · ".join(p for p in (_footer(result, self.footer), self.note) if p)
        shown = render(result.text, self.fmt, result.code)
        markdown = shown.get("text/markdown")
        if markdown is not None and markdown.count("```") % 2:
            # Cut off inside a code block (max_tokens, Stop): close it, or the footer would
            # render as part of the code.
            shown["text/markdown"] = markdown.rstrip("\n") + "\n```"
        if note:
            shown = {mime: f"{body}\n\n{'*' + note + '*' if mime == 'text/markdown' else note}"
                     for mime, body in shown.items()}
        metadata = self.metadata(result) if self.metadata else {}
        self.handle.update(shown, raw=True, metadata=metadata)


class TerminalSink(TextIOSink):
    """Terminal IPython: tokens printed as they come, stats after."""

    def __init__(self, footer: bool, note: str = "") -> None:
        super().__init__(None)
        self.footer, self.note = footer, note

    def on_finish(self, result: GenerationResult) -> None:
        super().on_finish(result)
        if result.finish_reason == "cancelled":
            print("[interrupted — nothing inserted]", file=sys.stderr)
        else:
            note = " · ".join(p for p in (_footer(result, self.footer), self.note) if p)
            if note:
                print(f"[{note}]", file=sys.stderr)


def _footer(result: GenerationResult, stats: bool) -> str:
    """The stats line, or without stats just what ``--check`` found (asked for, so shown)."""
    if stats:
        return result.stats_line()
    return result.check.line() if result.check is not None else ""


def provenance(result: GenerationResult) -> dict[str, Any]:
    """The record a notebook saves with an answer (the final output's metadata)."""
    return {"qwen_magic": {
        "version": package_version("qwen-magic"),
        **result.provenance,
        **(result.config.as_dict() if result.config else {}),
        "prompt_tokens": result.prompt_tokens,
        "completion_tokens": result.completion_tokens,
        "finish_reason": result.finish_reason,
    }}


@dataclass(frozen=True)
class CellOutput:
    """Where one ``%%qwen`` cell's answer goes: the sink the streamer feeds, and a status line
    for what happens before the answer ("⏳ loading the model…"; an empty message clears it)."""

    sink: Sink
    status: Callable[[str], None]


def _print_status(message: str) -> None:
    if message:
        print(message, file=sys.stderr)


def cell_output(
    shell: Any, fmt: str, footer: bool, update_interval: float, note: str = ""
) -> CellOutput:
    """The output of a cell in ``shell``: in a notebook (any shell but terminal IPython) a
    :class:`NotebookSink` behind a :class:`ThrottledSink`, in terminal IPython a
    :class:`TerminalSink`."""
    if is_terminal(shell):
        return CellOutput(TerminalSink(footer, note), _print_status)
    inner = NotebookSink(fmt, footer, provenance, note=note)
    return CellOutput(ThrottledSink(inner, update_interval), inner.status)
