"""`qwen-magic bench`: the product against raw llama-cpp-python, in one run, on one model.

Absolute speeds on a shared or throttled CPU drift by tens of percent from minute to minute,
so the claims are ratios between paths measured in the same trial (see bench_scenarios).
The run records the machine and its load average so a reader can judge the absolute figures.

Sections (the JSON keys):
  load            cold load per path (fresh processes) and what a second request loads (nothing)
  memory          peak RSS of a raw process and of a kernel with the model and prefix states
  short           short code requests: time to first token, prompt and decode tok/s, ratios
  shared_prefix   a second cell with the same ~1,500-token context
  alternating     two long contexts in turn (panel vs cell)
  edits           edit requests: plain vs prompt-lookup speculative decoding, and how often
                  their temperature-0 outputs match
  goals           each target of issue 5, met or not, from the numbers above
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from typing import Any

SCHEMA = 1
SECTIONS = ("short", "shared_prefix", "alternating", "edits")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--quick", action="store_true", help="about one minute: fewer, shorter requests")
    parser.add_argument("--json", action="store_true", help="print the results as JSON")
    parser.add_argument("--rounds", type=int, help="interleaved rounds (default 3, quick 2)")
    parser.add_argument("--only", action="append", choices=SECTIONS,
                        help="run only this section (repeatable); load and memory always run")
    parser.add_argument("--no-probes", action="store_true",
                        help="skip the fresh-process cold-load and peak-RSS probes")
    parser.add_argument("--model", help="path of a .gguf file (default: the search path)")
    parser.add_argument("--n-ctx", type=int, help="context window (default 4096)")
    parser.add_argument("--threads", type=int, help="CPU threads (default: physical cores)")
    parser.add_argument("--output", help="also write the JSON to this file")
    parser.add_argument("--sweep", action="store_true",
                        help="instead: measure the llama.cpp settings behind the defaults "
                             "(threads, n_batch, flash attention, KV cache type, mmap)")


def main(args: argparse.Namespace) -> int:
    import dataclasses

    from .bench_scenarios import Plan
    from .config import ModelConfig
    from .loader import import_llama_cpp, resolve_model_path

    import_llama_cpp()  # first, so the raw baseline runs with the same OpenMP setting

    plan = Plan.quick() if args.quick else Plan()
    if args.rounds:
        plan = dataclasses.replace(plan, rounds=args.rounds, context_rounds=None, edit_rounds=None)
    model_path = str(resolve_model_path(args.model))
    # Every path (and every probe process) must find the same file through the same search.
    os.environ["QWEN_MAGIC_MODEL"] = model_path
    config = ModelConfig().replace(n_ctx=args.n_ctx, n_threads=args.threads)
    progress = _Progress(quiet=args.json)
    if args.sweep:
        return _sweep(args, plan, model_path, config, progress)
    report = run(plan, model_path, config, sections=args.only or SECTIONS,
                 probes=not args.no_probes, progress=progress)
    report["quick"] = bool(args.quick)
    text = json.dumps(report, indent=2)
    if args.output:
        with open(args.output, "w", encoding="utf-8") as f:
            f.write(text + "\n")
    print(text if args.json else format_table(report))
    return 0


def _sweep(args: argparse.Namespace, plan: Any, model_path: str, config: Any, progress: Any) -> int:
    from .bench_prompts import build_context, with_context
    from .bench_sweep import format_sweep, sweep

    # A ~500-token notebook prompt: long enough for a stable prompt-speed figure, short
    # enough that a sweep of eight variants over three rounds takes minutes, not an hour.
    prompt = with_context(build_context("analysis", 500, lambda text: len(text) // 3),
                          "Write a function that plots the monthly totals.")
    result = {"schema": SCHEMA, "machine": machine_info(),
              "sweep": sweep(model_path, config, args.rounds or plan.rounds, prompt, 64, progress)}
    result["machine"]["loadavg_end"] = _loadavg()
    if args.output:
        with open(args.output, "w", encoding="utf-8") as f:
            f.write(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2) if args.json else format_sweep(result["sweep"]))
    return 0


class _Progress:
    """One line per trial on stderr, so a long run shows it is alive (silent with --json)."""

    def __init__(self, quiet: bool) -> None:
        self.quiet, self.started = quiet, time.perf_counter()

    def __call__(self, message: str) -> None:
        if not self.quiet:
            print(f"[{time.perf_counter() - self.started:6.1f}s] {message}", file=sys.stderr, flush=True)


def run(plan: Any, model_path: str, config: Any, *, sections: Any, probes: bool,
        progress: Any) -> dict[str, Any]:
    from . import bench_scenarios as scenarios
    from . import loader
    from .bench_paths import MagicPath, RawPath

    report: dict[str, Any] = {"schema": SCHEMA, "machine": machine_info(), "plan": vars_of(plan)}
    report["settings"] = {"model": model_path, **{k: v for k, v in vars_of(config).items()
                                                   if k not in ("path", "verbose")}}
    loads_before = loader.load_count
    magic = MagicPath()  # %load_ext: the product's model loads (in the background) here
    product_model = loader.loaded_models()[0]
    raw = RawPath(model_path, config)
    progress(f"loaded: product {product_model.load_seconds:.2f}s, raw {raw.load_s:.2f}s")
    bench = scenarios.Bench(raw, magic, plan)
    _warm_up(bench)
    report["magic_sink"] = magic.sink_kind()

    runners = {"short": scenarios.short_requests, "shared_prefix": scenarios.shared_prefix,
               "alternating": scenarios.alternating, "edits": scenarios.edits}
    for name in SECTIONS:
        if name in sections:
            report[name] = runners[name](bench, progress)

    started = time.perf_counter()
    bench.provider.loader.load()  # what a second request pays for loading: a cache lookup
    report["load"] = {
        "raw_in_process_s": raw.load_s,
        "product_in_process_s": product_model.load_seconds,
        "second_request_load_s": time.perf_counter() - started,
        "product_loads": loader.load_count - loads_before,
    }
    report["memory"] = {}
    if probes:
        _probe(report, plan, model_path, config, progress)
    report["machine"]["loadavg_end"] = _loadavg()
    report["goals"] = goals(report)
    return report


def _warm_up(bench: Any) -> None:
    """First touches of the weights, the chat template and the file digest stay out of the numbers."""
    from .bench_scenarios import _greedy

    for path in ("raw", "api", "magic"):
        bench.reset(path)
        bench.run(path, "Say hi.", _greedy(1, 4))


def _probe(report: dict[str, Any], plan: Any, model_path: str, config: Any, progress: Any) -> None:
    from .bench_probe import run_probe
    from .bench_prompts import SHORT_REQUESTS, build_context, with_context
    from .bench_scenarios import stats

    # The kernel's worst case: a short cell, then two long contexts A, B, A — the prefix cache
    # then holds snapshots of both while the third one is read.
    count = _counter(model_path, config)
    contexts = [build_context(kind, plan.context_tokens, count) for kind in ("analysis", "text")]
    prompts = [SHORT_REQUESTS[0]] + [with_context(c, "Summarize this notebook.")
                                     for c in (contexts[0], contexts[1], contexts[0])]
    settings = {"model": model_path, "model_config": {"n_ctx": config.n_ctx,
                                                      "n_threads": config.n_threads,
                                                      "n_batch": config.n_batch,
                                                      "flash_attn": config.flash_attn,
                                                      "use_mmap": config.use_mmap},
                "prompts": prompts, "max_tokens": 8}
    results: dict[str, list[dict[str, Any]]] = {"raw": [], "kernel": []}
    for i in range(plan.probes):
        for kind in (("raw", "kernel") if i % 2 == 0 else ("kernel", "raw")):
            results[kind].append(run_probe(kind, settings))
            progress(f"probe {kind}: load {results[kind][-1]['load_s']:.2f}s, "
                     f"peak RSS {results[kind][-1]['peak_rss_mb']:.0f} MB")
    report["load"]["raw_cold_s"] = stats([r["load_s"] for r in results["raw"]])
    report["load"]["kernel_cold_s"] = stats([r["load_s"] for r in results["kernel"]])
    report["memory"] = {
        "raw_peak_rss_mb": stats([r["peak_rss_mb"] for r in results["raw"]]),
        "kernel_peak_rss_mb": stats([r["peak_rss_mb"] for r in results["kernel"]]),
        "kernel_prefix_cache_mb": stats([r["prefix_cache_mb"] for r in results["kernel"]]),
        "kernel_prefix_snapshots": max(r["prefix_snapshots"] for r in results["kernel"]),
        # The probe's snapshots may not fill the budget; a kernel that fills it peaks this high.
        "kernel_peak_rss_full_cache_mb": max(
            r["peak_rss_mb"] + config.prefix_cache_mb - r["prefix_cache_mb"] for r in results["kernel"]),
        "prefix_cache_budget_mb": config.prefix_cache_mb,
        "kernel_loads": max(r["loads"] for r in results["kernel"]),
        "n_ctx": config.n_ctx,
    }


def _counter(model_path: str, config: Any) -> Any:
    from .loader import loaded_models

    llama = loaded_models()[0].llama
    return lambda text: len(llama.tokenize(text.encode("utf-8"), add_bos=False, special=False))


def vars_of(obj: Any) -> dict[str, Any]:
    import dataclasses

    return dataclasses.asdict(obj)


def _loadavg() -> list[float] | None:
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:  # pragma: no cover - not on this platform
        return None


def machine_info() -> dict[str, Any]:
    from importlib.metadata import PackageNotFoundError, version

    import psutil

    def ver(name: str) -> str | None:
        try:
            return version(name)
        except PackageNotFoundError:
            return None

    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            cpu = next((line.split(":", 1)[1].strip() for line in f if line.startswith("model name")), cpu)
    except OSError:
        pass
    try:
        import llama_cpp

        system_info = llama_cpp.llama_print_system_info().decode("utf-8", "replace").strip()
    except Exception:  # only informative
        system_info = None
    return {
        "cpu": cpu,
        "logical_cpus": os.cpu_count(),
        "physical_cores": psutil.cpu_count(logical=False),
        "memory_total_mb": psutil.virtual_memory().total // 1024**2,
        "platform": platform.platform(),
        "python": platform.python_version(),
        "versions": {name: ver(name) for name in
                     ("qwen-magic", "llama_cpp_python", "ipython", "numpy", "psutil")},
        "llama_cpp_system_info": system_info,
        "loadavg_start": _loadavg(),
    }


# -- goals -----------------------------------------------------------------------------------

def _get(report: dict[str, Any], *keys: str) -> Any:
    node: Any = report
    for key in keys:
        if not isinstance(node, dict) or key not in node:
            return None
        node = node[key]
    return node


def _goal(value: Any, ok: bool | None, target: str) -> dict[str, Any]:
    return {"value": value, "target": target, "met": ok}


def goals(report: dict[str, Any]) -> dict[str, Any]:
    """Each target of issue 5 with the measured value it is judged on (medians over trials)."""
    out: dict[str, Any] = {}
    for path in ("api", "magic"):
        ratio = _get(report, "short", "paths", path, "decode_ratio_vs_raw", "median")
        out[f"{path}_decode_ratio"] = _goal(ratio, None if ratio is None else ratio >= 0.95, ">= 0.95")
        delta = _get(report, "short", "paths", path, "ttft_delta_vs_raw_s", "median")
        out[f"{path}_ttft_delta_s"] = _goal(delta, None if delta is None else delta <= 0.05, "<= 0.05")
    loads, second = _get(report, "load", "product_loads"), _get(report, "load", "second_request_load_s")
    out["no_reload"] = _goal({"loads": loads, "second_request_load_s": second},
                             loads == 1 and second is not None and second < 0.01, "1 load, second ~0 s")
    rss = _get(report, "memory", "kernel_peak_rss_full_cache_mb")
    out["kernel_peak_rss_mb"] = _goal(rss, None if rss is None else rss <= 800,
                                      "<= 800 at n_ctx 4096, prefix cache full")
    speedup = _get(report, "shared_prefix", "paths", "api", "speedup", "min")
    out["shared_prefix_speedup"] = _goal(speedup, None if speedup is None else speedup >= 3,
                                         ">= 3 (slowest trial)")
    alternating = _get(report, "alternating", "paths", "api", "speedup", "min")
    out["alternating_return_speedup"] = _goal(
        alternating, None if alternating is None else alternating >= 3, ">= 3 on every return")
    spec = _get(report, "edits", "paths", "speculative", "decode_ratio_vs_raw", "median")
    out["speculative_decode_ratio"] = _goal(spec, None if spec is None else spec >= 1.5, ">= 1.5")
    match = _get(report, "edits", "match")
    out["speculative_matches_plain"] = _goal(
        None if match is None else f"{match['identical']}/{match['total']}", None, "reported")
    return out


# -- table -----------------------------------------------------------------------------------

def _f(value: Any, digits: int = 2) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def _mmm(node: Any, digits: int = 2) -> str:
    if not node or node.get("median") is None:
        return "-"
    return f"{_f(node['median'], digits)} [{_f(node['min'], digits)}–{_f(node['max'], digits)}]"


def format_table(report: dict[str, Any]) -> str:
    m = report["machine"]
    lines = [
        f"qwen-magic bench ({'quick' if report.get('quick') else 'full'}) — {m['cpu']}, "
        f"{m['physical_cores']} cores / {m['logical_cpus']} CPUs, load avg "
        f"{m['loadavg_start']} → {m.get('loadavg_end')}",
        f"llama-cpp-python {m['versions']['llama_cpp_python']}, ipython {m['versions']['ipython']}, "
        f"python {m['python']}; model {os.path.basename(report['settings']['model'])}, "
        f"n_ctx {report['settings']['n_ctx']}, {report['settings']['n_threads']} threads, "
        f"n_batch {report['settings']['n_batch']}; magic display: {report.get('magic_sink')}",
        "values: median [min–max] over trials",
        "",
    ]
    for name, title in (("short", "short code requests"), ("edits", "edit requests (temperature 0)")):
        section = report.get(name)
        if not section:
            continue
        lines.append(f"{title}, {section['trials']} trials")
        lines.append(f"  {'path':<12}{'TTFT s':<22}{'prompt tok/s':<24}{'decode tok/s':<24}"
                     f"{'decode ×raw':<22}{'TTFT −raw s':<24}")
        for path, e in section["paths"].items():
            lines.append(f"  {path:<12}{_mmm(e['ttft_s']):<22}{_mmm(e['prompt_tok_s'], 0):<24}"
                         f"{_mmm(e['decode_tok_s'], 1):<24}{_mmm(e.get('decode_ratio_vs_raw')):<22}"
                         f"{_mmm(e.get('ttft_delta_vs_raw_s'), 3):<24}")
        if name == "edits":
            match, acc = section["match"], section["acceptance"]
            lines.append(f"  speculative output identical to plain: {match['identical']}/{match['total']}; "
                         f"drafts accepted {acc['accepted']}/{acc['drafted']} ({_f(acc['rate'])})")
            for d in match["divergences"]:
                lines.append(f"    trial {d['trial']} diverges at char {d['at_char']}: "
                             f"{d['plain']!r} vs {d['speculative']!r}")
            for entry in section.get("per_prompt", []):
                lines.append(f"    {entry['prompt'][:58]:<60} speculative ×raw "
                             f"{_mmm(entry['decode_ratio_vs_raw'])}, accepted "
                             f"{entry['accepted']}/{entry['drafted']}")
            control = section.get("control")
            if control:
                lines.append(f"  non-edit control (code in the prompt, not copied): speculative "
                             f"×plain {_mmm(control['decode_ratio_vs_plain'])}, identical "
                             f"{control['identical']}/{control['total']}")
        lines.append("")
    shared = report.get("shared_prefix")
    if shared:
        lines.append(f"shared prefix: second cell after a {shared['context_tokens']}-token context")
        for path, e in shared["paths"].items():
            lines.append(f"  {path:<12}first {_mmm(e['first_ttft_s'])} s, "
                         f"second {_mmm(e['second_ttft_s'])} s, speedup {_mmm(e['speedup'], 1)}×")
        lines.append("")
    alt = report.get("alternating")
    if alt:
        lines.append(f"alternating contexts {alt['context_tokens']} tokens, {alt['visits']} visits each")
        for path, e in alt["paths"].items():
            firsts = ", ".join(f"{k} {v:.2f}s" for k, v in e["first_ttft_s"].items())
            lines.append(f"  {path:<12}first visits {firsts}; returns {_mmm(e['return_ttft_s'])} s, "
                         f"speedup {_mmm(e['speedup'], 1)}×")
        lines.append("")
    load, memory = report.get("load", {}), report.get("memory", {})
    lines.append(f"load: raw cold {_mmm(load.get('raw_cold_s'))} s, kernel cold "
                 f"{_mmm(load.get('kernel_cold_s'))} s (fresh processes, file in OS cache); "
                 f"second request {_f(load.get('second_request_load_s'), 4)} s, "
                 f"product loads {load.get('product_loads')}")
    if memory:
        lines.append(f"memory: raw peak RSS {_mmm(memory.get('raw_peak_rss_mb'), 0)} MB, kernel peak RSS "
                     f"{_mmm(memory.get('kernel_peak_rss_mb'), 0)} MB with "
                     f"{memory.get('kernel_prefix_snapshots')} prefix snapshots "
                     f"({_mmm(memory.get('kernel_prefix_cache_mb'), 1)} MB), n_ctx {memory.get('n_ctx')}; "
                     f"with the {memory.get('prefix_cache_budget_mb')} MB prefix budget full: "
                     f"{_f(memory.get('kernel_peak_rss_full_cache_mb'), 0)} MB")
    lines.append("")
    lines.append("goals")
    for name, g in report.get("goals", {}).items():
        mark = {True: "met", False: "NOT MET", None: "-"}[g["met"]]
        value = g["value"]
        if isinstance(value, dict):
            value = ", ".join(f"{k} {_f(v, 4)}" for k, v in value.items())
        lines.append(f"  {name:<30}{_f(value, 3):<40}{g['target']:<42}{mark}")
    return "\n".join(lines)
