"""`qwen-magic bench`: the product against raw llama-cpp-python, in one run, on one model.

Absolute speeds on a shared or throttled CPU drift by tens of percent from minute to minute,
so the claims are ratios between paths measured in the same trial (see :mod:`.scenarios`).
The run records the machine and its load average so a reader can judge the absolute figures.

Sections (the JSON keys):
  load            cold load per path (fresh processes) and what a second request loads (nothing)
  memory          peak RSS of a raw process and of a kernel with the model and prefix states
  short           short code requests: time to first token, prompt and decode tok/s, ratios
  shared_prefix   a second cell with the same ~1,500-token context
  deterministic   a warm cell after that context with GenerationConfig.deterministic off and on
  alternating     two long contexts in turn (panel vs cell)
  edits           edit requests: plain vs prompt-lookup speculative decoding, and how often
                  their temperature-0 outputs match
  completion      fill-in-the-middle quality against a naive baseline (``per_hole`` too), and
                  the time to the first ghost text, called directly and through a kernel's comm
  live_data       what describing the notebook's live values costs after a cell, how
                  long each live-data hole's description is, the holes completed with and
                  without it, and the first ghost text 30 s after %load_ext (a kernel's comm)
  follow_up       %%qwen -c turns: time to first token against the conversation's length
  examples        --check's example finder on real docstrings: recall and precision (no model)
  check_isolation one passing --check run at each isolation level against the limited process
  check           the --check problem set: pass@1 plain vs checked, paired (only when named)
  fix             %qwen fix on 64 everyday failing cells, plain and --check, judged by running
                  the inserted cell (only when named)
  remote_completion  first ghost text from `qwen-magic serve` next to the local path, the
                  server idle and busy with a chat answer (only when named)
  two_models      ghost text from a small completion model while the bench's model answers,
                  against the small model alone, and each kernel's memory (only when named)
  goals           each target, met or not, from the numbers above

Modules (each imports only modules listed before it):
  plan, stats, prompts   what runs, how figures are summarised, the fixed prompts
  runners                the three paths (raw llama-cpp-python, the API, ``%%qwen``)
  problems               the --check problem set (TOML files and their loader)
  fix_cases, fix_judge   the fix set (problems/fix.toml) and its judge in the check's sandbox
  fixes                  the fix section (fix_cases, fix_judge)
  report, machine        goals and text tables; what the run records about the machine
  holes, comm_path       FIM holes from the stdlib; a kernel driven over the completion comm
  completion             the completion section (holes, comm_path, plan, prompts, stats)
  live_holes, live_data  holes that need live data (live_holes.toml); their section
                         (comm_path, completion, machine, stats)
  remote                 the remote_completion section (completion, stats)
  two_models             the two_models section (comm_path, completion, stats)
  extraction             the examples section (data/docstrings.jsonl)
  scenarios              what each section asks (plan, prompts, runners, stats)
  probes                 fresh-process measurements (plan, prompts, runners, stats)
  sweep                  ``--sweep`` (plan, probes, prompts, stats)
  this package           the CLI entry (all of the above); ``__main__`` a probe's process
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
import time
from collections.abc import Collection
from typing import Any

from ..api import get_provider, load_model
from ..options import MODEL_SETTINGS, ModelConfig, add_flags, given, on
from ..providers import engine_hooks
from ..speed_records import SpeedRecord, remember, today
from .extraction import main as examples_alone
from .machine import loadavg, machine_info
from .plan import DEFAULT_SECTIONS, SECTIONS, Plan
from .probes import cold_load_and_memory
from .problems import CATEGORIES
from .report import format_sweep, format_table, goals
from .runners import LoadWatch, MagicPath, RawPath
from .scenarios import SCENARIOS, Bench, warm_up
from .sweep import sweep, sweep_prompt

__all__ = ["SCHEMA", "SECTIONS", "add_arguments", "main", "run"]

SCHEMA = 1


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--quick", action="store_true", help="about one minute: fewer, shorter requests")
    parser.add_argument("--json", action="store_true", help="print the results as JSON")
    parser.add_argument("--rounds", type=int, help="interleaved rounds (default 3, quick 2)")
    parser.add_argument("--holes", type=_hole_counts, metavar="SINGLE,MULTI",
                        help="FIM holes of each kind the completion section scores (default "
                             "30,30, quick 4,4); a kind may be a range: 0:15,0 then 15:30,0 "
                             "splits the single-line holes over two runs")
    parser.add_argument("--only", action="append", choices=SECTIONS,
                        help="run only this section (repeatable); load and memory always run; "
                             "`check` (the --check problem set, ~1 h) runs only when named")
    parser.add_argument("--problems", type=int, metavar="N",
                        help="check: the first N problems of each category (default all)")
    parser.add_argument("--category", action="append", choices=CATEGORIES,
                        help="check: only this category of problems (repeatable)")
    parser.add_argument("--no-probes", action="store_true",
                        help="skip the fresh-process cold-load and peak-RSS probes")
    parser.add_argument("--model", help="path of a .gguf file (default: the search path)")
    add_flags(parser, on("cli", MODEL_SETTINGS), "cli")  # --n-ctx, --threads
    parser.add_argument("--output", help="also write the JSON to this file")
    parser.add_argument("--sweep", action="store_true",
                        help="instead: measure the llama.cpp settings behind the defaults "
                             "(threads, n_batch, flash attention, KV cache type, mmap)")


def _hole_counts(text: str) -> tuple[tuple[int, int], tuple[int, int]]:
    """``"30,0"`` or ``"15:30,0"``: the (first, end) holes of each kind."""
    try:
        ranges = []
        for part in text.split(","):
            first, _, end = part.rpartition(":")
            ranges.append((int(first or 0), int(end)))
        (single, multi) = ranges
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected two counts like 30,0 or 15:30,0, got {text!r}"
                                         ) from None
    if any(not 0 <= first <= end for first, end in ranges):
        raise argparse.ArgumentTypeError(f"hole ranges run from 0 upwards, got {text!r}")
    return single, multi


def main(args: argparse.Namespace) -> int:
    """``qwen-magic bench`` with its parsed arguments (see :func:`add_arguments`)."""
    if args.only == ["examples"]:  # the one section without the model: nothing to load
        return examples_alone(["--json"] if args.json else [])
    engine_hooks.import_llama_cpp()  # first, so the raw baseline runs with the same OpenMP setting

    plan = Plan.quick() if args.quick else Plan()
    if args.rounds:
        plan = dataclasses.replace(plan, rounds=args.rounds, context_rounds=None, edit_rounds=None)
    if args.problems or args.category:
        plan = dataclasses.replace(plan, check_problems=args.problems or plan.check_problems,
                                   check_categories=tuple(args.category or CATEGORIES))
    if args.holes:
        (first_single, single), (first_multi, multi) = args.holes
        plan = dataclasses.replace(plan, completion_single=single, completion_multi=multi,
                                   completion_first=(first_single, first_multi))
    model_path = str(engine_hooks.resolve_model(args.model))
    # Every path (and every probe process) must find the same file through the same search.
    os.environ[engine_hooks.MODEL_VARIABLE] = model_path
    config = ModelConfig().replace(**given(args, on("cli", MODEL_SETTINGS)))
    progress = Progress(quiet=args.json)
    if args.sweep:
        result: dict[str, Any] = {"schema": SCHEMA, "machine": machine_info(),
                  "sweep": sweep(model_path, config, args.rounds or plan.rounds, sweep_prompt(), 64,
                                 progress)}
        result["machine"]["loadavg_end"] = loadavg()
        text = json.dumps(result, indent=2)
        table = format_sweep(result["sweep"]) if not args.json else text
    else:
        result = run(plan, model_path, config, sections=args.only or DEFAULT_SECTIONS,
                     probes=not args.no_probes, progress=progress)
        result["quick"] = bool(args.quick)
        text = json.dumps(result, indent=2)
        table = format_table(result) if not args.json else text
    if args.output:
        with open(args.output, "w", encoding="utf-8") as f:
            f.write(text + "\n")
    print(table)
    return 0


class Progress:
    """One line per trial on stderr, so a long run shows it is alive (silent with --json)."""

    def __init__(self, quiet: bool) -> None:
        self.quiet, self.started = quiet, time.perf_counter()

    def __call__(self, message: str) -> None:
        if not self.quiet:
            print(f"[{time.perf_counter() - self.started:6.1f}s] {message}", file=sys.stderr, flush=True)


def run(plan: Plan, model_path: str, config: ModelConfig, *, sections: Collection[str],
        probes: bool, progress: Progress) -> dict[str, Any]:
    """Measure ``sections`` (and always load and memory); the report ``--json`` prints."""
    report: dict[str, Any] = {"schema": SCHEMA, "machine": machine_info(),
                              "plan": dataclasses.asdict(plan)}
    report["settings"] = {"model": model_path, **{k: v for k, v in dataclasses.asdict(config).items()
                                                   if k not in ("path", "verbose")}}
    provider = get_provider(model_config=config, provider="local")
    loads = LoadWatch()
    magic = MagicPath(config)  # %load_ext: the product's model loads (in the background) here
    product_model = load_model(provider)  # the magic's model: a cache lookup
    if product_model is None:
        raise RuntimeError(f"the {provider.name} provider loads no model to benchmark")
    loads.sample()
    raw = RawPath(model_path, config)
    progress(f"loaded: product {product_model.load_seconds:.2f}s, raw {raw.load_s:.2f}s")
    bench = Bench(raw, magic, plan, provider, loads, config)
    warm_up(bench)
    report["magic_sink"] = magic.sink_kind()

    for name in SECTIONS:
        if name in sections:
            report[name] = SCENARIOS[name](bench, progress)

    started = time.perf_counter()
    load_model(provider)  # what a second request pays for loading: a cache lookup
    second_request_load_s = time.perf_counter() - started
    loads.sample()
    report["load"] = {
        "raw_in_process_s": raw.load_s,
        "product_in_process_s": product_model.load_seconds,
        "second_request_load_s": second_request_load_s,
        "product_loads": loads.loads,
    }
    report["memory"] = {}
    if probes:
        load, report["memory"] = cold_load_and_memory(plan, model_path, config, bench.count, progress)
        report["load"].update(load)
    report["machine"]["loadavg_end"] = loadavg()
    report["goals"] = goals(report)
    _remember_speed(report, model_path, plan)
    return report


def _remember_speed(report: dict[str, Any], model_path: str, plan: Plan) -> None:
    """This machine's decode speed of the model, for `qwen-magic info` and `models`."""
    api = report.get("short", {}).get("paths", {}).get("api", {})
    decode = (api.get("decode_tok_s") or {}).get("median")
    if decode:
        remember(model_path, SpeedRecord(decode, (api.get("ttft_s") or {}).get("median"),
                                         today(), plan == Plan.quick()))
