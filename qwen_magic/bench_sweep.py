"""`qwen-magic bench --sweep`: the llama.cpp settings behind ModelConfig's defaults, measured.

Each setting is varied alone around the defaults, in a fresh process per sample (so load time
and peak RSS belong to that setting alone), in an order that rotates from round to round.
The numbers and the choices made from them are in docs/performance.md.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

# GGML type ids (ggml.h): the KV cache element types worth trying on a CPU.
GGML_F16, GGML_Q8_0 = 1, 8

VARIANTS: dict[str, dict[str, Any]] = {
    "defaults": {},
    "threads=1": {"n_threads": 1, "n_threads_batch": 1},
    "threads=1,batch-threads=2": {"n_threads": 1, "n_threads_batch": 2},
    "n_batch=256": {"n_batch": 256},
    "n_batch=128": {"n_batch": 128},
    "flash_attn": {"flash_attn": True},
    "flash_attn+kv=q8_0": {"flash_attn": True, "type_k": GGML_Q8_0, "type_v": GGML_Q8_0},
    "no-mmap": {"use_mmap": False},
}


def probe_setting(settings: dict[str, Any]) -> dict[str, Any]:
    """In a fresh process: load with one variant, read a prompt, decode, report."""
    from llama_cpp import Llama

    from .bench_probe import _path, _peak_rss_mb
    from .config import ModelConfig
    from .loader import llama_kwargs

    kwargs = llama_kwargs(_path(settings["model"]), ModelConfig(**settings["model_config"]))
    kwargs.update(settings["variant"])
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
    samples: dict[str, list[dict[str, Any]]] = {name: [] for name in VARIANTS}
    for round_ in range(rounds):
        for name in rotated(list(VARIANTS), round_):
            result = run_probe("sweep", {**base, "variant": VARIANTS[name]})
            samples[name].append(result)
            progress(f"sweep round {round_ + 1} {name}: pp {result['prompt_tok_s']:.0f} tok/s, "
                     f"decode {result['decode_tok_s']:.1f} tok/s, RSS {result['peak_rss_mb']:.0f} MB")
    out: dict[str, Any] = {"rounds": rounds, "decode_tokens": decode_tokens, "variants": {}}
    for name, results in samples.items():
        out["variants"][name] = {
            "settings": VARIANTS[name],
            **{key: stats([r[key] for r in results]) for key in
               ("load_s", "prompt_tok_s", "decode_tok_s", "decode_tok_s_median_gap", "peak_rss_mb")},
        }
    out["prompt_tokens"] = samples["defaults"][0]["prompt_tokens"] if samples["defaults"] else None
    return out


def format_sweep(result: dict[str, Any]) -> str:
    from .bench import _mmm

    lines = [f"settings sweep: {result['rounds']} rounds, prompt {result['prompt_tokens']} tokens, "
             f"{result['decode_tokens']} decoded; median [min–max]",
             f"  {'variant':<28}{'load s':<20}{'prompt tok/s':<22}{'decode tok/s':<22}"
             f"{'decode (median gap)':<22}{'peak RSS MB':<20}"]
    for name, v in result["variants"].items():
        lines.append(f"  {name:<28}{_mmm(v['load_s']):<20}{_mmm(v['prompt_tok_s'], 0):<22}"
                     f"{_mmm(v['decode_tok_s'], 1):<22}{_mmm(v['decode_tok_s_median_gap'], 1):<22}"
                     f"{_mmm(v['peak_rss_mb'], 0):<20}")
    return "\n".join(lines)
