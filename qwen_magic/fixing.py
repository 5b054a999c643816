"""The prompts of ``%qwen fix`` and ``%qwen explain``, built from a failed cell.

Plain Python (no IPython import), so the unit tests build them from real exceptions without
a kernel: the notebook side (``notebook/failures.py``) records what failed and hands in how
to tell the user's cells from library code. A small model answers better from a short
prompt, so the traceback is trimmed to what the user can act on: the frames of their cells,
the innermost frame (where it broke, even inside a library), and the exception line. A
SyntaxError has no frames, only its line and caret, which ``format_exception_only`` keeps.
"""

from __future__ import annotations

import ast
import re
import traceback
from collections.abc import Callable
from dataclasses import dataclass

from .options import DEFAULT_SYSTEM_PROMPT

#: Names a cell's file ("<ipython-input-3-…>" → "In[3]"), or None for any other file.
CellLabel = Callable[[str], "str | None"]


@dataclass(frozen=True)
class Failure:
    """One failed cell: what the user ran and the trimmed error it raised."""

    source: str
    error: str  # the trimmed traceback: the user's frames, then the exception line
    execution_count: int | None = None
    # The line of the cell's own top-level statement that was running when it raised (None
    # for a SyntaxError, which ran nothing): what a corrected cell must change by then.
    raised_at: int | None = None

    @property
    def missing_key(self) -> object:
        """``'Email'`` when the cell raised "KeyError: 'Email'" (a string or number key, read
        from the error's line); None for any other error."""
        for line in reversed(self.error.strip().splitlines()):  # notes may follow it
            if line.startswith("KeyError: "):
                try:
                    key = ast.literal_eval(line.removeprefix("KeyError: "))
                except (ValueError, SyntaxError, MemoryError, RecursionError):
                    return None
                return key if isinstance(key, (str, int)) else None
        return None

    @property
    def missing_attribute(self) -> str | None:
        """``has_key`` when the cell raised "AttributeError: 'dict' object has no attribute
        'has_key'" (on an object, a module or a class); None for any other error."""
        lines = self.error.strip().splitlines()
        match = _NO_ATTRIBUTE.match(lines[-1]) if lines else None
        return match.group(1) if match else None


_NO_ATTRIBUTE = re.compile(r"AttributeError: .* has no attribute '(\w+)'")


def trim_traceback(exc: BaseException, cell_label: CellLabel) -> str:
    """The part of ``exc``'s traceback that matters: cell frames, the last frame, the error."""
    frames = traceback.extract_tb(exc.__traceback__)
    lines: list[str] = []
    for index, frame in enumerate(frames):
        label = cell_label(frame.filename)
        if label is None and index != len(frames) - 1:
            continue  # IPython's own run_code, library internals on the way down
        where = label or frame.filename
        lines.append(f'{where}, line {frame.lineno}, in {frame.name}')
        if frame.line:
            lines.append(f"    {frame.line.strip()}")
    for line in traceback.format_exception_only(type(exc), exc):
        if isinstance(exc, SyntaxError) and exc.filename:
            line = line.replace(f'File "{exc.filename}"', cell_label(exc.filename) or "File")
        lines.append(line.rstrip("\n"))
    return "\n".join(lines)


def raising_line(exc: BaseException, cell_label: CellLabel) -> int | None:
    """The line of the failed cell's top-level statement that was running when ``exc`` was
    raised: the first frame in a cell's file is the cell itself (IPython's own frames come
    before it, deeper calls after). None for a SyntaxError, or when no frame is a cell's."""
    if isinstance(exc, SyntaxError):
        return None
    for frame in traceback.extract_tb(exc.__traceback__):
        if cell_label(frame.filename) is not None:
            return frame.lineno
    return None


#: ``%qwen fix``'s own instructions. The default system prompt asks for code first and at
#: most two sentences after it, the opposite of the order the fix prompt asks for; given both,
#: the 0.5B model followed neither well (the fix bench, plain: 0.50 → 0.58, both halves
#: better, shorter answers; docs/performance.md). The wording matters: measure a change.
#: Plain fix only: under it --check's answers agreed on wrong cells more often (both models).
FIX_SYSTEM_PROMPT = (
    "You are Qwen, fixing a failed Jupyter notebook cell. First say in one or two sentences "
    "what is wrong. Then give the whole corrected cell in one ```python block, changing only "
    "what is wrong: keep the user's names, comments, prints and every line that is right."
)


def fix_system_prompt(system: str | None) -> str | None:
    """The system prompt a plain fix is asked with: :data:`FIX_SYSTEM_PROMPT` in place of the
    default one, but a system prompt the user set (or set to none) is theirs to keep."""
    return FIX_SYSTEM_PROMPT if system == DEFAULT_SYSTEM_PROMPT else system


def fix_prompt(failure: Failure, live_values: str = "") -> str:
    """Ask for a short diagnosis, then the whole corrected cell in one code block.

    ``live_values``: what the notebook's variables the cell reads hold now (the live-data
    description, as Python), so that a misspelt column or key can be corrected to one that
    exists; the cell alone does not show them. The error and the values are indented text,
    not fenced blocks: the cell is the prompt's only code block, since a small model shown
    several blocks answered with the wrong one (the values' annotations).
    """
    values = ("What the notebook's variables it reads hold now:\n"
              + "".join(f"    {line}\n" for line in live_values.strip().splitlines()) + "\n"
              ) if live_values.strip() else ""
    error = "".join(f"    {line}\n" for line in failure.error.strip().splitlines())
    return (
        "This notebook cell failed:\n\n"
        f"```python\n{failure.source.strip()}\n```\n\n"
        f"It raised:\n{error}\n"
        f"{values}"
        "Say in one or two sentences what is wrong. Then give the whole cell again in one "
        "```python block with only the wrong part changed: keep its names, comments and every "
        "line that is right."
    )


def explain_prompt(source: str, failure: Failure | None = None) -> str:
    """Ask what a cell does or, when it failed, why — no corrected code needed."""
    text = f"Explain this notebook cell briefly.\n\n```python\n{source.strip()}\n```"
    if failure is not None:
        text += (f"\n\nIt failed with:\n```\n{failure.error.strip()}\n```\n\n"
                 "Explain what the error means and what caused it.")
    return text


__all__ = ["FIX_SYSTEM_PROMPT", "CellLabel", "Failure", "explain_prompt", "fix_prompt",
           "fix_system_prompt", "raising_line", "trim_traceback"]
