"""Cold load and peak memory, measured in a fresh process per sample.

Peak RSS is a property of a whole process (``ru_maxrss`` never goes down), and the benchmark's
main process holds two models (the raw baseline's and the product's), so each figure comes
from a child that does what a user's process does and nothing else:

- ``raw``: load ``llama_cpp.Llama`` and stream chat completions;
- ``kernel``: an IPython shell, ``%load_ext qwen_magic`` (the model loads in the background),
  then ``%%qwen`` cells — a short request and two long contexts visited A, B, A, so the
  prefix-state cache holds its snapshots when the peak is read;
- ``sweep``: load with one variant of the llama.cpp settings, read a prompt, decode
  (``qwen-magic bench --sweep``, see :mod:`.sweep`).

A child runs ``python -m qwen_magic.bench probe KIND JSON-SETTINGS`` and prints one JSON line.
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import time
from collections.abc import Callable
from typing import Any

from ..config import ModelConfig
from ..providers import engine_hooks
from ..providers.base import GenerationRequest
from .plan import Plan
from .prompts import SHORT_REQUESTS, build_context, with_context
from .runners import RESULT_VARIABLE, LoadWatch, RecordingPublisher, load_magics
from .stats import stats


def peak_rss_mb() -> float:
    """This process's own RSS high-water mark.

    Not ``ru_maxrss``: Linux carries it over from the parent through fork and exec, so a probe
    started by the benchmark (which holds two models) would report the benchmark's peak.
    ``VmHWM`` belongs to the process's own address space.
    """
    try:
        with open("/proc/self/status", encoding="ascii") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    scale = 1 if sys.platform == "darwin" else 1024  # ru_maxrss: bytes on macOS, KiB on Linux
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * scale / 1024**2


def current_rss_mb() -> float:
    import psutil

    return psutil.Process().memory_info().rss / 1024**2


def model_settings(config: ModelConfig) -> dict[str, Any]:
    """The ModelConfig fields a probe is given (JSON, on its command line)."""
    return {"n_ctx": config.n_ctx, "n_threads": config.n_threads, "n_batch": config.n_batch,
            "flash_attn": config.flash_attn, "use_mmap": config.use_mmap}


def probe_raw(settings: dict[str, Any]) -> dict[str, Any]:
    Llama = engine_hooks.import_llama_cpp().Llama
    config = ModelConfig(**settings["model_config"])
    started = time.perf_counter()
    llm = Llama(**engine_hooks.llama_kwargs(settings["model"], config))
    load_s = time.perf_counter() - started
    for prompt in settings["prompts"]:
        request = GenerationRequest.from_prompt(prompt)
        for _ in llm.create_chat_completion(messages=request.messages, temperature=0,
                                            max_tokens=settings["max_tokens"], stream=True):
            pass
    return {"load_s": load_s, "peak_rss_mb": peak_rss_mb(), "rss_mb": current_rss_mb()}


def probe_kernel(settings: dict[str, Any]) -> dict[str, Any]:
    from IPython.core.interactiveshell import InteractiveShell  # only in this probe's process

    loads = LoadWatch()
    shell = InteractiveShell.instance()
    load_magics(shell, RecordingPublisher(), ModelConfig(**settings["model_config"]))
    loads.sample()
    for prompt in settings["prompts"]:
        outcome = shell.run_cell(f"%%qwen -t 0 -n {settings['max_tokens']} --no-insert "
                                 f"--out {RESULT_VARIABLE}\n{prompt}", store_history=False)
        if not outcome.success:
            raise RuntimeError(f"%%qwen failed: {outcome.error_in_exec}")
        loads.sample()
    model = engine_hooks.loaded_models()[0]
    return {"load_s": model.load_seconds, "peak_rss_mb": peak_rss_mb(),
            "rss_mb": current_rss_mb(), "loads": loads.loads, **engine_hooks.prefix_states()}


def probe_setting(settings: dict[str, Any]) -> dict[str, Any]:
    """Load with one variant of the settings, read a prompt, decode, report."""
    Llama = engine_hooks.import_llama_cpp().Llama
    kwargs = engine_hooks.llama_kwargs(settings["model"], ModelConfig(**settings["model_config"]))
    kwargs.update({k: v for k, v in settings["variant"].items() if k != "env"})
    started = time.perf_counter()
    llm = Llama(**kwargs)
    load_s = time.perf_counter() - started
    prompt = llm.tokenize(settings["prompt"].encode("utf-8"), add_bos=False, special=True)
    llm.eval(prompt[:8])  # first-touch of the weights stays out of the prompt figure
    llm.reset()
    started = time.perf_counter()
    llm.eval(prompt)
    pp_s = time.perf_counter() - started
    times = []
    for n, _ in enumerate(llm.generate(prompt, temp=0.0, top_k=1), 1):
        times.append(time.perf_counter())
        if n >= settings["decode_tokens"]:
            break
    gaps = sorted(b - a for a, b in zip(times, times[1:], strict=False))
    return {"load_s": load_s, "prompt_tokens": len(prompt), "prompt_tok_s": len(prompt) / pp_s,
            "decode_tok_s": (len(times) - 1) / (times[-1] - times[0]),
            # The median gap between tokens shrugs off another process's burst on a shared CPU.
            "decode_tok_s_median_gap": 1 / gaps[len(gaps) // 2],
            "peak_rss_mb": peak_rss_mb()}


PROBES: dict[str, Callable[[dict[str, Any]], dict[str, Any]]] = {
    "raw": probe_raw, "kernel": probe_kernel, "sweep": probe_setting,
}


def run_probe(kind: str, settings: dict[str, Any], timeout: float = 900,
              env: dict[str, str] | None = None) -> dict[str, Any]:
    """Run one probe in a fresh interpreter and return what it measured."""
    done = subprocess.run(
        [sys.executable, "-m", "qwen_magic.bench", "probe", kind, json.dumps(settings)],
        capture_output=True, text=True, timeout=timeout, check=False,
        env={**os.environ, **(env or {})},
    )
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    if done.returncode != 0 or not lines:
        raise RuntimeError(f"bench probe {kind!r} failed ({done.returncode}): {done.stderr[-2000:]}")
    return json.loads(lines[-1])


def main(argv: list[str]) -> int:
    """The child's side of :func:`run_probe`: ``KIND JSON-SETTINGS`` → one JSON line."""
    kind, settings = argv[0], json.loads(argv[1])
    print(json.dumps(PROBES[kind](settings)))
    return 0


