"""The ``fix`` section's judge: does a corrected cell run cleanly and print what it must?

The case's ``setup`` (the notebook's earlier cells) and then the corrected cell run in
``--check``'s separate, limited process (``qwen_magic.checking.sandbox``: its public
``run_examples``), never here. The setup is the run's code; the cell is one doctest-like
example run in the same namespace, so its stdout is captured and compared with doctest's
``OutputChecker`` — exactly, but for doctest's one liberty, "1"/"True". The cell is fixed
when it raises nothing and prints exactly the expected text.

The cell runs as IPython runs a cell: the whole cell as one module-level block, except that
a last bare expression is shown (its repr printed, unless it is None or the line ends with
";"), since the notebook shows it too. A cell with IPython syntax (``%magic``, ``!cmd``) is
judged as plain Python, so it is not fixed: the check's process has no IPython.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass

from ..checking.examples import Example
from ..checking.sandbox import Limits, run_examples
from .fix_cases import FixCase


@dataclass(frozen=True)
class FixVerdict:
    fixed: bool  # ran without an exception and printed exactly the expected text
    got: str  # what the cell printed, then the exception's line if it raised (short)
    error: str | None  # the setup's or the run's own failure (a limit, a crash), one line
    seconds: float


def judge_fixed_cell(case: FixCase, cell: str, limits: Limits | None = None) -> FixVerdict:
    """Run ``case.setup`` and then ``cell`` in the check's process (``--check``'s limits unless
    given); fixed when the cell runs cleanly and prints ``case.expected``."""
    if not cell.strip():
        return FixVerdict(False, "", "the answer has no code", 0.0)
    example = Example(source=cell_runner(cell), expected=_as_doctest_output(case.expected))
    run = run_examples(case.setup + "\n", [example], limits or Limits())
    got = run.results[0].got if run.results else ""
    return FixVerdict(run.ok, got, run.error, run.seconds)


def cell_runner(cell: str) -> str:
    """One line that runs ``cell`` in the current module's namespace as IPython would: the
    cell compiled as a block, a last bare expression in ``"single"`` mode so its value is
    displayed. Where the cell does not parse it is compiled whole, to raise its SyntaxError."""
    body, last = _split_last_expression(cell)
    run = f"exec(compile({body!r}, '<cell>', 'exec'), globals())"
    if last is not None:
        run += f"; exec(compile({last!r}, '<cell>', 'single'), globals())"
    return run


def _split_last_expression(cell: str) -> tuple[str, str | None]:
    try:
        tree = ast.parse(cell)
    except (SyntaxError, ValueError):
        return cell, None
    if not tree.body or not isinstance(tree.body[-1], ast.Expr) or cell.rstrip().endswith(";"):
        return cell, None
    last = tree.body[-1]
    lines = cell.splitlines(keepends=True)
    start = sum(len(line) for line in lines[: last.lineno - 1])
    start += len(lines[last.lineno - 1].encode("utf-8")[: last.col_offset].decode("utf-8"))
    return cell[:start], cell[start:].rstrip() + "\n"


def _as_doctest_output(expected: str) -> str:
    # doctest's expected output ends at a blank line; <BLANKLINE> stands for one.
    return "\n".join(line if line.strip() else "<BLANKLINE>" for line in expected.split("\n")) \
        if expected else ""


__all__ = ["FixVerdict", "cell_runner", "judge_fixed_cell"]
