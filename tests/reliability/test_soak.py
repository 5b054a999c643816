"""Fifty generations in one kernel: no memory growth, no thread or file-handle leak.

A notebook kernel lives for hours. Every generation starts a worker thread, opens output
displays and (for the API's stream) a second thread; any of them left behind, or any
buffer kept per request, adds up. The kernel is measured from the outside (psutil on its
process: RSS, OS threads, open file descriptors) and from the inside (Python threads)
after a warm-up, then again after 50 generations through the cell magic, the API and the
streaming API, including streams abandoned halfway.
"""

from __future__ import annotations

from typing import Any

import psutil
import pytest

from tests.reliability.conftest import assert_healthy
from tests.reliability.kernel import Kernel

pytestmark = [pytest.mark.model, pytest.mark.notebook, pytest.mark.timeout(600)]

GENERATIONS = 50
MAX_GROWTH_MB = 50

PROMPTS = [
    "write a function that reverses a string",
    "write a function that checks whether a number is prime",
    "parse an ISO date string",
    "sum the values of a dict",
    "read a CSV file with the csv module",
    "flatten a nested list",
    "count words in a text",
    "merge two sorted lists",
    "compute a moving average",
    "validate an email address with a regex",
]


def snapshot(kernel: Kernel) -> dict[str, Any]:
    kernel.ok("import gc, threading; gc.collect()")
    process = psutil.Process(kernel.pid)
    return {
        "rss_mb": process.memory_info().rss / 1024**2,
        "os_threads": process.num_threads(),
        "fds": process.num_fds(),
        "py_threads": sorted(kernel.eval("[t.name for t in threading.enumerate()]")),
    }


def generation(kernel: Kernel, i: int) -> None:
    prompt = PROMPTS[i % len(PROMPTS)]
    if i % 10 == 7:  # the API
        kernel.ok(f"qwen_magic.generate({prompt!r}, max_tokens=8, seed={i}, "
                  "provider=api_provider)")
    elif i % 10 == 9:  # the streaming API, abandoned after two chunks
        kernel.ok(f"for n, chunk in enumerate(qwen_magic.stream({prompt!r}, max_tokens=40, "
                  f"seed={i}, provider=api_provider)):\n    if n == 1: break")
    else:  # the cell magic, with its live display
        done = kernel.run(f"%%qwen --no-insert -n 8 --seed {i}\n{prompt}")
        assert done.status == "ok", done.error_lines


def test_fifty_generations_do_not_leak(kernel: Kernel) -> None:
    for i in range(5):  # warm-up: allocator pools, display machinery, the prefix cache
        generation(kernel, i)
    before = snapshot(kernel)
    for i in range(GENERATIONS):
        generation(kernel, i)
    after = snapshot(kernel)
    growth = after["rss_mb"] - before["rss_mb"]
    report = f"before {before}, after {after}"
    print(f"soak: RSS {growth:+.1f} MB; {report}")
    assert growth < MAX_GROWTH_MB, f"RSS grew {growth:.1f} MB over {GENERATIONS} generations; {report}"
    # A leak of one per generation would show as +50; allow a couple of transient ones.
    assert after["py_threads"] == before["py_threads"], report
    assert after["os_threads"] <= before["os_threads"] + 2, report
    assert after["fds"] <= before["fds"] + 2, report
    assert_healthy(kernel)
