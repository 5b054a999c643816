"""The benchmark's pure parts and its paths over a FAKE provider (no model, no llama.cpp).

What the numbers are is the real-model test's business (tests/integration/test_bench.py);
here: the statistics, the plan, the report's tables and goals, how each path takes its
timings and speculative figures, and the package's shape (no import cycle, no reach into
the product's private names).
"""

from __future__ import annotations

import ast
import weakref
from pathlib import Path
from typing import Any

import pytest

from qwen_magic.bench import SECTIONS, add_arguments
from qwen_magic.bench.plan import Plan, greedy, rotated
from qwen_magic.bench.prompts import WARM_REQUESTS, build_context, with_context
from qwen_magic.bench.report import format_sweep, format_table, goals, mmm, num
from qwen_magic.bench.runners import (
    ApiPath,
    LoadWatch,
    MagicPath,
    RecordingPublisher,
    Sample,
    decode_rate,
    sink_name,
    speculative_stats,
)
from qwen_magic.bench.scenarios import SCENARIOS, summarize_deterministic, summarize_paths
from qwen_magic.bench.stats import ratio, stats
from qwen_magic.config import ModelConfig
from qwen_magic.providers.local import models
from qwen_magic.result import GenerationResult
from qwen_magic.streaming import BaseSink, ThrottledSink
from tests.fakes import FakeProvider

BENCH = Path(__file__).resolve().parents[2] / "qwen_magic" / "bench"


def sample(path: str, ttft: float, decode: float | None, text: str = "x", new: int = 10,
           **extra: Any) -> Sample:
    return Sample(path, ttft, 20, 30, new, decode, text, "stop", dict(extra))


# -- stats and plan --------------------------------------------------------------------------

def test_stats_skip_unmeasured_values_and_say_how_many_were_kept():
    assert stats([3.0, None, 1.0, 2.0]) == {"min": 1.0, "median": 2.0, "max": 3.0, "n": 3}
    assert stats([None, None]) == {"min": None, "median": None, "max": None, "n": 0}
    assert stats([]) == {"min": None, "median": None, "max": None, "n": 0}


def test_ratio_is_none_when_either_side_was_not_measured():
    assert ratio(3.0, 2.0) == 1.5
    assert ratio(None, 2.0) is None and ratio(3.0, None) is None and ratio(3.0, 0.0) is None


def test_rotation_gives_every_path_every_position():
    assert rotated(("a", "b", "c"), 0) == ["a", "b", "c"]
    assert rotated(("a", "b", "c"), 1) == ["b", "c", "a"]
    assert rotated(("a", "b", "c"), 5) == ["c", "a", "b"]
    assert {tuple(rotated((False, True), n))[0] for n in range(2)} == {False, True}


def test_plan_rounds_per_section_and_the_quick_plan():
    assert Plan().rounds_for("context") == Plan().rounds == 3
    quick = Plan.quick()
    assert quick.rounds_for("context") == 1 and quick.rounds_for("edits") == 2
    assert quick.rounds_for("short") == quick.rounds == 3
    assert quick.context_tokens < Plan().context_tokens


def test_greedy_requests_decode_the_same_tokens_on_every_path():
    config = greedy(7, 16)
    assert (config.temperature, config.seed, config.max_tokens) == (0.0, 7, 16)
    assert config.deterministic is False


def test_every_section_has_a_scenario_and_an_only_choice():
    assert set(SCENARIOS) == set(SECTIONS)
    assert "deterministic" in SECTIONS
    import argparse

    parser = argparse.ArgumentParser()
    add_arguments(parser)
    args = parser.parse_args(["--quick", "--json", "--only", "deterministic", "--only", "short"])
    assert args.quick and args.json and args.only == ["deterministic", "short"]
    assert args.holes is None
    assert parser.parse_args(["--holes", "30,0"]).holes == ((0, 30), (0, 0))
    assert parser.parse_args(["--holes", "15:30,0:4"]).holes == ((15, 30), (0, 4))
    for bad in ("30", "a,b", "-1,3", "20:10,0"):
        with pytest.raises(SystemExit):
            parser.parse_args(["--holes", bad])


