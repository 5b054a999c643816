"""The names a notebook's code cells use, the most recently used first.

A cell is read with :mod:`ast` after the front end's own transform (IPython's
``shell.transform_cell``: ``%magic`` and ``!shell`` lines become plain Python), so only
``notebook/`` needs IPython; without one, the source is read as it is. A cell that does not
parse — the one being typed usually does not — is scanned for identifiers instead. Each cell's
names are remembered by its text, so after a cell runs only that cell is read again.
"""

from __future__ import annotations

import ast
import functools
import keyword
import re
from collections.abc import Callable, Sequence

from ..cell_scope import dotted_name

Transform = Callable[[str], str]

#: Attribute chains are kept up to this many parts: ``shoplib.load_orders``, ``a.b.c``.
CHAIN_PARTS = 3
_BOUND_LAST = 1 << 30  # the column of a name being assigned: after everything on its line
_IDENTIFIER_CHAIN = re.compile(r"(?<![\w.])[A-Za-z_]\w*(?:\s*\.\s*[A-Za-z_]\w*)*")


def names_used(cells: Sequence[str], transform: Transform | None = None,
               limit: int = 200) -> list[str]:
    """Names and dotted chains (``np``, ``shoplib.load_orders``) the cells use, newest first.

    ``cells`` come oldest first, as a notebook lists them; within a cell a later use is the
    more recent one. A name counts once, where it was last used.
    """
    seen: dict[str, None] = {}
    for cell in reversed(cells):
        for name in cell_names(cell, transform):
            seen.setdefault(name, None)
            if len(seen) >= limit:
                return list(seen)
    return list(seen)


@functools.lru_cache(maxsize=2048)
def cell_names(source: str, transform: Transform | None = None) -> tuple[str, ...]:
    """One cell's names, the last used first."""
    code = source
    if transform is not None:
        try:
            code = transform(source)
        except Exception:  # the front end's transform failing must not stop the completion
            code = source
    try:
        tree = ast.parse(code)
    except (SyntaxError, ValueError):  # ValueError: a null byte
        return _scanned(source)
    return _tree_names(tree)


def _tree_names(tree: ast.AST) -> tuple[str, ...]:
    found: list[tuple[int, int, str]] = []
    for node in ast.walk(tree):
        names = _names_of(node)
        magic_code = _magic_code(node)
        if magic_code is not None:
            names = [*names, *magic_code]  # inside the magic: later than the call's own names
        line, column = getattr(node, "lineno", 0), getattr(node, "col_offset", 0)
        if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            column = _BOUND_LAST  # `x = f(y)`: x is bound after f and y are read
        for name in names:
            found.append((line, column, name))
    found.sort(key=lambda item: (item[0], item[1]), reverse=True)
    return tuple(dict.fromkeys(name for _, _, name in found))


def _magic_code(node: ast.AST) -> list[str] | None:
    """The names in the Python a magic runs (``%time x = f()``, ``%%timeit``), newest first.

    After IPython's transform such a line is ``get_ipython().run_line_magic('time', '...')``:
    the code is a string argument. A magic whose text is not Python (``%%bash``, a
    ``%%qwen`` prompt) does not parse and gives nothing.
    """
    if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
            and node.func.attr in ("run_line_magic", "run_cell_magic") and node.args):
        return None
    code = node.args[-1]
    if not (isinstance(code, ast.Constant) and isinstance(code.value, str)):
        return None
    try:
        inner = ast.parse(code.value)
    except (SyntaxError, ValueError):
        return None
    return list(_tree_names(inner))


def _names_of(node: ast.AST) -> list[str]:
    if isinstance(node, ast.Name):
        return [node.id]
    if isinstance(node, ast.Attribute):
        chain = _chain(node)
        return [chain] if chain else []
    if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
        return [node.name]
    if isinstance(node, ast.Import):
        # `import a.b` binds `a` (and uses a.b); `import a.b as c` binds `c`.
        return [alias.asname or alias.name.split(".")[0] for alias in node.names]
    if isinstance(node, ast.ImportFrom):
        return [alias.asname or alias.name for alias in node.names if alias.name != "*"]
    return []


def _chain(node: ast.Attribute) -> str | None:
    """``a.b.c`` for an attribute chain that starts at a name; None for ``f().x``, ``d[k].x``."""
    dotted = dotted_name(node)
    return None if dotted is None else ".".join(dotted.split(".")[:CHAIN_PARTS])


def _scanned(source: str) -> tuple[str, ...]:
    """Identifiers and dotted chains in text that does not parse, the last first."""
    found: list[str] = []
    for match in _IDENTIFIER_CHAIN.finditer(source):
        parts = [p.strip() for p in match.group().split(".")]
        if keyword.iskeyword(parts[0]):
            continue
        if len(parts) > 1:
            found.append(parts[0])
        found.append(".".join(parts[:CHAIN_PARTS]))
    found.reverse()  # the last first, and a chain before its root (as from the tree)
    return tuple(dict.fromkeys(found))
