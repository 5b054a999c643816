"""The bench's live-data holes and section (qwen_magic.bench.live_holes, .live_data).

No model: every hole is checked with its own answer and its wrong guess, never with a
completion a model wrote. The answer and the wrong guess are the bench's data, so they run
here, in the test's process, next to the namespace the hole's cells built; what a model writes
runs only in the sandbox (``still_runs``, checked here once each way).
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import pytest

from qwen_magic.bench import SECTIONS
from qwen_magic.bench.live_data import describe_cost, hole_completions, hole_descriptions, live_data
from qwen_magic.bench.live_holes import (
    LiveHole,
    describe_hole,
    exact,
    live_namespace,
    load_live_holes,
    program,
    still_runs,
    stops_at_the_suffix,
)
from qwen_magic.bench.report import format_table, goals
from qwen_magic.bench.scenarios import SCENARIOS
from qwen_magic.livedata import BUDGET_CHARS

pytestmark = pytest.mark.timeout(120)

HOLES = load_live_holes()


def test_there_are_at_least_30_holes_of_each_kind_of_live_value():
    assert len(HOLES) >= 30
    assert len({hole.id for hole in HOLES}) == len(HOLES)
    kinds = {"DataFrame": 0, "dict": 0, "object": 0, "keyword": 0}
    for hole in HOLES:
        if hole.prefix.endswith(", "):
            kinds["keyword"] += 1
        elif hole.prefix.endswith("."):
            kinds["object"] += 1
        elif "pandas" in hole.requires or "numpy" in hole.requires:
            kinds["DataFrame"] += 1
        else:
            kinds["dict"] += 1
    assert all(count >= 5 for count in kinds.values()), kinds


def test_every_hole_can_run_here():
    # pandas and numpy are dev dependencies: a hole that cannot run would be missing work.
    assert [hole.id for hole in HOLES if not hole.available()] == []


@pytest.mark.parametrize("hole", HOLES, ids=lambda hole: hole.id)
def test_the_cells_never_spell_the_answer(hole: LiveHole):
    shown = "\n".join([*hole.cells, hole.prefix, hole.suffix])
    for answer in hole.exact:
        assert not re.search(rf"(?<![\w.]){re.escape(answer)}(?![\w])", shown), answer


def run_in(namespace: dict[str, Any], directory: Path, code: str) -> None:
    """The bench's own code (an answer or a wrong guess from the data), as the next cell."""
    cwd = os.getcwd()
    os.chdir(directory)
    try:
        exec(compile(code, "<completed cell>", "exec"), dict(namespace))
    finally:
        os.chdir(cwd)


@pytest.mark.parametrize("hole", HOLES, ids=lambda hole: hole.id)
def test_the_answer_runs_the_wrong_guess_does_not_and_the_description_shows_it(
        hole: LiveHole, tmp_path: Path):
    with live_namespace(hole, tmp_path) as namespace:
        run_in(namespace, tmp_path, hole.completed(hole.answer))
        if hole.wrong is not None:
            with pytest.raises(Exception):  # noqa: B017 - KeyError, AttributeError, TypeError…
                run_in(namespace, tmp_path, hole.completed(hole.wrong))
        description = describe_hole(hole, namespace)
    assert hole.answer in description
    assert len(description) <= BUDGET_CHARS


