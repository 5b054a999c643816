"""A cell's text as the Python IPython runs, and what ``%qwen fix`` asks of it.

IPython's input transformer turns ``%magic``, ``%%cell magic`` and ``!cmd`` lines into
``get_ipython()`` calls (and strips pasted ``>>>`` prompts) before Python sees a cell, so a
cell is judged on that text: such lines parse, and the analysis sees them as calls into the
kernel. Only the transform needs IPython; the judging itself is plain Python below the front
ends (``qwen_magic.cell_scope``, ``qwen_magic.cell_edits``). Nothing here runs the cell.
"""

from __future__ import annotations

import ast
from collections.abc import Callable, Collection, Container, Mapping
from types import ModuleType

from IPython.core.inputtransformer2 import TransformerManager

from ..cell_edits import (
    called_module,
    fails_the_same_way,
    hides_failure,
    likeness,
    missing_again,
    only_repeats,
    replaced_values,
    syntax_problem,
    unrun_user_line,
)
from ..cell_scope import CellScope, analyze_cell
from ..checked import NOT_A_FIX, FixRules
from ..codeblocks import extract_code, python_blocks
from ..fixing import Failure
from ..format_fields import format_mismatch
from ..missing_keys import Kernel, Keys, dead_branch, missing_key, shared


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
           "fix_rules", "repeats_failed_cell", "skipped_user_line"]


def fix_rules(failure: Failure, kernel_names: Container[str] | None = None) -> FixRules:
    """How ``%qwen fix`` judges corrected cells for ``failure``: the rules below, with the
    kernel's names (``shell.user_ns``) for what the notebook defines."""

    def not_runnable(code: str) -> str | None:  # the correction may read what the cell did not
        scope = cell_scope(code, kernel_names)
        return None if scope.self_contained else scope.reason()

    def accept(code: str) -> str | None:
        return fix_problem(failure, code, kernel_names)

    return FixRules(
        accept=accept,
        not_runnable=not_runnable,
        left_unrun=lambda code, lines_run: skipped_user_line(failure.source, code, lines_run),
        choose_code=lambda text: corrected_cell(failure.source, text, accept))


def corrected_cell(failed_cell: str, answer: str,
                   problem: Callable[[str], str | None] | None = None) -> str:
    """The code block of ``answer`` that is the corrected cell: of the blocks that compile and
    do not only repeat ``failed_cell``, the one most like it (the whole cell, edited) — of
    those ``problem`` finds nothing wrong with, when there are any; else of all its blocks the
    one most like it (then judged a repeat, or said not to parse); else the answer's code as
    any other answer's (:func:`~qwen_magic.codeblocks.extract_code`).

    One block, not all of them joined: a small model often shows the corrected cell twice, or
    a one-line excerpt after it, and joined they would run the fix twice. Untagged blocks
    count only when no block is tagged as Python: beside tagged ones they are what the code
    prints ("This will output: ```(4, 4)```"), which also compiles. ``problem`` (the fix
    rules' verdict) matters because the model often copies the failed cell, barely changed,
    before the block that fixes it: the closer copy is not the better cell.
    """
    blocks = python_blocks(answer, untagged=False) or python_blocks(answer)
    fixes = [code for code in blocks
             if cell_syntax_problem(code) is None and not repeats_failed_cell(failed_cell, code)]
    if problem is not None and len(fixes) > 1:
        fixes = [code for code in fixes if problem(code) is None] or fixes
    candidates = fixes or blocks
    if not candidates:
        return extract_code(answer)
    best = max(reversed(candidates), key=lambda code: likeness(failed_cell, code))
    return best.rstrip() + "\n"


