"""The description of the notebook's live values: lines for the names its cells use, within
a budget, the most recently used first."""

from __future__ import annotations

import types
from collections.abc import Iterable, Mapping
from typing import Any

from . import static
from .values import call_and_notes, describe_value, is_library_callable

#: Names a kernel defines that are not the user's data.
HIDDEN = frozenset({"In", "Out", "get_ipython", "exit", "quit"})
BUDGET_CHARS = 1200  # about 300 tokens
LINE_CHARS = 240  # a DataFrame's columns and dtypes are the line most worth its room
#: Names looked at, at most: the budget is usually spent long before.
MAX_NAMES = 64


def describe(namespace: Mapping[str, Any], names: Iterable[str], *,
             budget_chars: int = BUDGET_CHARS, line_chars: int = LINE_CHARS) -> str:
    """Python text about the live values ``names`` refer to, one line each, newest first.

    ``names`` come from :func:`~qwen_magic.livedata.names_used`: plain names and dotted
    chains (``shoplib.load_orders``). A name that is not in ``namespace``, is private
    (``_x``) or is the kernel's own (``In``, ``get_ipython``) gives nothing; so does one whose
    description fails (a library raising on an odd object). A chain gives a line only when it
    leads, through modules and classes, to a function or class of the user's own (the model
    knows the libraries'). Lines longer than ``line_chars`` are cut; a line that no longer
    fits the budget is left out and shorter later ones may still come. Never runs user code.
    """
    lines: list[str] = []
    used = 0
    described: set[str] = set()
    for count, name in enumerate(names):
        if count >= MAX_NAMES or used >= budget_chars:
            break
        line = _line(namespace, name, line_chars)
        if line is None or line in described:
            continue
        described.add(line)
        if used + len(line) + 1 > budget_chars:
            continue
        lines.append(line)
        used += len(line) + 1
    return "\n".join(lines)


def _line(namespace: Mapping[str, Any], name: str, width: int) -> str | None:
    root, _, rest = name.partition(".")
    if root.startswith("_") or root in HIDDEN or root not in namespace:
        return None
    try:
        value = namespace[root]
        if rest:
            return _chain_line(name, value, rest.split("."), width)
        line = describe_value(name, value, width)
    except Exception:  # the allow-list's libraries (pandas…) on an object they reject
        return None
    if line is None:
        return None
    return line if len(line) <= width else line[: width - 1] + "…"


def _chain_line(name: str, value: Any, parts: list[str], width: int) -> str | None:
    """``# shoplib.load_orders(path, *, currency='EUR'): Read the orders file.``"""
    skip_first = False
    for part in parts:
        if part.startswith("_"):
            return None
        value = static.lookup(value, part)
        if value is static.MISSING:
            return None
        skip_first = type(value) is classmethod  # called on the class: without ``cls``
        if static.is_type(value, classmethod, staticmethod):
            value = value.__func__
    if not (static.is_class(value) or static.is_type(value, types.FunctionType,
                                                      types.BuiltinFunctionType)):
        return None  # a constant or an instance: the root's own line says what it is
    if is_library_callable(value):
        return None  # the model knows the libraries' functions
    call, notes = call_and_notes(value, skip_first)
    separator = "; " if static.is_class(value) else ": "  # a class's notes start with methods
    line = f"# {name}{call or '(...)'}" + (separator + notes if notes else "")
    return line if len(line) <= width else line[: width - 1] + "…"
