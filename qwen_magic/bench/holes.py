"""Fill-in-the-middle holes cut from real code, and how a completion of one is judged.

The code is pure-Python modules of the standard library that ships with the interpreter, so
every machine has the same set offline. A *single-line* hole is the rest of a line from a
point inside it (the cursor after what was typed); a *multi-line* hole is the body of a short
function, from its first indented line (the cursor at that indentation). The prefix and suffix
are cut to the budgets an editor would send.
"""

from __future__ import annotations

import ast
import difflib
import random
import sysconfig
from dataclasses import dataclass
from pathlib import Path

#: Modules the holes come from: ordinary application-style Python, no generated tables.
SOURCE_MODULES = ("textwrap", "shlex", "fractions", "statistics", "calendar", "difflib",
                  "heapq", "bisect", "string", "glob", "fnmatch", "csv", "json/decoder",
                  "json/encoder", "colorsys", "quopri", "netrc", "ipaddress")

PREFIX_CHARS, SUFFIX_CHARS = 1500, 400


@dataclass(frozen=True)
class Hole:
    kind: str  # "single" or "multi"
    source: str  # module it was cut from
    prefix: str
    middle: str
    suffix: str
    #: The top-level statement (function or class) around the hole, split at the hole: what
    #: must still parse once the completion fills it.
    unit_before: str
    unit_after: str


@dataclass(frozen=True)
class Score:
    exact: bool
    parses: bool
    similarity: float


def _module_sources() -> list[tuple[str, str]]:
    stdlib = Path(sysconfig.get_paths()["stdlib"])
    out = []
    for name in SOURCE_MODULES:
        path = stdlib / f"{name}.py"
        if path.is_file():
            out.append((name, path.read_text(encoding="utf-8")))
    return out


def make_holes(n_single: int, n_multi: int, seed: int = 0) -> list[Hole]:
    """The same holes on every run with the same seed and Python."""
    rng = random.Random(seed)
    singles: list[Hole] = []
    multis: list[Hole] = []
    for name, text in _module_sources():
        lines = text.splitlines(keepends=True)
        offsets = [0]
        for line in lines:
            offsets.append(offsets[-1] + len(line))

        def hole(kind: str, start: int, end: int, unit: ast.stmt,
                 name: str = name, text: str = text, offsets: list[int] = offsets) -> Hole:
            unit_start = offsets[unit.lineno - 1]
            unit_end = offsets[unit.end_lineno or unit.lineno]
            return Hole(kind, name, text[:start][-PREFIX_CHARS:], text[start:end],
                        text[end:][:SUFFIX_CHARS], text[unit_start:start], text[end:unit_end])

        for unit in ast.parse(text).body:
            for fn in (n for n in ast.walk(unit) if isinstance(n, ast.FunctionDef)):
                body = [s for s in fn.body if not (isinstance(s, ast.Expr)
                                                   and isinstance(s.value, ast.Constant))]
                if not body or fn.end_lineno is None:
                    continue
                first, last = body[0].lineno, fn.end_lineno
                # Multi-line: a body of 2 to 8 lines, from its first statement's indentation.
                if 2 <= last - first + 1 <= 8:
                    line = lines[first - 1]
                    start = offsets[first - 1] + len(line) - len(line.lstrip())
                    multis.append(hole("multi", start, offsets[last] - 1, unit))
                # Single-line: the rest of a one-line statement, cut a few characters in.
                for stmt in body:
                    line = lines[stmt.lineno - 1]
                    code = line.strip()
                    if stmt.end_lineno != stmt.lineno or len(code) < 16:
                        continue
                    indent = len(line) - len(line.lstrip())
                    start = offsets[stmt.lineno - 1] + indent + rng.randint(4, len(code) - 6)
                    end = offsets[stmt.lineno - 1] + len(line.rstrip("\n"))
                    singles.append(hole("single", start, end, unit))
    rng.shuffle(singles)
    rng.shuffle(multis)
    return singles[:n_single] + multis[:n_multi]


def score(hole: Hole, completion: str) -> Score:
    """Exact match, whether the code around the hole still parses, and edit similarity."""
    try:
        ast.parse(hole.unit_before + completion + hole.unit_after)
        parses = True
    except SyntaxError:
        parses = False
    return Score(
        exact=completion.strip() == hole.middle.strip(),
        parses=parses,
        similarity=difflib.SequenceMatcher(None, completion.strip(), hole.middle.strip()).ratio(),
    )