def cold_load_and_memory(plan: Plan, model_path: str, config: ModelConfig,
                         count: Callable[[str], int],
                         progress: Callable[[str], None]) -> tuple[dict[str, Any], dict[str, Any]]:
    """Cold load (``load`` entries) and peak memory (the ``memory`` section), from probes.

    The kernel's worst case: a short cell, then two long contexts A, B, A — the prefix cache
    then holds snapshots of both while the third one is read.
    """
    contexts = [build_context(kind, plan.context_tokens, count) for kind in ("analysis", "text")]
    prompts = [SHORT_REQUESTS[0]] + [with_context(c, "Summarize this notebook.")
                                     for c in (contexts[0], contexts[1], contexts[0])]
    settings = {"model": model_path, "model_config": model_settings(config),
                "prompts": prompts, "max_tokens": 8}
    results: dict[str, list[dict[str, Any]]] = {"raw": [], "kernel": []}
    for i in range(plan.probes):
        for kind in (("raw", "kernel") if i % 2 == 0 else ("kernel", "raw")):
            results[kind].append(run_probe(kind, settings))
            progress(f"probe {kind}: load {results[kind][-1]['load_s']:.2f}s, "
                     f"peak RSS {results[kind][-1]['peak_rss_mb']:.0f} MB")
    load = {"raw_cold_s": stats([r["load_s"] for r in results["raw"]]),
            "kernel_cold_s": stats([r["load_s"] for r in results["kernel"]])}
    memory = {
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
    return load, memory
