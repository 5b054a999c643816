"""The ``fix`` section: ``%qwen fix`` on everyday failing cells, judged by running the inserted
cell (``problems/fix.toml``: 64 cells, 8 kinds, split into ``tune`` and ``heldout`` halves).

Each case runs as a user meets it, in the bench's IPython shell with the extension loaded: its
setup cell (the notebook's earlier state), then the failing cell, then ``%qwen fix`` — plain,
and again with ``--check``. The inserted cell (never run by the product) is judged in
``--check``'s separate process by :func:`.fix_judge.judge_fixed_cell`: setup, then the cell,
must run cleanly and print what the case expects. Reported per mode: inserted (a corrected
cell offered), fixed, verified (the footer says "checked") and how many of those are fixed,
the median lines changed against the failed cell, time, per kind and
per split — the prompt is tuned on ``tune`` only, ``heldout`` says how that generalizes.
"""

from __future__ import annotations

import contextlib
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from typing import Any

from ..cell_edits import lines_changed
from .fix_cases import KINDS, SPLITS, FixCase, load_fix_cases
from .fix_judge import judge_fixed_cell

MODES = ("plain", "check")


def fix_section(bench: Any, progress: Any) -> dict[str, Any]:
    """Every case of the chosen splits, in both modes; a row each, and the summaries."""
    plan = bench.plan
    cases = load_fix_cases(splits=plan.fix_splits)[: plan.fix_cases or None]
    shell = bench.magic.shell
    inserted: list[str] = []
    shell.set_next_input = lambda text, replace=False: inserted.append(text)
    shell.run_line_magic("config", "QwenMagics.seed = 0")  # the default temperature, repeatable
    rows = []
    # Some setups write the files their cells read: in a scratch folder, not the user's.
    with tempfile.TemporaryDirectory(prefix="qwen-fix-bench-") as scratch, _working_in(scratch):
        for number, case in enumerate(cases, 1):
            for mode in MODES:
                rows.append(_one(shell, case, mode, inserted))
                row = rows[-1]
                progress(f"fix {number}/{len(cases)} {case.id} {mode}: "
                         f"{'fixed' if row['fixed'] else 'inserted' if row['inserted'] else 'none'}"
                         f" ({row['footer']})")
    shell.run_line_magic("config", "QwenMagics.seed = None")
    return {
        "cases": len(cases),
        "modes": {mode: summarize([r for r in rows if r["mode"] == mode]) for mode in MODES},
        "per_kind": {kind: {mode: summarize([r for r in rows if r["kind"] == kind
                                              and r["mode"] == mode]) for mode in MODES}
                     for kind in KINDS if any(r["kind"] == kind for r in rows)},
        "per_split": {split: {mode: summarize([r for r in rows if r["split"] == split
                                                and r["mode"] == mode]) for mode in MODES}
                      for split in SPLITS if any(r["split"] == split for r in rows)},
        "rows": rows,
    }


@contextlib.contextmanager
def _working_in(folder: str) -> Iterator[None]:
    # contextlib.chdir from Python 3.11 on; the package supports 3.10.
    before = os.getcwd()
    os.chdir(folder)
    try:
        yield
    finally:
        os.chdir(before)


def _one(shell: Any, case: FixCase, mode: str, inserted: list[str]) -> dict[str, Any]:
    # What the cells print, their tracebacks included, goes to the log: stdout is the JSON's.
    with contextlib.redirect_stdout(sys.stderr):
        shell.run_line_magic("reset", "-f")  # a fresh notebook state for each case
        if case.setup.strip():
            shell.run_cell(case.setup, store_history=True)
        failed = shell.run_cell(case.cell, store_history=True)
        inserted.clear()
        started = time.perf_counter()
        shell.run_cell("%qwen fix --check" if mode == "check" else "%qwen fix",
                       store_history=False)
        seconds = time.perf_counter() - started
    result = shell.user_ns.get("_qwen")
    cell = "\n".join(line for line in (inserted[0] if inserted else "").splitlines()
                     if not line.startswith("# qwen:"))
    verdict = judge_fixed_cell(case, cell) if cell.strip() else None
    outcome = getattr(result, "fix", None)
    return {
        "id": case.id, "kind": case.kind, "split": case.split, "mode": mode,
        "failed": not failed.success, "inserted": bool(cell.strip()),
        "fixed": bool(verdict and verdict.fixed),
        "lines_changed": lines_changed(case.cell, cell) if cell.strip() else None,
        "seconds": seconds, "footer": outcome.line if outcome is not None else "",
        "verified": bool(outcome and outcome.verified),
        "not_checked": bool(outcome and outcome.line.startswith("not checked")),
        "got": (verdict.error or verdict.got)[:200] if verdict else "",
    }


def summarize(rows: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Inserted and fixed rates, median lines changed (of fixed cells) and median seconds."""
    if not rows:
        return {"cases": 0}
    changed = [r["lines_changed"] for r in rows if r["fixed"] and r["lines_changed"] is not None]
    verified = [r for r in rows if r["verified"]]
    return {
        "cases": len(rows),
        "inserted": sum(r["inserted"] for r in rows) / len(rows),
        "fixed": sum(r["fixed"] for r in rows) / len(rows),
        # How far the footer's "checked" can be trusted: of the cells it says so of, fixed.
        "verified": len(verified) / len(rows),
        "fixed_of_verified": (sum(r["fixed"] for r in verified) / len(verified)
                              if verified else None),
        "not_checked": sum(r["not_checked"] for r in rows) / len(rows),
        "median_lines_changed": statistics.median(changed) if changed else None,
        "median_seconds": statistics.median(r["seconds"] for r in rows),
    }