def test_contexts_fill_their_token_budget_without_passing_it():
    def count(text: str) -> int:
        return len(text) // 4

    for kind in ("analysis", "text"):
        context = build_context(kind, 600, count)
        assert 400 < count(context) <= 600
    prompt = with_context(build_context("analysis", 200, count), WARM_REQUESTS[0])
    assert prompt.endswith(f"\n\nRequest: {WARM_REQUESTS[0]}")


def test_warm_requests_do_not_begin_like_the_cell_before_them():
    from qwen_magic.bench.prompts import CONTEXT_QUESTIONS

    assert len(set(WARM_REQUESTS)) == len(WARM_REQUESTS)
    assert all(r.split()[0] != CONTEXT_QUESTIONS[0].split()[0] for r in WARM_REQUESTS)


# -- summaries -------------------------------------------------------------------------------

def test_path_summary_takes_ratios_to_raw_within_each_trial():
    trials = [
        {"raw": sample("raw", 0.5, 40.0, "a"), "api": sample("api", 0.6, 20.0, "a"),
         "magic": sample("magic", 0.7, 40.0, "b", display_updates=5)},
        {"raw": sample("raw", 1.0, 20.0, "a"), "api": sample("api", 1.0, 20.0, "a"),
         "magic": sample("magic", 1.2, 10.0, "a", display_updates=3)},
    ]
    out = summarize_paths(trials, ("raw", "api", "magic"))
    assert out["trials"] == 2
    api, magic = out["paths"]["api"], out["paths"]["magic"]
    assert (api["decode_ratio_vs_raw"]["min"], api["decode_ratio_vs_raw"]["max"]) == (0.5, 1.0)
    assert magic["decode_ratio_vs_raw"]["median"] == 0.75
    assert magic["ttft_delta_vs_raw_s"]["min"] == pytest.approx(0.2)
    assert api["same_text_as_raw"] == 2 and magic["same_text_as_raw"] == 1
    assert magic["display_updates"] == {"min": 3, "median": 4.0, "max": 5, "n": 2}
    assert "decode_ratio_vs_raw" not in out["paths"]["raw"]
    assert "display_updates" not in api


def test_deterministic_summary_compares_the_modes_within_each_trial():
    trials = [
        {False: sample("api", 0.20, 40.0, "a", new=20), True: sample("api", 0.40, 40.0, "a", new=260)},
        {False: sample("api", 0.25, 40.0, "a", new=22), True: sample("api", 0.25, 40.0, "b", new=22)},
        {False: sample("api", 0.10, 40.0, "a", new=21), True: sample("api", 0.30, 40.0, "a", new=270)},
    ]
    out = summarize_deterministic(trials)
    assert out["trials"] == 3 and out["same_text"] == 2
    assert out["modes"]["off"]["ttft_s"]["median"] == 0.20
    assert out["modes"]["on"]["ttft_s"]["median"] == 0.30
    assert out["modes"]["on"]["new_prompt_tokens"]["max"] == 270
    assert out["ttft_ratio_on_vs_off"]["median"] == pytest.approx(2.0)
    assert out["ttft_ratio_on_vs_off"]["max"] == pytest.approx(3.0)
    assert out["ttft_delta_on_minus_off_s"]["min"] == pytest.approx(0.0)
    assert out["ttft_delta_on_minus_off_s"]["max"] == pytest.approx(0.2)


# -- report ----------------------------------------------------------------------------------

def node(median: float, low: float | None = None, high: float | None = None) -> dict[str, Any]:
    return {"min": median if low is None else low, "median": median,
            "max": median if high is None else high, "n": 3}


def path_entry(decode_ratio: float | None = None, delta: float | None = None) -> dict[str, Any]:
    entry = {"ttft_s": node(0.6), "prompt_tok_s": node(125.0), "decode_tok_s": node(41.8)}
    if decode_ratio is not None:
        entry.update(decode_ratio_vs_raw=node(decode_ratio), ttft_delta_vs_raw_s=node(delta))
    return entry


