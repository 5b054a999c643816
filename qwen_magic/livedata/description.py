"""The description of the notebook's live values: lines for the names its cells use, within
a budget, the most recently used first."""

from __future__ import annotations

import types
from collections.abc import Iterable, Mapping
from typing import Any

from . import static
from .values import call_and_notes, defined_in, describe_value, is_library_callable

#: Names a kernel defines that are not the user's data.
HIDDEN = frozenset({"In", "Out", "get_ipython", "exit", "quit"})
BUDGET_CHARS = 1200  # about 300 tokens
LINE_CHARS = 240  # a DataFrame's columns and dtypes are the line most worth its room
#: Live names looked at, at most: the budget is usually spent long before.
MAX_NAMES = 64
#: Functions and classes listed after a module of the user's own.
MODULE_MEMBERS = 8
SHORTEST_LINE = 12  # less room than this left: no line would fit (``n: int = 1`` is 10)


def describe(namespace: Mapping[str, Any], names: Iterable[str], *,
             budget_chars: int = BUDGET_CHARS, line_chars: int = LINE_CHARS) -> str:
    """Python text about the live values ``names`` refer to, one line each, newest first.

    ``names`` come from :func:`~qwen_magic.livedata.names_used`: plain names and dotted
    chains (``shoplib.load_orders``). A name that is not in ``namespace``, is private
    (``_x``) or is the kernel's own (``In``, ``get_ipython``) gives nothing; so does one whose
    description fails (a library raising on an odd object). A chain gives a line only when it
    leads, through modules and classes, to a function or class of the user's own (the model
    knows the libraries'). A module of the user's own is followed by its functions' and
    classes' lines (:data:`MODULE_MEMBERS` at most), with the room the other names leave:
    how to call them is what the notebook cannot show. Lines longer than ``line_chars`` are
    cut; a line that no longer fits the budget is left out and shorter later ones may still
    come. Never runs user code.
    """
    kept: list[tuple[str, list[str]]] = []  # (name, its lines: its own, then its module's)
    seen: set[str] = set()
    room = budget_chars
    looked_at = 0
    for name in names:  # the names themselves, newest first
        if room < SHORTEST_LINE or looked_at >= MAX_NAMES:
            break
        if name.partition(".")[0] not in namespace:
            continue  # a builtin, a local of a function, a name not run yet: free to skip
        looked_at += 1
        line = _line(namespace, name, line_chars)
        if line is None or line in seen or len(line) + 1 > room:
            continue
        seen.add(line)
        kept.append((name, [line]))
        room -= len(line) + 1
    for name, lines in kept:  # then, with the room left, the user's modules' members
        for member in _members(namespace, name, line_chars) if room >= SHORTEST_LINE else ():
            if member not in seen and len(member) + 1 <= room:
                seen.add(member)
                lines.append(member)
                room -= len(member) + 1
    return "\n".join(line for _, lines in kept for line in lines)


def _members(namespace: Mapping[str, Any], name: str, width: int) -> list[str]:
    """``# shoplib.load_orders(…)`` lines for a module of the user's own named ``name``."""
    module: Any = namespace.get(name) if "." not in name else None
    if not static.is_module(module) or static.is_library(static.module_name(module)):
        return []
    lines: list[str] = []
    for key in list(static.instance_dict(module) or {}):
        if len(lines) >= MODULE_MEMBERS:
            break
        if type(key) is str and not key.startswith("_"):
            try:
                line = _chain_line(f"{name}.{key}", module, [key], width, own_module=True)
            except Exception:
                line = None
            if line is not None:
                lines.append(line)
    return lines


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


def _chain_line(name: str, value: Any, parts: list[str], width: int,
                own_module: bool = False) -> str | None:
    """``# shoplib.load_orders(path, *, currency='EUR'): Read the orders file.``

    ``own_module``: only a function or class defined in the module ``value`` (not one it
    imported).
    """
    module = static.module_name(value) if static.is_module(value) else None
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
    if own_module and defined_in(value) != module:
        return None
    call, notes = call_and_notes(value, skip_first)
    separator = "; " if static.is_class(value) else ": "  # a class's notes start with methods
    line = f"# {name}{call or '(...)'}" + (separator + notes if notes else "")
    return line if len(line) <= width else line[: width - 1] + "…"
