"""`qwen-magic bench --sweep`: the llama.cpp settings behind ModelConfig's defaults, measured.

Each setting is varied alone around the defaults, in a fresh process per sample (so load time
and peak RSS belong to that setting alone), in an order that rotates from round to round.
The numbers and the choices made from them are in docs/performance.md.
"""

from __future__ import annotations

import contextlib
import subprocess
import sys
from collections.abc import Callable, Iterator
from typing import Any

from ..config import ModelConfig
from .plan import rotated
from .probes import model_settings, run_probe
from .prompts import build_context, with_context
from .stats import stats

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
    # Not a Llama argument: libgomp's own default spin (models.OPENMP_SPIN_COUNT bounds it).
    "openmp-default-spin": {"env": {"GOMP_SPINCOUNT": "300000"}},
}

# "busy": another process keeps one core busy (a browser rendering, another kernel) — the
# case where llama.cpp's thread barriers suffer most. Simulated by a spinning child process.
CONDITIONS = ("idle", "one core busy")


def sweep_prompt() -> str:
    """A ~500-token notebook prompt: long enough for a stable prompt-speed figure, short
    enough that a sweep of every variant over a few rounds takes minutes, not an hour."""
    # The tokenizer is in the probes' processes; ~3 characters a token is near enough here.
    return with_context(build_context("analysis", 500, lambda text: len(text) // 3),
                        "Write a function that plots the monthly totals.")


def sweep(model_path: str, config: ModelConfig, rounds: int, prompt: str, decode_tokens: int,
          progress: Callable[[str], None]) -> dict[str, Any]:
    """Every variant under every condition, ``rounds`` times, one fresh process per sample."""
    base = {"model": model_path, "prompt": prompt, "decode_tokens": decode_tokens,
            "model_config": model_settings(config)}
    samples: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for round_ in range(rounds):
        for condition in CONDITIONS:
            for name in rotated(list(VARIANTS), round_):
                with competing(condition):
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



@contextlib.contextmanager
def competing(condition: str) -> Iterator[None]:
    if condition == "idle":
        yield
        return
    spinner = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        yield
    finally:
        spinner.kill()
        spinner.wait()
