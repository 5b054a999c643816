"""Completion holes that need the notebook's live data, and how a completion of one is judged.

Each hole (``live_holes.toml``) is a small notebook: data files in a directory, earlier code
cells that read them, and the current cell with the cursor at a place where the right
completion is a name only the live values show — a column of a DataFrame read from a CSV, a
key of a dict built by a loop, an attribute of an object from the user's own module, a
keyword of a function the notebook imports but never shows. The cells never spell the answer
(tests/unit/test_live_holes.py checks it), so a model that sees only the cells must guess.

Judging, the same with and without the live description: *exact* — the completion names the
right thing (it is one of the hole's answers, or starts with one and goes on with other code:
most holes have the rest of their line after the cursor, and a model may write it again);
*stops at the suffix* — it is exactly an answer; *still runs* — the cells and the completed
cell run without an exception. The last runs the model's code, so it runs only in
``--check``'s sandbox (a separate, limited process; docs/checking.md), never in the bench's
process.

The bench's own setup code — the files and the cells, never a completion — runs in the
bench's process (:func:`live_namespace`), to build the namespace the describer reads.
"""

from __future__ import annotations

import functools
import importlib.util
import os
import re
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from ..checking import CheckRun, Limits, run_examples
from ..livedata import BUDGET_CHARS, describe, names_used

if sys.version_info >= (3, 11):
    import tomllib
else:  # Python 3.10: the same parser, from PyPI (a dependency there only)
    import tomli as tomllib

_NAME_GOES_ON = re.compile(r"\w")
#: Room for ``import pandas`` and the cells on a busy 2-core machine.
SANDBOX_LIMITS = Limits(wall_s=30.0, cpu_s=20)


@dataclass(frozen=True)
class LiveHole:
    id: str
    cells: tuple[str, ...]  # the earlier code cells, oldest first
    prefix: str  # the current cell before the cursor
    suffix: str  # ... and after it
    exact: tuple[str, ...]  # the completions that count as an exact match (stripped)
    wrong: str | None  # a plausible guess without the data: it must not run
    requires: tuple[str, ...]  # modules it needs beyond the standard library

    @property
    def answer(self) -> str:
        return self.exact[0]

    def completed(self, completion: str) -> str:
        """The current cell with ``completion`` at the cursor."""
        return self.prefix + completion + self.suffix

    def available(self) -> bool:
        """Whether the modules it needs are installed (pandas, numpy)."""
        return all(importlib.util.find_spec(name) is not None for name in self.requires)


@functools.lru_cache(maxsize=1)
def _data() -> dict[str, Any]:
    text = resources.files(__package__).joinpath("live_holes.toml").read_text("utf-8")
    return tomllib.loads(text)


def load_files() -> dict[str, str]:
    """The data files the holes' cells read, by file name."""
    return dict(_data()["files"])  # a copy: the cached data stays as read


def load_live_holes() -> list[LiveHole]:
    """Every hole, in file order."""
    return [LiveHole(id=entry["id"], cells=tuple(c.strip() + "\n" for c in entry["cells"]),
                     prefix=entry["prefix"], suffix=entry["suffix"], exact=tuple(entry["exact"]),
                     wrong=entry.get("wrong"), requires=tuple(entry.get("requires", ())))
            for entry in _data()["hole"]]


def write_files(directory: Path) -> None:
    for name, text in load_files().items():
        (directory / name).write_text(text, encoding="utf-8")


@contextmanager
def live_namespace(hole: LiveHole, directory: Path) -> Iterator[dict[str, Any]]:
    """The namespace after the hole's cells ran in ``directory`` (its files written there).

    The working directory and ``sys.path`` are the directory's while the cells run, as in a
    notebook opened there, and restored after; the modules written there (``shoplib``,
    ``geo``) are dropped from ``sys.modules`` on leaving, so the next hole imports its own.
    Runs the bench's setup code only: a completion never runs here (see :func:`still_runs`).
    """
    write_files(directory)
    namespace: dict[str, Any] = {"__name__": "__main__"}
    # A module of the same name imported before (another hole's, anyone's) must not answer
    # the cells' imports: it is set aside while they run, and put back after.
    own_modules = [Path(name).stem for name in load_files() if name.endswith(".py")]
    set_aside = {name: sys.modules.pop(name) for name in own_modules if name in sys.modules}
    cwd = os.getcwd()
    sys.path.insert(0, str(directory))
    os.chdir(directory)
    try:
        for number, cell in enumerate(hole.cells, 1):
            exec(compile(cell, f"<{hole.id} cell {number}>", "exec"), namespace)
        yield namespace
    finally:
        os.chdir(cwd)
        sys.path.remove(str(directory))
        for name in own_modules:
            sys.modules.pop(name, None)
        sys.modules.update(set_aside)


def describe_hole(hole: LiveHole, namespace: dict[str, Any],
                  budget_chars: int = BUDGET_CHARS) -> str:
    """What the completion prompt gets to read about the live values at this hole: the
    names of the cells that ran, as the kernel describes them after the last one (the cell
    being typed is not read: the description stays put while the user types)."""
    return describe(namespace, names_used(hole.cells), budget_chars=budget_chars)


def exact(hole: LiveHole, completion: str) -> bool:
    """Whether the completion names the right thing: it is one of the answers, or starts with
    one and goes on with other code (``unit_price_eur"] > 20`` for ``unit_price_eur``), but
    not with more of a name (``DEU`` is not ``DE``). Whether what follows fits the text after
    the cursor is :func:`still_runs`'s to judge."""
    text = completion.strip()
    return any(text == answer or (text.startswith(answer) and not _NAME_GOES_ON.match(
        text, len(answer))) for answer in hole.exact)


def stops_at_the_suffix(hole: LiveHole, completion: str) -> bool:
    """Whether the completion is exactly an answer: it stopped where the text after the
    cursor begins, rather than writing that text again."""
    return completion.strip() in hole.exact


def program(hole: LiveHole, completion: str) -> str:
    """The whole notebook as one program: write the files, run the cells, the completed cell."""
    files = load_files()
    prelude = ("import os, sys\nsys.path.insert(0, os.getcwd())\n"
               f"for _name, _text in {files!r}.items():\n"
               "    with open(_name, 'w', encoding='utf-8') as _f:\n"
               "        _f.write(_text)\n")
    return "\n".join([prelude, *hole.cells, hole.completed(completion)])


def still_runs(hole: LiveHole, completion: str, limits: Limits = SANDBOX_LIMITS) -> CheckRun:
    """Run the hole's notebook with ``completion`` in ``--check``'s sandbox; ``.ok`` says
    whether it ran without an exception (``.error`` says why not)."""
    return run_examples(program(hole, completion), [], limits)