@pytest.fixture
def report() -> dict[str, Any]:
    """A report as ``run`` returns it, with made-up figures."""
    report: dict[str, Any] = {
        "schema": 1, "quick": True,
        "machine": {"cpu": "Test CPU", "physical_cores": 2, "logical_cpus": 2,
                    "loadavg_start": [0.1, 0.2, 0.3], "loadavg_end": [1.0, 1.0, 1.0],
                    "versions": {"llama_cpp_python": "0.3.36", "ipython": "9.0"}, "python": "3.11.7"},
        "settings": {"model": "/m/qwen.gguf", "n_ctx": 4096, "n_threads": 2, "n_batch": 256},
        "magic_sink": "ThrottledSink(NotebookSink)",
        "short": {"trials": 3, "paths": {"raw": path_entry(), "api": path_entry(0.99, 0.01),
                                         "magic": path_entry(0.90, 0.02)}},
        "shared_prefix": {"context_tokens": 390, "paths": {
            p: {"first_ttft_s": node(3.0), "second_ttft_s": node(0.2), "speedup": node(15.0, 2.5)}
            for p in ("raw", "api", "magic")}},
        "deterministic": {"context_tokens": 390, "path": "api", "trials": 3,
                          "modes": {"off": {"ttft_s": node(0.2), "new_prompt_tokens": node(21)},
                                    "on": {"ttft_s": node(0.5), "new_prompt_tokens": node(260)}},
                          "ttft_ratio_on_vs_off": node(2.5), "ttft_delta_on_minus_off_s": node(0.3),
                          "same_text": 3},
        "alternating": {"context_tokens": {"A": 390, "B": 380}, "visits": 2, "paths": {
            "api": {"first_ttft_s": {"A": 3.0, "B": 2.9}, "return_ttft_s": node(0.2),
                    "speedup": node(14.0, 9.0)}}},
        "edits": {"trials": 2, "paths": {"raw": path_entry(), "plain": path_entry(1.0, 0.0),
                                         "speculative": path_entry(1.6, 0.01),
                                         "magic": path_entry(1.5, 0.0)},
                  "match": {"identical": 1, "total": 2, "divergences": [
                      {"trial": 1, "at_char": 40, "plain": "def f(a)", "speculative": "def f(b)"}]},
                  "acceptance": {"drafted": 100, "accepted": 80, "rate": 0.8},
                  "per_prompt": [{"prompt": "Add type hints", "decode_ratio_vs_raw": node(1.6),
                                  "accepted": 80, "drafted": 100}]},
        "load": {"raw_cold_s": node(0.4), "kernel_cold_s": node(0.5), "second_request_load_s": 0.0002,
                 "product_loads": 1},
        "memory": {"raw_peak_rss_mb": node(680.0), "kernel_peak_rss_mb": node(740.0),
                   "kernel_prefix_cache_mb": node(35.5), "kernel_prefix_snapshots": 2,
                   "kernel_peak_rss_full_cache_mb": 760.0, "prefix_cache_budget_mb": 48, "n_ctx": 4096},
    }
    report["goals"] = goals(report)
    return report


def test_goals_are_judged_from_the_report(report):
    g = report["goals"]
    assert g["api_decode_ratio"]["met"] is True and g["magic_decode_ratio"]["met"] is False
    assert g["api_ttft_delta_s"]["met"] is True
    assert g["no_reload"] == {"value": {"loads": 1, "second_request_load_s": 0.0002},
                              "target": "1 load, second ~0 s", "met": True}
    assert g["kernel_peak_rss_mb"]["met"] is True
    assert g["shared_prefix_speedup"] == {"value": 2.5, "target": ">= 3 (slowest trial)", "met": False}
    assert g["alternating_return_speedup"]["met"] is True
    assert g["speculative_decode_ratio"]["met"] is True
    assert g["speculative_matches_plain"]["value"] == "1/2"


def test_goals_of_sections_that_did_not_run_are_unjudged():
    g = goals({"load": {"product_loads": 2, "second_request_load_s": 0.0}})
    assert g["no_reload"]["met"] is False
    assert all(g[name]["met"] is None for name in
               ("api_decode_ratio", "kernel_peak_rss_mb", "shared_prefix_speedup",
                "speculative_decode_ratio"))


