"""The ``live_data`` section: what describing the notebook's live values costs, and the holes
that need them.

Cost: the kernel describes its live values after each cell (:mod:`qwen_magic.livedata`), on
its main thread, so the time is the user's: the goal is <= 5 ms median and <= 20 ms worst.
:func:`describe_cost` runs every hole's cells in one namespace — a notebook of a few
DataFrames, a structured array, dicts built by loops, a Counter, lists of records, the
user's own modules, classes and functions — plus a 100,000-row DataFrame and a dict of
10,000 keys, then times what follows each new cell: finding the names the cells use (the new
cell is the only one read again) and describing them.

Holes: :mod:`.live_holes`. Per hole, how long the description is (what the completion prompt
grows by; the goal is that it never passes the budget), and :func:`hole_completions`: each
hole completed by the product twice, same model, same cells, with the description in the
prompt (``completion_variables`` on) and without it, judged by ``live_holes.exact``,
``stops_at_the_suffix`` and ``still_runs`` (the last in ``--check``'s sandbox). Goal: exact
match +20 points or more.

First suggestion (:func:`first_suggestion`): through a real kernel's comm, as JupyterLab
drives it now — the comm opened and the notebook (>= 1,500 tokens) sent as a prefill once
``%load_ext`` ran, the user starting to type 30 s later — the time to the first ghost text
next to the next one's. Goal: first <= 1.5x next.
"""

from __future__ import annotations

import itertools
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from ..api import complete_request
from ..completion import CompletionRequest
from ..livedata import BUDGET_CHARS, describe, names_used
from ..livedata.cells import cell_names
from .comm_path import CommClient
from .completion import DEBOUNCE_S, HOLE_MAX_TOKENS, KEY_INTERVAL_S, notebook_cells
from .live_holes import (
    LiveHole,
    describe_hole,
    exact,
    live_namespace,
    load_live_holes,
    still_runs,
    stops_at_the_suffix,
)
from .machine import loadavg
from .stats import stats

Progress = Callable[[str], None]

#: Cells that make the notebook's namespace heavier than the holes' own: a real-sized frame
#: and a dict of many keys (each only where its library is installed).
HEAVY_CELLS = (
    ("numpy", "import numpy as np\n"
              "samples = np.random.default_rng(0).normal(size=(100_000, 12))\n"),
    ("pandas", "import pandas as pd\n"
               "features = pd.DataFrame(samples, columns=[f'feature_{i}' for i in range(12)])\n"),
    ("", "lookup = {f'id{i}': {'rank': i, 'label': str(i)} for i in range(10_000)}\n"),
)


def notebook_hole(holes: list[LiveHole]) -> LiveHole:
    """One notebook of every available hole's cells (and the heavy ones): the cost bench's."""
    available = [hole for hole in holes if hole.available()]
    needed = {name for hole in available for name in hole.requires}
    heavy = [cell for module, cell in HEAVY_CELLS if not module or module in needed]
    cells = [cell for hole in available for cell in hole.cells] + heavy
    return LiveHole("notebook", tuple(cells), "", "", ("",), None, tuple(sorted(needed)))


def describe_cost(rounds: int = 300, budget_chars: int = BUDGET_CHARS) -> dict[str, Any]:
    """Milliseconds per "a cell ran": names of the cells (only the new one parsed), described.

    ``first_ms`` is the first time after the kernel started, with every cell read; the
    figures after it are the steady state the goal is about.
    """
    notebook = notebook_hole(load_live_holes())
    with tempfile.TemporaryDirectory(prefix="qwen-live-") as tmp, \
            live_namespace(notebook, Path(tmp)) as namespace:
        cells = list(notebook.cells)
        cell_names.cache_clear()
        started = time.perf_counter()
        text = describe(namespace, names_used(cells), budget_chars=budget_chars)
        first_ms = (time.perf_counter() - started) * 1000
        times: list[float | None] = []
        cpu_times: list[float | None] = []
        for cell in itertools.islice(_new_cells(), rounds):
            cells.append(cell)
            started, cpu_started = time.perf_counter(), time.thread_time()
            text = describe(namespace, names_used(cells), budget_chars=budget_chars)
            cpu_times.append((time.thread_time() - cpu_started) * 1000)
            times.append((time.perf_counter() - started) * 1000)
        ordered = sorted(t for t in times if t is not None)
        return {
            "cells": len(cells), "names_in_namespace": len(namespace),
            "description_chars": len(text), "description_lines": text.count("\n") + 1,
            "budget_chars": budget_chars, "first_ms": first_ms, "after_cell_ms": stats(times),
            "p95_ms": ordered[int(0.95 * (len(ordered) - 1))] if ordered else None,
            # The thread's own CPU time: on a shared machine the wall time's worst cases are
            # mostly other processes running meanwhile.
            "after_cell_cpu_ms": stats(cpu_times), "loadavg": loadavg(), "rounds": rounds,
        }