def test_the_process_is_left_as_it_was(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    import sys
    import types

    someone_elses = types.ModuleType("geo")
    monkeypatch.setitem(sys.modules, "geo", someone_elses)
    hole = next(h for h in HOLES if "import geo" in h.cells[0])
    path, cwd = list(sys.path), os.getcwd()
    with live_namespace(hole, tmp_path) as namespace:
        assert namespace["geo"].__file__ == str(tmp_path / "geo.py")  # the hole's own
    assert sys.modules["geo"] is someone_elses and sys.path == path and os.getcwd() == cwd


def test_exact_match_is_the_right_name_and_stopping_at_the_suffix_is_judged_apart():
    hole = next(h for h in HOLES if h.id == "orders-filter-price")
    assert exact(hole, " unit_price_eur\n") and stops_at_the_suffix(hole, "unit_price_eur ")
    # The model wrote the text after the cursor again: the name is right, the cell is not.
    assert exact(hole, 'unit_price_eur"] > 20)') and not stops_at_the_suffix(
        hole, 'unit_price_eur"] > 20)')
    assert not exact(hole, "unit_price") and not exact(hole, "unit_price_eur2")
    assert not exact(hole, 'price"]')


def test_still_runs_judges_in_the_sandbox():
    hole = next(h for h in HOLES if h.id == "settings-database-port")
    assert "settings.json" in program(hole, "db_port")
    assert still_runs(hole, "db_port").ok
    failed = still_runs(hole, "port")
    assert not failed.ok and failed.error is not None and "KeyError" in failed.error


def test_the_describe_cost_bench_runs_and_reports_its_figures():
    out = describe_cost(rounds=5)
    assert out["rounds"] == 5 and out["after_cell_ms"]["n"] == 5
    assert out["cells"] > len(HOLES) and out["names_in_namespace"] > 40
    assert 0 < out["description_chars"] <= out["budget_chars"] == BUDGET_CHARS
    assert out["first_ms"] > 0 and out["p95_ms"] is not None


def test_the_section_reports_every_holes_description(monkeypatch):
    out = hole_descriptions(count=lambda text: len(text) // 4)
    assert out["holes"] == out["described"] == len(HOLES) and out["skipped"] == {}
    assert out["answer_shown"] == len(HOLES)
    assert out["max_chars"] <= BUDGET_CHARS
    assert all(entry["tokens"] == entry["chars"] // 4 for entry in out["per_hole"])
    assert out["max_tokens"] == out["max_chars"] // 4
    assert "live_data" in SECTIONS and SCENARIOS["live_data"] is live_data


def test_the_cost_goal_is_judged_on_the_median_and_the_worst_after_a_cell():
    def report(median: float, worst: float) -> dict[str, Any]:
        node = {"min": 0.4, "median": median, "max": worst, "n": 200}
        return {"live_data": {
            "describe_cost": {"cells": 240, "names_in_namespace": 47, "first_ms": 11.0,
                              "after_cell_ms": node, "after_cell_cpu_ms": node},
            "holes": {"described": 36, "max_chars": 448, "budget_chars": 1200,
                      "answer_shown": 36}}}

    assert goals(report(0.7, 17.0))["live_data_describe_ms"]["met"] is True
    assert goals(report(0.7, 25.0))["live_data_describe_ms"]["met"] is False
    assert goals(report(6.0, 9.0))["live_data_describe_ms"]["met"] is False
    assert goals({})["live_data_describe_ms"]["met"] is None
    full = report(0.7, 17.0)
    full.update(machine={"cpu": "c", "physical_cores": 2, "logical_cpus": 2, "loadavg_start": None,
                         "versions": {"llama_cpp_python": "x", "ipython": "y"}, "python": "3"},
                settings={"model": "/m.gguf", "n_ctx": 1, "n_threads": 1, "n_batch": 1})
    full["goals"] = goals(full)
    assert ("live data: describing 47 names after a cell of 240 takes 0.70 [0.40–17.00] ms"
            in format_table(full))


class AnswersWithTheData:
    """A FAKE completing provider: the hole's answer when the prompt carries the live values'
    description, a plausible wrong name when it does not (what the model-driving loop
    must tell apart; no model)."""

    name = "answers-with-the-data"

    def __init__(self) -> None:
        self.by_prefix = {hole.prefix: hole for hole in HOLES}
        self.live_seen: list[str] = []

    def complete(self, request, cancel, on_text):
        from qwen_magic.completion import Completion

        hole = self.by_prefix[request.prefix]
        assert request.context_cells == hole.cells  # same cells in both arms
        self.live_seen.append(request.live_data)
        text = hole.answer if request.live_data else "value_wrong"
        return Completion(text, "stop")

    def completion_problem(self, *, check: bool = False):
        return None


def test_the_holes_are_completed_with_and_without_the_description_and_judged():
    provider = AnswersWithTheData()
    out = hole_completions(provider, progress=lambda _: None, judge_runs=False)
    assert out["holes"] == len(HOLES) and len(provider.live_seen) == 2 * len(HOLES)
    assert sum(bool(text) for text in provider.live_seen) == len(HOLES)  # one arm each
    assert out["with_variables"] == {"exact": 1.0, "stops_at_the_suffix": 1.0}
    assert out["without"] == {"exact": 0.0, "stops_at_the_suffix": 0.0}
    assert out["exact_gain_points"] == 100.0
    report = {"live_data": {"completions": out}}
    assert goals(report)["live_data_exact_gain"]["met"] is True
