"""`qwen-magic bench --sweep`: the llama.cpp settings behind ModelConfig's defaults, measured.

Each setting is varied alone around the defaults, in a fresh process per sample (so load time
and peak RSS belong to that setting alone), in an order that rotates from round to round.
The numbers and the choices made from them are in docs/performance.md.
"""

from __future__ import annotations

import contextlib
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from typing import Any

# GGML type ids (ggml.h): the KV cache element types worth trying on a CPU.
GGML_F16, GGML_Q8_0 = 1, 8

VARIANTS: dict[str, dict[str, Any]] = {
    "defaults": {},
    "threads=1": {"n_threads": 1, "n_threads_batch": 1},
    "threads=1,batch-threads=2": {"n_threads": 1, "n_threads_batch": 2},
    "n_batch=512": {"n_batch": 512},
    "n_batch=128": {"n_batch": 128},
    "flash_attn": {"flash_attn": True},
    "flash_attn+kv=q8_0": {"flash_attn": True, "type_k": GGML_Q8_0, "type_v": GGML_Q8_0},
    "no-mmap": {"use_mmap": False},
    # Not a Llama argument: libgomp's own default spin (loader.OPENMP_SPIN_COUNT bounds it).
    "openmp-default-spin": {"env": {"GOMP_SPINCOUNT": "300000"}},
}


def probe_setting(settings: dict[str, Any]) -> dict[str, Any]:
    """In a fresh process: load with one variant, read a prompt, decode, report."""
    from .bench_probe import _path, _peak_rss_mb
    from .config import ModelConfig
    from .loader import import_llama_cpp, llama_kwargs

    Llama = import_llama_cpp().Llama
    kwargs = llama_kwargs(_path(settings["model"]), ModelConfig(**settings["model_config"]))
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
            "peak_rss_mb": _peak_rss_mb()}


def sweep(model_path: str, config: Any, rounds: int, prompt: str, decode_tokens: int,
          progress: Callable[[str], None]) -> dict[str, Any]:
    from .bench_probe import run_probe
    from .bench_scenarios import rotated, stats

    base = {"model": model_path, "prompt": prompt, "decode_tokens": decode_tokens,
            "model_config": {"n_ctx": config.n_ctx, "n_threads": config.n_threads,
                             "n_batch": config.n_batch, "flash_attn": config.flash_attn,
                             "use_mmap": config.use_mmap}}
    samples: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for round_ in range(rounds):
        for condition in CONDITIONS:
            for name in rotated(list(VARIANTS), round_):
                with _competing(condition):
                    result = run_probe("sweep", {**base, "variant": VARIANTS[name]},
                                       env=VARIANTS[name].get("env"))
                samples.setdefault((condition, name), []).append(result)
                progress(f"sweep round {round_ + 1} {condition} {name}: pp "
                         f"{result['prompt_tok_s']:.0f} tok/s, decode {result['decode_tok_s']:.1f} "
                         f"tok/s, RSS {result['peak_rss_mb']:.0f} MB")
    out: dict[str, Any] = {"rounds": rounds, "decode_tokens": decode_tokens, "conditions": {}}
    for (condition, name), results in samples.items():
        out["conditions"].setdefault(condition, {})[name] = {
            "settings": VARIANTS[name],
            **{key: stats([r[key] for r in results]) for key in
               ("load_s", "prompt_tok_s", "decode_tok_s", "decode_tok_s_median_gap", "peak_rss_mb")},
        }
    out["prompt_tokens"] = next(iter(samples.values()))[0]["prompt_tokens"] if samples else None
    return out


# "busy": another process keeps one core busy (a browser rendering, another kernel) — the
# case where llama.cpp's thread barriers suffer most. Simulated by a spinning child process.
CONDITIONS = ("idle", "one core busy")


@contextlib.contextmanager
def _competing(condition: str) -> Iterator[None]:
    if condition == "idle":
        yield
        return
    spinner = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        yield
    finally:
        spinner.kill()
        spinner.wait()


def format_sweep(result: dict[str, Any]) -> str:
    from .bench import _mmm

    lines = [f"settings sweep: {result['rounds']} rounds, prompt {result['prompt_tokens']} tokens, "
             f"{result['decode_tokens']} decoded; median [min–max]"]
    for condition, variants in result["conditions"].items():
        lines.append(f"{condition}:")
        lines.append(f"  {'variant':<28}{'load s':<20}{'prompt tok/s':<22}{'decode tok/s':<22}"
                     f"{'decode (median gap)':<22}{'peak RSS MB':<20}")
        for name, v in variants.items():
            lines.append(f"  {name:<28}{_mmm(v['load_s']):<20}{_mmm(v['prompt_tok_s'], 0):<22}"
                         f"{_mmm(v['decode_tok_s'], 1):<22}{_mmm(v['decode_tok_s_median_gap'], 1):<22}"
                         f"{_mmm(v['peak_rss_mb'], 0):<20}")
    return "\n".join(lines)