def _new_cells() -> Iterator[str]:
    """Cells as a user adds them: each new, each using names the notebook holds."""
    templates = ("summary_{n} = orders.groupby('ship_country')['qty_ordered'].sum()",
                 "print(settings['db_host'], counts.get('net.timeout', {n}))",
                 "basket.add_item('SKU-{n}', 1)\ntotal_{n} = basket.gross_total()",
                 "top_{n} = features.nlargest(5, 'feature_{m}')",
                 "rows_{n} = [r for r in rows if int(r['birth_year']) > 19{n:02d}]")
    number = 0
    while True:
        for template in templates:
            yield template.format(n=number, m=number % 12)
            number += 1


def hole_prompts(holes: list[LiveHole], directory: Path) -> Iterator[tuple[LiveHole, str]]:
    """Each available hole with the description of its live values (its namespace built in a
    fresh subdirectory of ``directory``); what a completion prompt with the feature reads."""
    for hole in holes:
        if not hole.available():
            continue
        where = directory / hole.id
        where.mkdir()
        with live_namespace(hole, where) as namespace:
            text = describe_hole(hole, namespace)
        yield hole, text  # the process's directory and path are back as they were


def hole_descriptions(count: Callable[[str], int] | None = None) -> dict[str, Any]:
    """How much each hole's prompt grows by the description (characters, and tokens with
    ``count``), against the budget; the holes that could not run here and why."""
    holes = load_live_holes()
    sizes: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="qwen-live-") as tmp:
        for hole, text in hole_prompts(holes, Path(tmp)):
            entry: dict[str, Any] = {"hole": hole.id, "chars": len(text),
                                     "answer_shown": hole.answer in text}
            if count is not None:
                entry["tokens"] = count(text)
            sizes.append(entry)
    skipped = {hole.id: f"needs {', '.join(hole.requires)}" for hole in holes if not hole.available()}
    return {"holes": len(holes), "described": len(sizes), "skipped": skipped,
            "budget_chars": BUDGET_CHARS,
            "max_chars": max((s["chars"] for s in sizes), default=None),
            "max_tokens": max((s["tokens"] for s in sizes if "tokens" in s), default=None),
            "answer_shown": sum(s["answer_shown"] for s in sizes), "per_hole": sizes}


ARMS = ("with_variables", "without")