def test_the_table_shows_every_section(report):
    text = format_table(report)
    assert text.startswith("qwen-magic bench (quick) — Test CPU, 2 cores / 2 CPUs")
    assert "magic display: ThrottledSink(NotebookSink)" in text
    assert "short code requests, 3 trials" in text
    assert "  magic       0.60 [0.60–0.60]" in text
    assert "shared prefix: second cell after a 390-token context" in text
    assert "deterministic mode: a warm cell after a 390-token context, 3 trials (api)" in text
    assert "  off         TTFT 0.200 [0.200–0.200] s, new prompt tokens 21 [21–21]" in text
    assert "  on          TTFT 0.500 [0.500–0.500] s, new prompt tokens 260 [260–260]" in text
    assert "  on/off      TTFT ×2.50 [2.50–2.50], on−off 0.300 [0.300–0.300] s; same text 3/3" in text
    assert "alternating contexts {'A': 390, 'B': 380} tokens, 2 visits each" in text
    assert "speculative output identical to plain: 1/2; drafts accepted 80/100 (0.80)" in text
    assert "trial 1 diverges at char 40" in text
    assert "product loads 1" in text and "2 prefix snapshots" in text
    assert "  shared_prefix_speedup         2.500" in text and "NOT MET" in text


def test_the_table_leaves_out_sections_that_did_not_run(report):
    for name in ("short", "shared_prefix", "deterministic", "alternating", "edits", "memory"):
        del report[name]
    text = format_table(report)
    assert "deterministic mode" not in text and "shared prefix" not in text
    assert text.splitlines()[-len(report["goals"]) - 1] == "goals"


def test_figures_show_a_dash_when_not_measured():
    assert num(None) == "-" and num(1.23456, 3) == "1.235" and num(7) == "7"
    assert mmm(None) == "-" and mmm(stats([])) == "-"
    assert mmm(stats([1.0, 2.0, 4.0]), 1) == "2.0 [1.0–4.0]"


def test_the_sweep_table():
    variant = {k: node(1.0) for k in ("load_s", "prompt_tok_s", "decode_tok_s",
                                      "decode_tok_s_median_gap", "peak_rss_mb")}
    text = format_sweep({"rounds": 2, "prompt_tokens": 422, "decode_tokens": 64,
                         "conditions": {"idle": {"defaults": variant}}})
    lines = text.splitlines()
    assert lines[0] == "settings sweep: 2 rounds, prompt 422 tokens, 64 decoded; median [min–max]"
    assert lines[1] == "idle:" and lines[3].split()[0] == "defaults"


# -- paths -----------------------------------------------------------------------------------

def test_decode_rate_counts_the_tokens_after_the_first():
    assert decode_rate(11, 1.0, 2.0) == 10.0
    assert decode_rate(1, 1.0, 2.0) is None and decode_rate(5, None, 2.0) is None


def test_speculative_figures_come_from_the_result_provenance():
    result = GenerationResult("x", "stop", provenance={
        "provider": "local", "speculative": {"steps": 4, "drafted": 16, "accepted": 12}})
    assert speculative_stats(result) == {"drafted": 16, "accepted": 12, "steps": 4}
    assert speculative_stats(GenerationResult("x", "stop", provenance={"provider": "local"})) == {}


class SpeculativeFake(FakeProvider):
    def describe(self) -> dict[str, Any]:
        return {**super().describe(), "speculative": {"steps": 2, "drafted": 8, "accepted": 5}}


def test_the_api_path_times_the_text_and_records_speculative_figures():
    provider = SpeculativeFake(["a", "b", "c", "d"], delay=0.005, prompt_tokens=30, reused_tokens=10)
    result = ApiPath(provider, "speculative").run("hi", greedy(1, 16))
    assert (result.path, result.text, result.completion_tokens) == ("speculative", "abcd", 4)
    assert result.new_prompt_tokens == 20 and result.ttft_s > 0
    assert result.decode_tok_s is not None and result.decode_tok_s > 0
    assert result.extra == {"drafted": 8, "accepted": 5, "steps": 2}
    plain = ApiPath(FakeProvider(["a"]), "plain").run("hi", greedy(1, 16))
    assert plain.extra == {}


class Inner(BaseSink):
    def __init__(self, publisher: RecordingPublisher) -> None:
        self.publisher = publisher

    def on_text(self, delta: str, text: str) -> None:
        self.publisher.publish({"text/plain": text}, update=True)


