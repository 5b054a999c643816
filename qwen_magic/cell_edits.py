"""How a corrected cell relates to the failed one: does it parse, is it only a repeat, how
many lines did it change. Plain functions on text, for ``%qwen fix`` and the bench's ``fix``
section.

``syntax_problem`` and ``only_repeats`` take Python source: IPython's input transformer has
already turned ``%magic`` and ``!cmd`` lines into calls, so they count as valid
(``notebook/cell_python.py`` applies it). ``lines_changed`` takes the cells as the user sees
them.
"""

from __future__ import annotations

import ast
import difflib
import textwrap

# Top-level `await` is valid in a notebook cell (IPython's autoawait).
_CELL_FLAGS = ast.PyCF_ALLOW_TOP_LEVEL_AWAIT


def syntax_problem(python_source: str) -> str | None:
    """None when the cell compiles, else its error in one line: "invalid syntax (line 2)".

    Compiled, never run: compiling also finds what parsing alone accepts (``return`` outside
    a function, ``nonlocal`` at the top level)."""
    try:
        compile(python_source, "<cell>", "exec", flags=_CELL_FLAGS, dont_inherit=True)
    except SyntaxError as exc:  # IndentationError and TabError too
        where = f" (line {exc.lineno})" if exc.lineno else ""
        return f"{type(exc).__name__}: {exc.msg}{where}"
    except ValueError as exc:  # a null byte, before Python 3.11.4
        return f"ValueError: {exc}"
    return None


def only_repeats(failed_python: str, fixed_python: str) -> bool:
    """Whether the "fix" is the failed cell again: the same text up to blank lines, trailing
    spaces and common indentation, or — when both parse — the same code up to comments and layout
    (the same syntax tree)."""
    if _normalized_text(failed_python) == _normalized_text(fixed_python):
        return True
    failed_tree, fixed_tree = _tree(failed_python), _tree(fixed_python)
    return failed_tree is not None and failed_tree == fixed_tree


def lines_changed(failed_cell: str, fixed_cell: str) -> int:
    """Lines changed from the failed cell to the fixed one (difflib's line diff): a replaced
    block counts its longer side, an inserted or deleted line counts one. Trailing spaces
    and blank lines at the end are ignored; a blank line added or removed inside counts."""
    before, after = _lines(failed_cell), _lines(fixed_cell)
    matcher = difflib.SequenceMatcher(None, before, after, autojunk=False)
    return sum(max(i2 - i1, j2 - j1)
               for tag, i1, i2, j1, j2 in matcher.get_opcodes() if tag != "equal")


def likeness(failed_cell: str, fixed_cell: str) -> float:
    """How much of the failed cell's lines the fixed one keeps, 0 to 1 (difflib's ratio)."""
    return difflib.SequenceMatcher(None, _lines(failed_cell), _lines(fixed_cell),
                                   autojunk=False).ratio()


def _lines(cell: str) -> list[str]:
    lines = [line.rstrip() for line in cell.splitlines()]
    while lines and not lines[-1]:
        lines.pop()
    return lines


def _normalized_text(source: str) -> str:
    lines = [line.rstrip() for line in textwrap.dedent(source.expandtabs()).splitlines()]
    return "\n".join(line for line in lines if line)


def _tree(source: str) -> str | None:
    try:
        return ast.dump(ast.parse(source))  # no positions: comments and layout do not count
    except (SyntaxError, ValueError):
        return None


__all__ = ["hides_failure", "likeness", "lines_changed", "only_repeats", "syntax_problem"]


def hides_failure(failed_python: str, fixed_python: str) -> bool:
    """Whether the fixed cell could pass by hiding the error rather than fixing it: it adds a
    ``try`` the failed cell did not have, or has fewer top-level statements (a line left out).

    Both are judged from the syntax trees; a cell that does not parse hides nothing here (its
    syntax is reported on its own).
    """
    try:
        failed, fixed = ast.parse(failed_python), ast.parse(fixed_python)
    except SyntaxError:
        return False

    kinds = tuple(getattr(ast, name) for name in ("Try", "TryStar") if hasattr(ast, name))

    def tries(tree: ast.AST) -> int:
        return sum(isinstance(node, kinds) for node in ast.walk(tree))

    return tries(fixed) > tries(failed) or len(fixed.body) < len(failed.body)
