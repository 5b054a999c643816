"""The ``fix`` bench set: everyday failing notebook cells, each with what its fix must print.

The cases live in ``problems/fix.toml``. Each is one failed cell as a user would have it: an
optional ``setup`` (the notebook's earlier cells, run first — the variables the cell reads, or
a file it reads), the failing ``cell``, the exception class it raises (``error``), the exact
stdout the fixed cell must print (``expected``, without its final newline), a ``kind`` (what
went wrong, for the per-kind report) and a ``split``: prompts are tuned on "tune" only and
"heldout" is reported separately. ``reference`` is one correct fix, used only by the unit
tests that prove each case fails as written and can be fixed; it is never shown to a model.

A case with a ``setup`` stands for a cell that reads the kernel's variables or files, which
``%qwen fix --check`` does not run (``qwen_magic.cell_scope``): the bench reports that share.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from importlib import resources

if sys.version_info >= (3, 11):
    import tomllib
else:  # Python 3.10: the same parser, from PyPI (a dependency there only)
    import tomli as tomllib

#: What went wrong, in the order the report lists them.
KINDS = ("name", "type", "syntax", "index", "stdlib", "pandas", "numpy", "format")
SPLITS = ("tune", "heldout")


@dataclass(frozen=True)
class FixCase:
    id: str
    kind: str  # one of KINDS
    split: str  # "tune" or "heldout"
    setup: str  # the notebook's earlier state ("" for none), run before the cell
    cell: str  # the failing cell, as the user wrote it
    error: str  # the name of the exception class the cell raises ("NameError")
    expected: str  # the fixed cell's exact stdout, without its final newline
    reference: str  # one correct fix, for the set's own tests only


def load_fix_cases(splits: tuple[str, ...] = SPLITS, kinds: tuple[str, ...] = KINDS) -> list[FixCase]:
    """The cases of ``splits`` and ``kinds``, in file order."""
    text = resources.files("qwen_magic.bench.problems").joinpath("fix.toml").read_text("utf-8")
    cases = [_case(entry) for entry in tomllib.loads(text)["case"]]
    return [case for case in cases if case.split in splits and case.kind in kinds]


def _case(entry: dict[str, str]) -> FixCase:
    return FixCase(
        id=entry["id"], kind=entry["kind"], split=entry["split"],
        setup=_cell_text(entry.get("setup", "")), cell=_cell_text(entry["cell"]),
        error=entry["error"], expected=entry["expected"].strip("\n"),
        reference=_cell_text(entry["reference"]))


def _cell_text(text: str) -> str:
    # A notebook cell's source has no trailing newline; TOML's ''' blocks end with one.
    return text.rstrip()


__all__ = ["KINDS", "SPLITS", "FixCase", "load_fix_cases"]