def hole_completions(provider: Any, progress: Progress, judge_runs: bool = True,
                     max_tokens: int = HOLE_MAX_TOKENS) -> dict[str, Any]:
    """Each available hole completed with and without its description (same provider, same
    cells, greedy), and the share of exact / stopped at the suffix / still runs per arm.

    ``judge_runs``: run each completed notebook in the sandbox (``still_runs``; a few
    seconds a hole on a busy machine).
    """
    per_hole: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="qwen-live-") as tmp:
        prompts = list(hole_prompts(load_live_holes(), Path(tmp)))
    for number, (hole, text) in enumerate(prompts, 1):
        if number % 6 == 0:
            progress(f"live data holes: {number}/{len(prompts)}")
        entry: dict[str, Any] = {"hole": hole.id, "description_chars": len(text)}
        for arm in ARMS:
            request = CompletionRequest(hole.prefix, hole.suffix, context_cells=hole.cells,
                                        max_tokens=max_tokens,
                                        live_data=text if arm == "with_variables" else "")
            started = time.perf_counter()
            completed = complete_request(provider, request).text
            took = time.perf_counter() - started
            got: dict[str, Any] = {"text": completed, "exact": exact(hole, completed),
                                   "stops_at_the_suffix": stops_at_the_suffix(hole, completed),
                                   "seconds": round(took, 3)}
            if judge_runs:
                run = still_runs(hole, completed)
                got["still_runs"] = run.ok
                if not run.ok:
                    got["error"] = (run.error or "")[-200:]
            entry[arm] = got
        per_hole.append(entry)
    out: dict[str, Any] = {"holes": len(per_hole), "per_hole": per_hole}
    for arm in ARMS:
        row = [entry[arm] for entry in per_hole]
        keys = ("exact", "stops_at_the_suffix") + (("still_runs",) if judge_runs else ())
        out[arm] = {key: sum(bool(r[key]) for r in row) / len(row) if row else None
                    for key in keys}
    if per_hole:
        out["exact_gain_points"] = 100 * (out["with_variables"]["exact"]
                                          - out["without"]["exact"])
    return out


#: What the user types in the first-suggestion measurement: a new cell, key by key.
FIRST_TYPED = ("result = summarize(fr", "ame, by=")


def first_suggestion(config_lines: list[str], cells: list[str], progress: Progress,
                     wait_s: float = 30.0, opened_early: bool = True) -> dict[str, Any]:
    """The first ghost text of a session next to the next one, through a kernel's comm.

    As JupyterLab does now (``opened_early``): ``%load_ext`` runs, the labextension opens
    the comm after that cell and sends the notebook as a prefill; the user starts typing
    ``wait_s`` later (a read-ahead prefill per key press, then the debounce, then
    ``complete``). The next suggestion: a few more keys typed, the same way. Without
    ``opened_early``, as before: nothing reaches the kernel until the first ``complete``
    (the comm opened then), and the read-ahead only from then on.
    """
    how = "comm opened early" if opened_early else "comm opened at the first request"
    progress(f"live data: first suggestion ({how})")
    client = CommClient(config_lines)  # %load_ext, then the comm opened
    sent_so_far = [opened_early]
    try:
        if opened_early:
            client.prefill(cells)  # what the labextension sends once that cell ran
        time.sleep(wait_s)

        def typed(before: str, keys: str) -> Any:
            for end in range(1, len(keys) + 1):
                if sent_so_far[0]:
                    client.prefill(cells, before + keys[:end])
                time.sleep(KEY_INTERVAL_S)
            time.sleep(DEBOUNCE_S)
            sent_so_far[0] = True
            return client.complete(before + keys, cells, 16)

        first = typed("", FIRST_TYPED[0])
        following = typed(FIRST_TYPED[0], FIRST_TYPED[1])
    finally:
        client.close()
    first_s, next_s = first.first_chunk_s, following.first_chunk_s
    return {"wait_s": wait_s, "opened_early": opened_early, "first_s": first_s,
            "next_s": next_s, "first_new_tokens": first.new_tokens,
            "next_new_tokens": following.new_tokens,
            "first_over_next": first_s / next_s if first_s and next_s else None}


def live_data(bench: Any, progress: Progress) -> dict[str, Any]:
    progress("live data: describing a notebook's values after each cell")
    out = {"describe_cost": describe_cost(), "holes": hole_descriptions(bench.count)}
    progress("live data: completing the holes with and without the description")
    out["completions"] = hole_completions(bench.provider, progress)
    # At least 1,500 tokens as the model's tokenizer counts the cells (the bench's notebook
    # builder aims by its own rough measure: 1,800 of it come out at ~1,600).
    size = max(bench.plan.context_tokens, 1800)
    cells = notebook_cells(bench, size)
    tokens = int(size * 8 // 4)
    out["first_suggestion"] = first_suggestion(
        [f"%config QwenMagics.completion_context_tokens = {tokens}"], cells, progress)
    out["first_suggestion"]["notebook_tokens"] = bench.count("\n\n".join(cells))
    return out