def test_the_publisher_times_the_answer_text_not_the_status_lines():
    publisher = RecordingPublisher()
    publisher.publish({"text/plain": "⏳ loading the model…"})
    assert not publisher.showed_answer  # a status line is not the answer
    assert publisher.answer_times() == (None, None, 0)
    sink = ThrottledSink(Inner(publisher), interval=0.0)
    sink.on_text("a", "a")
    sink.on_text("b", "ab")
    assert publisher.showed_answer
    first, last, updates = publisher.answer_times()
    assert updates == 2 and first is not None and last is not None and first <= last
    assert publisher.bytes > 0


def test_a_sink_is_named_with_the_sinks_it_passes_text_to():
    assert sink_name(ThrottledSink(Inner(RecordingPublisher()))) == "ThrottledSink(Inner)"
    assert sink_name(ThrottledSink(ThrottledSink(BaseSink()))) == "ThrottledSink(ThrottledSink(BaseSink))"
    assert sink_name(BaseSink()) == "BaseSink"


def test_the_magic_path_runs_a_real_cell_through_the_notebook_display(shell):
    shell.fake_provider = SpeculativeFake(["Here:\n", "```python\n", "x = 1\n", "```\n"], delay=0.005)
    magic = MagicPath(ModelConfig())
    assert magic.sink_kind().startswith("none")
    result = magic.run("write x", greedy(5, 32))
    assert magic.sink_kind() == "ThrottledSink(NotebookSink)"
    assert result.path == "magic" and result.text == "Here:\n```python\nx = 1\n```\n"
    assert result.extra["display_updates"] >= 1
    assert result.extra["drafted"] == 8  # the magic's result carries them too
    request = shell.fake_provider.requests[-1]
    assert (request.config.temperature, request.config.seed, request.config.max_tokens) == (0.0, 5, 32)
    assert shell.inserted == []  # --no-insert: the bench leaves the notebook alone
    with pytest.raises(RuntimeError, match="%%qwen failed"):
        magic.run("   ", greedy(5, 32))


def test_loads_are_counted_as_new_loaded_models(monkeypatch):
    class Model:
        pass

    loaded: list[Model] = []
    monkeypatch.setattr(models, "loaded_models", lambda: list(loaded))
    watch = LoadWatch()
    assert watch.loads == 0
    first = Model()
    loaded.append(first)
    watch.sample()
    watch.sample()
    assert watch.loads == 1  # the same model, seen twice
    loaded[:] = [Model()]  # a reload: a new LoadedModel
    watch.sample()
    assert watch.loads == 2
    ref = weakref.ref(first)
    del first
    assert ref() is None  # the watch keeps no dropped model alive


# -- shape of the package --------------------------------------------------------------------

def bench_imports() -> dict[str, set[str]]:
    """Every bench module's imports of other bench modules, at any depth of the code."""
    graph: dict[str, set[str]] = {}
    for path in sorted(BENCH.glob("*.py")):
        name = path.stem
        graph[name] = set()
        for item in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(item, ast.ImportFrom) and item.level == 1:
                targets = [item.module] if item.module else [a.name for a in item.names]
                graph[name].update(t.split(".")[0] for t in targets)
            elif isinstance(item, ast.ImportFrom) and item.module and \
                    item.module.startswith("qwen_magic.bench"):
                graph[name].add(item.module.split(".")[2] if item.module.count(".") > 1 else "__init__")
    return graph


def test_the_bench_modules_import_each_other_without_a_cycle():
    graph = bench_imports()
    assert {"__init__", "plan", "prompts", "runners", "scenarios", "probes", "sweep",
            "report"} <= set(graph)
    state: dict[str, str] = {}

    def visit(name: str, trail: tuple[str, ...]) -> None:
        assert state.get(name) != "open", f"import cycle: {' → '.join(trail + (name,))}"
        if state.get(name) == "done":
            return
        state[name] = "open"
        for target in graph.get(name, ()):
            visit(target, trail + (name,))
        state[name] = "done"

    for module in graph:
        visit(module, ())
    assert not any("__init__" in targets for name, targets in graph.items() if name != "__main__")
    assert graph["report"] == set() and graph["plan"] == set()


