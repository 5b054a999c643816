"""A cell's text as the Python IPython runs, and what ``%qwen fix`` asks of it.

IPython's input transformer turns ``%magic``, ``%%cell magic`` and ``!cmd`` lines into
``get_ipython()`` calls (and strips pasted ``>>>`` prompts) before Python sees a cell, so a
cell is judged on that text: such lines parse, and the analysis sees them as calls into the
kernel. Only the transform needs IPython; the judging itself is plain Python below the front
ends (``qwen_magic.cell_scope``, ``qwen_magic.cell_edits``). Nothing here runs the cell.
"""

from __future__ import annotations

from collections.abc import Collection, Container

from IPython.core.inputtransformer2 import TransformerManager

from ..cell_edits import (
    fails_the_same_way,
    hides_failure,
    likeness,
    missing_again,
    only_repeats,
    syntax_problem,
    unrun_user_line,
)
from ..cell_scope import CellScope, analyze_cell
from ..checked import NOT_A_FIX
from ..codeblocks import extract_code, python_blocks
from ..fixing import Failure


def as_python(cell: str) -> str:
    """The Python that IPython would compile for ``cell``; the cell itself if the transformer
    gives up on it (then compiling reports the error)."""
    try:
        # A fresh manager per call: it is cheap, and no state is shared between threads.
        return TransformerManager().transform_cell(cell)
    except Exception:  # the transformer's own tokenizer errors on some broken cells
        return cell


def cell_scope(cell: str, kernel_names: Container[str] | None = None) -> CellScope:
    """Whether ``cell`` can run on its own in ``--check``'s process, and if not, why.
    ``kernel_names``: the kernel's user namespace (``shell.user_ns``), when at hand."""
    return analyze_cell(as_python(cell), kernel_names)


def cell_syntax_problem(cell: str) -> str | None:
    """None when ``cell`` would compile in IPython (magics and ``!`` lines included), else the
    error in one line."""
    return syntax_problem(as_python(cell))


def repeats_failed_cell(failed_cell: str, fixed_cell: str) -> bool:
    """Whether ``fixed_cell`` is only ``failed_cell`` again (layout and comments aside)."""
    return only_repeats(as_python(failed_cell), as_python(fixed_cell))


__all__ = ["as_python", "cell_scope", "cell_syntax_problem", "corrected_cell", "fix_problem",
           "repeats_failed_cell", "skipped_user_line"]


def corrected_cell(failed_cell: str, answer: str) -> str:
    """The code block of ``answer`` that is the corrected cell: of the blocks that compile and
    do not only repeat ``failed_cell``, the one most like it (the whole cell, edited); else
    the answer's code as any other answer's (:func:`~qwen_magic.codeblocks.extract_code`).

    One block, not all of them joined: a small model often shows the corrected cell twice, or
    a one-line excerpt after it, and joined they would run the fix twice.
    """
    fixes = [code for code in python_blocks(answer)
             if cell_syntax_problem(code) is None and not repeats_failed_cell(failed_cell, code)]
    if not fixes:
        return extract_code(answer)
    best = max(reversed(fixes), key=lambda code: likeness(failed_cell, code))
    return best.rstrip() + "\n"


def fix_problem(failure: Failure, code: str,
                kernel_names: Container[str] | None = None) -> str | None:
    """Why ``code`` is no acceptable corrected cell for the failed cell, or None.

    Starts with :data:`~qwen_magic.checked.NOT_A_FIX` when there is nothing worth inserting
    (no code, or the failed cell again). Found without running anything, the rest are asked
    for afresh and inserted marked if no answer does better: a cell that does not parse; one
    that must fail as the failed cell did (:func:`_fails_again`); one that reads a name
    neither it nor the kernel (``kernel_names``) defines; one that hides the error.
    """
    if not code.strip():
        return f"{NOT_A_FIX} the answer has no code"
    problem = cell_syntax_problem(code)
    if problem:
        return f"it does not parse: {problem}"
    if repeats_failed_cell(failure.source, code):
        return f"{NOT_A_FIX} it only repeats the failed cell"
    failed_python, fixed_python = as_python(failure.source), as_python(code)
    again = _fails_again(failure, failed_python, fixed_python)
    if again:
        return f"it would fail the same way: {again}"
    missing = _undefined_names(code, kernel_names)
    if missing:
        return (f"it reads {', '.join(f'`{name}`' for name in missing)}, which neither the cell "
                "nor the notebook defines")
    if hides_failure(failed_python, fixed_python):
        return "it hides the error instead of fixing it (a new try/except, or lines left out)"
    return None


def _fails_again(failure: Failure, failed_python: str, fixed_python: str) -> str | None:
    """Why the fixed cell must raise as the failed one did, or None: nothing changed up to
    the line that raised, or it still reads the attribute the AttributeError said is not
    there, from the same thing (:mod:`~qwen_magic.cell_edits`)."""
    line = failure.raised_at
    if line is None:  # a SyntaxError: nothing ran
        return None
    if fails_the_same_way(failed_python, fixed_python, line):
        return (f"the line that raised the error (`{failed_python.splitlines()[line - 1].strip()}`)"
                " is unchanged, and so is every line before it")
    attribute = failure.missing_attribute
    receiver = attribute and missing_again(failed_python, fixed_python, line, attribute)
    if receiver:
        return f"it still reads `{receiver}.{attribute}`, which the error says does not exist"
    return None


def _undefined_names(code: str, kernel_names: Container[str] | None) -> tuple[str, ...]:
    """The names ``code`` reads that neither it, the kernel nor the builtins define: a
    NameError waiting (as pyflakes would say). Not decided for a cell with ``%magic`` or
    ``!cmd`` lines, whose assignments (``%time x = f()``) are text the analysis cannot see."""
    if kernel_names is None:
        return ()
    scope = cell_scope(code, kernel_names)
    return () if scope.ipython else scope.undefined_names


def skipped_user_line(failed_cell: str, code: str, lines_run: Collection[int]) -> str | None:
    """Why a clean run of the corrected ``code`` does not count, or None: a line it added
    kept one of the user's from running (:func:`~qwen_magic.cell_edits.unrun_user_line`;
    ``lines_run``: the lines the run went through)."""
    found = unrun_user_line(as_python(failed_cell), as_python(code), lines_run)
    if found is None:
        return None
    guard, line = found
    lines = code.splitlines()
    return (f"it runs cleanly only because its new line {guard} (`{lines[guard - 1].strip()}`) "
            f"keeps the cell's own line {line} (`{lines[line - 1].strip()}`) from running")
