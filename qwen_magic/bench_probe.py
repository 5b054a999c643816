"""Cold load and peak memory, measured in a fresh process per sample.

Peak RSS is a property of a whole process (``ru_maxrss`` never goes down), and the benchmark's
main process holds two models (the raw baseline's and the product's), so each figure comes
from a child that does what a user's process does and nothing else:

- ``raw``: load ``llama_cpp.Llama`` and stream chat completions;
- ``kernel``: an IPython shell, ``%load_ext qwen_magic`` (the model loads in the background),
  then ``%%qwen`` cells — a short request and two long contexts visited A, B, A, so the
  prefix-state cache holds its snapshots when the peak is read.

Run as ``python -m qwen_magic.bench_probe KIND JSON-SETTINGS``; prints one JSON line.
"""

from __future__ import annotations

import json
import resource
import subprocess
import sys
import time
from typing import Any


def _peak_rss_mb() -> float:
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


def _current_rss_mb() -> float:
    import psutil

    return psutil.Process().memory_info().rss / 1024**2


def probe_raw(settings: dict[str, Any]) -> dict[str, Any]:
    from .config import ModelConfig
    from .loader import import_llama_cpp, llama_kwargs

    Llama = import_llama_cpp().Llama
    from .providers.base import GenerationRequest

    config = ModelConfig(**settings["model_config"])
    started = time.perf_counter()
    llm = Llama(**llama_kwargs(_path(settings["model"]), config))
    load_s = time.perf_counter() - started
    for prompt in settings["prompts"]:
        request = GenerationRequest.from_prompt(prompt)
        for _ in llm.create_chat_completion(messages=request.messages, temperature=0,
                                            max_tokens=settings["max_tokens"], stream=True):
            pass
    return {"load_s": load_s, "peak_rss_mb": _peak_rss_mb(), "rss_mb": _current_rss_mb()}


def probe_kernel(settings: dict[str, Any]) -> dict[str, Any]:
    from IPython.core.interactiveshell import InteractiveShell

    from . import loader
    from .bench_paths import RecordingPublisher
    from .magics import _registered
    from .providers.local import prefix_cache_for

    shell = InteractiveShell.instance()
    shell.display_pub = RecordingPublisher()
    mc = settings["model_config"]
    shell.run_line_magic("config", f"QwenMagics.n_ctx = {mc['n_ctx']}")
    shell.run_line_magic("config", f"QwenMagics.n_threads = {mc['n_threads']}")
    shell.run_line_magic("load_ext", "qwen_magic")
    magics = _registered[id(shell)]
    magics.wait_for_preload(lambda message: None)
    for prompt in settings["prompts"]:
        outcome = shell.run_cell(f"%%qwen -t 0 -n {settings['max_tokens']} --no-insert\n{prompt}",
                                 store_history=False)
        if not outcome.success:
            raise RuntimeError(f"%%qwen failed: {outcome.error_in_exec}")
    model = loader.loaded_models()[0]
    cache = prefix_cache_for(model.llama, model.config.prefix_cache_mb)
    return {"load_s": model.load_seconds, "peak_rss_mb": _peak_rss_mb(),
            "rss_mb": _current_rss_mb(), "loads": loader.load_count,
            "prefix_cache_mb": cache.size_bytes / 1024**2, "prefix_snapshots": len(cache)}


def run_probe(kind: str, settings: dict[str, Any], timeout: float = 900,
              env: dict[str, str] | None = None) -> dict[str, Any]:
    """Run one probe in a fresh interpreter and return what it measured."""
    import os

    done = subprocess.run(
        [sys.executable, "-m", "qwen_magic.bench_probe", kind, json.dumps(settings)],
        capture_output=True, text=True, timeout=timeout, check=False,
        env={**os.environ, **(env or {})},
    )
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    if done.returncode != 0 or not lines:
        raise RuntimeError(f"bench probe {kind!r} failed ({done.returncode}): {done.stderr[-2000:]}")
    return json.loads(lines[-1])


def _path(path: str) -> Any:
    from pathlib import Path

    return Path(path)


def main(argv: list[str]) -> int:
    kind, settings = argv[0], json.loads(argv[1])
    from .bench_sweep import probe_setting

    probes = {"raw": probe_raw, "kernel": probe_kernel, "sweep": probe_setting}
    print(json.dumps(probes[kind](settings)))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