def test_the_bench_uses_no_private_name_of_the_product():
    for path in sorted(BENCH.glob("*.py")):
        for item in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            where = f"{path.name}:{getattr(item, 'lineno', '?')}"
            if isinstance(item, ast.ImportFrom) and (item.level >= 2 or (item.module or "").startswith(
                    "qwen_magic")):
                assert not any(part.startswith("_") for part in (item.module or "").split(".")), where
                assert not any(a.name.startswith("_") for a in item.names), where
            if isinstance(item, ast.Attribute) and item.attr.startswith("_") \
                    and not item.attr.startswith("__"):
                # Only the bench's own objects have private parts it may use.
                assert isinstance(item.value, ast.Name) and item.value.id == "self", \
                    f"{where}: .{item.attr}"
            if isinstance(item, ast.Call) and isinstance(item.func, ast.Name) and item.func.id == "getattr":
                assert not (len(item.args) > 1 and isinstance(item.args[1], ast.Constant)
                            and str(item.args[1].value).startswith("_")), where


def test_the_prefill_goal_is_judged_through_the_comm_when_measured(report):
    latency = {"context_tokens": 1811, "cells": 36,
               "warm_ttft_s": {"0": node(0.13), "50": node(1.0), "200": node(2.9)},
               "warm_without_read_ahead_ttft_s": node(0.15),
               "cold_ttft_s": node(19.9),
               "after_new_cell_ttft_s": {"prefill": node(0.18), "no_prefill": node(0.5)},
               "prefill_vs_warm": 1.4}
    report["completion"] = {"quality": {"per_hole": []}, "latency": latency}
    assert goals(report)["completion_prefill_vs_warm"]["value"] == 1.4
    report["completion"]["comm"] = {
        "warm_ttft_s": node(0.15), "key_interval_s": 0.15, "debounce_s": 0.25,
        "after_new_cell_ttft_s": {"prefill": node(0.3), "no_prefill": node(0.6)},
        "prefill_vs_warm": 2.0}
    g = goals(report)["completion_prefill_vs_warm"]
    assert g["value"] == 2.0 and g["met"] is False
    assert ("  through the kernel's comm: warm 0.150 [0.150–0.150] s; after a new cell prefilled "
            "0.300 [0.300–0.300] s, not 0.600 [0.600–0.600] s; prefilled/warm 2.00×"
            ) in format_table(report)
    assert "  warm, not read ahead as typed   0.150 [0.150–0.150] s" in format_table(report)
    assert goals(report)["completion_cell_delay_s"]["met"] is None  # not measured
    report["completion"]["comm"]["cell_delay"] = {
        "idle_cell_s": node(0.1), "delay_s": {"prefill": node(0.05), "completion": node(0.2)},
        "worst_delay_s": 0.35, "completions_cut_by_the_cell": 3, "trials": 3}
    g = goals(report)["completion_cell_delay_s"]
    assert g["value"] == 0.35 and g["met"] is False
    assert ("  a cell that starts while the model works is later by 0.050 [0.050–0.050] s "
            "(prefill), 0.200 [0.200–0.200] s (completion; it cut 3/3)") in format_table(report)


def test_completion_quality_scores_a_range_of_holes_and_keeps_each_one(monkeypatch):
    from qwen_magic.bench import completion as section
    from qwen_magic.completion import Completion

    class Provider:  # a FAKE provider that fills in the middle (providers.base.Completes)
        name = "fake"

        def complete(self, request, cancel, on_text):
            return Completion(request.prefix[-3:], "stop")

        def completion_problem(self, *, check=False):
            return None

    monkeypatch.setattr(section, "naive", lambda bench, hole, max_tokens: hole.middle)
    bench = type("B", (), {"provider": Provider()})()
    out = section.quality(bench, 5, 2, lambda _: None, first=(3, 0))
    assert [(h["kind"], h["hole"]) for h in out["per_hole"]] == [
        ("single", 3), ("single", 4), ("multi", 0), ("multi", 1)]
    assert out["single"]["naive"] == {"holes": 2, "exact_match": 1.0, "parses": 1.0,
                                      "edit_similarity": 1.0}
    assert out["single"]["product"]["holes"] == 2
