"""Generation and model settings, validated in exactly one place.

Every entry point (the magics, the panel, the Python API, the CLI) builds a
:class:`GenerationConfig` or :class:`ModelConfig`; a bad value is rejected here with a
:class:`~qwen_magic.errors.ConfigError` that names the valid range, before any model work.
"""

from __future__ import annotations

import dataclasses
import math
import os
from dataclasses import dataclass, field
from typing import Any

from .errors import ConfigError

DEFAULT_MODEL_FILE = "qwen2.5-coder-0.5b-instruct-q4_k_m.gguf"

# Why these defaults: a 0.5B model wanders quickly when sampled hot, and code has to be
# exact, so the temperature sits well below Qwen's chat default (0.7) while top-p/top-k keep
# Qwen's own recommended values (0.8 / 20) so that low-probability junk tokens are cut off.
# A mild repeat penalty (Qwen ships 1.05-1.1) stops the small model from looping on a line.
# 512 new tokens fit a function with its explanation without a runaway answer.
DEFAULT_SYSTEM_PROMPT = (
    "You are Qwen, a coding assistant inside a Jupyter notebook. Answer with correct, "
    "idiomatic Python in a single ```python code block, followed by at most two short "
    "sentences of explanation."
)


SPECULATIVE_MODES = ("auto", "on", "off")


def _check_range(name: str, value: Any, low: float, high: float, *, integer: bool = False) -> None:
    kind = "an integer" if integer else "a number"
    bad_type = isinstance(value, bool) or not isinstance(value, int if integer else (int, float))
    if bad_type or (not integer and not math.isfinite(value)) or not low <= value <= high:
        high_text = "∞" if high == math.inf else f"{high:g}"
        raise ConfigError(
            f"{name} must be {kind} from {low:g} to {high_text}, got {value!r}."
        )


@dataclass(frozen=True)
class GenerationConfig:
    """How to sample one answer. Immutable: use :meth:`replace` to derive a variant."""

    temperature: float = 0.2
    top_p: float = 0.8
    top_k: int = 20
    min_p: float = 0.0
    repeat_penalty: float = 1.05
    max_tokens: int = 512
    seed: int | None = None
    stop: tuple[str, ...] = ()
    system: str | None = DEFAULT_SYSTEM_PROMPT
    # Prompt-lookup speculative decoding (see speculative.py): "auto" turns it on only where
    # the benchmark shows it faster, "on"/"off" force it. See docs/performance.md.
    speculative: str = "auto"
    # Same request → same text whatever ran before in this process (docs/reproducibility.md):
    # prompt reuse is cut back to whole aligned chunks, so a warm read matches a cold one.
    deterministic: bool = False

    def __post_init__(self) -> None:
        # Accept ints where floats are meant (``temperature=0``) but nothing else.
        _check_range("temperature", self.temperature, 0.0, 5.0)
        _check_range("top_p", self.top_p, 0.0, 1.0)
        _check_range("top_k", self.top_k, 0, 1_000_000, integer=True)
        _check_range("min_p", self.min_p, 0.0, 1.0)
        _check_range("repeat_penalty", self.repeat_penalty, 0.5, 2.0)
        _check_range("max_tokens", self.max_tokens, 1, 1_000_000, integer=True)
        if self.seed is not None:
            _check_range("seed", self.seed, 0, 2**32 - 1, integer=True)
        stop = (self.stop,) if isinstance(self.stop, str) else self.stop
        if not isinstance(stop, (tuple, list)) or not all(isinstance(s, str) and s for s in stop):
            raise ConfigError(f"stop must be a list of non-empty strings, got {self.stop!r}.")
        object.__setattr__(self, "stop", tuple(stop))
        if self.system is not None and not isinstance(self.system, str):
            raise ConfigError(f"system must be text or None, got {type(self.system).__name__}.")
        if not isinstance(self.deterministic, bool):
            raise ConfigError(f"deterministic must be True or False, got {self.deterministic!r}.")
        if self.speculative not in SPECULATIVE_MODES:
            modes = ", ".join(SPECULATIVE_MODES)
            raise ConfigError(f"speculative must be one of {modes}, got {self.speculative!r}.")

    def replace(self, **changes: Any) -> GenerationConfig:
        """A copy with ``changes`` applied; ``None`` values mean "keep the current one"."""
        unknown = set(changes) - {f.name for f in dataclasses.fields(self)}
        if unknown:
            raise ConfigError(
                f"Unknown generation setting(s): {', '.join(sorted(unknown))}. "
                f"Valid: {', '.join(f.name for f in dataclasses.fields(self))}."
            )
        kept = {k: v for k, v in changes.items() if v is not None}
        return dataclasses.replace(self, **kept)

    def as_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def default_threads() -> int:
    """Threads for decoding: llama.cpp's rule of one per physical core.

    llama-cpp-python's own default (half of the logical CPUs) halves decode speed on a VM that
    reports no SMT siblings, so physical cores come from psutil, and when the machine does not
    say, every logical CPU is used rather than a guess of one.
    """
    try:
        import psutil

        physical = psutil.cpu_count(logical=False)
    except Exception:  # psutil missing or the platform cannot tell
        physical = None
    return max(1, physical or os.cpu_count() or 1)


@dataclass(frozen=True)
class ModelConfig:
    """How to load the model. Part of the cache key, so two equal configs share one model."""

    path: str | None = None
    n_ctx: int = 4096
    n_threads: int = field(default_factory=default_threads)
    # Measured (docs/performance.md, `qwen-magic bench --sweep`): n_batch 256 reads prompts at
    # least as fast as 512 (121 vs 120 tok/s on 1,476 tokens) with an 18 MB smaller compute
    # buffer; 128 reads them ~6% slower. Flash attention decodes ~6% slower here and a q8_0 KV
    # cache (which needs it) slower still; without mmap the load takes 0.70 s, not 0.40 s.
    n_batch: int = 256
    flash_attn: bool = False
    use_mmap: bool = True
    verbose: bool = False
    # RAM for the KV states of earlier prompt prefixes (prefix_cache.py): 48 MB holds 4,000
    # tokens of context (12 KB each) — the panel's and a cell's 1,500-token contexts — and keeps
    # a kernel's peak RSS under 800 MB at n_ctx 4096.
    prefix_cache_mb: int = 48

    def __post_init__(self) -> None:
        _check_range("n_ctx", self.n_ctx, 256, 1_048_576, integer=True)
        _check_range("n_threads", self.n_threads, 1, 1024, integer=True)
        _check_range("n_batch", self.n_batch, 1, 65_536, integer=True)
        _check_range("prefix_cache_mb", self.prefix_cache_mb, 0, 1_048_576, integer=True)
        if self.path is not None and not isinstance(self.path, (str, os.PathLike)):
            raise ConfigError(f"model path must be a file path, got {self.path!r}.")

    def replace(self, **changes: Any) -> ModelConfig:
        return dataclasses.replace(self, **{k: v for k, v in changes.items() if v is not None})