def fix_problem(failure: Failure, code: str,
                kernel_names: Container[str] | None = None) -> str | None:
    """Why ``code`` is no acceptable corrected cell for the failed cell, or None.

    Starts with :data:`~qwen_magic.checked.NOT_A_FIX` when there is nothing worth inserting
    (no code, or the failed cell again). Found without running anything, the rest are asked
    for afresh and inserted marked if no answer does better: a cell that does not parse; one
    that must fail as the failed cell did (:func:`_fails_again`); one that reads a name
    neither it nor the kernel (``kernel_names``) defines, calls a module, or gives a literal
    format string values that cannot fill it (:mod:`~qwen_magic.format_fields`); one that reads
    a key its dict, or a column its DataFrame, is known to lack — the kernel's, when
    ``kernel_names`` is the namespace itself (:mod:`~qwen_magic.missing_keys`); one that sets
    afresh a notebook variable the failed cell reads
    (:func:`~qwen_magic.cell_edits.replaced_values`); one that hides the error.
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
    call = called_module(fixed_python)
    if call:
        return (f"it calls a module as if it were a function (`{call}`): "
                "TypeError: 'module' object is not callable")
    mismatch = format_mismatch(fixed_python)
    if mismatch:
        return mismatch
    # After a KeyError, a `.get` of the key it named only trades the error for a None.
    kernel = _kernel(fixed_python, kernel_names)
    key = missing_key(fixed_python, kernel, failed_key=failure.missing_key)
    if key:
        return key.problem()
    settled = _settled_guard(failed_python, fixed_python, kernel)
    if settled:
        return settled
    replaced = _replaced_values(failure.source, failed_python, fixed_python, kernel_names)
    if replaced:
        return (f"it sets the notebook's {', '.join(f'`{name}`' for name in replaced)} afresh "
                "instead of using what the notebook holds")
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


def _settled_guard(failed_python: str, fixed_python: str, kernel: Kernel) -> str | None:
    """Why a new ``if key in d:`` keeps the user's line from ever running, or None: the
    keys ``d`` is known to have settle the test (:func:`~qwen_magic.missing_keys.dead_branch`),
    and the branch that cannot run holds every user statement of the guard — the verdict
    ``--check`` gives after a run (:func:`skipped_user_line`), here from the text alone."""
    dead = dead_branch(fixed_python, kernel)
    if dead is None:
        return None
    lines = fixed_python.splitlines()
    found = unrun_user_line(failed_python, fixed_python,
                            set(range(1, len(lines) + 1)) - dead.lines)
    if found is None:
        return None
    guard, line = found
    return (f"its new line {guard} (`{lines[guard - 1].strip()}`) decides before it runs — "
            f"{dead.reason} — so the cell's own line {line} (`{lines[line - 1].strip()}`) "
            "never runs")


def _kernel(python_source: str, namespace: Container[str] | None) -> Kernel:
    """What the key rules need of the kernel (:class:`~qwen_magic.missing_keys.Kernel`),
    read from the namespace's values when it has them (``shell.user_ns``): the keys of the
    dicts and frames ``python_source`` names — not the history's (``_``, ``Out``: they will
    have changed), and none that another of them holds too — the builtins it redefines and
    the names that hold modules."""
    if not isinstance(namespace, Mapping):
        return Kernel()
    try:
        named = {node.id for node in ast.walk(ast.parse(python_source))
                 if isinstance(node, ast.Name) and node.id in namespace}
    except (SyntaxError, ValueError, RecursionError):
        return Kernel()
    found = {name: Keys.of(namespace[name]) for name in named
             if not name.startswith("_") and name not in ("In", "Out")}
    keys = {name: known for name, known in found.items() if known is not None}
    aliased = shared(namespace, keys)
    return Kernel(keys={name: known for name, known in keys.items() if name not in aliased},
                  defined=named,
                  modules={name for name in named if isinstance(namespace[name], ModuleType)})


def _replaced_values(failed_cell: str, failed_python: str, fixed_python: str,
                     kernel_names: Container[str] | None) -> tuple[str, ...]:
    """The kernel's variables the failed cell reads and the fixed one assigns anew (only with
    the kernel's names at hand: without them every outside name would count)."""
    if kernel_names is None:
        return ()
    read = cell_scope(failed_cell, kernel_names).notebook_names
    return replaced_values(failed_python, fixed_python, read) if read else ()


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
