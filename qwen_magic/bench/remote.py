"""The ``remote_completion`` section: the first ghost text from ``qwen-magic serve`` next to the
local path's, with the server idle and with a teammate's chat answer running on it.

The server is started here as a user starts it (``qwen-magic serve`` on a free loopback port,
the same model file and settings) and stopped afterwards. Its model idles while the local
path is measured and the bench's own model idles while the server works, so the two llama.cpp
processes never compete for the two cores except where that is the point (none here: the
chat answer runs on the server, the suggestion waits behind it there).
"""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from typing import Any

from ..api import complete, complete_request, generate
from ..completion import CompletionRequest
from ..providers import engine_hooks
from .completion import TYPED, notebook_cells
from .stats import stats

READY_TIMEOUT_S = 180.0
SUFFIX = "\n\nprint(result)\n"
CHAT_PROMPT = "write a Python module with five small string utility functions and docstrings"


@contextlib.contextmanager
def served(model_path: str, n_ctx: int, n_threads: int) -> Iterator[str]:
    """A ``qwen-magic serve`` of ``model_path`` on 127.0.0.1; its base URL."""
    import httpx

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = {k: v for k, v in os.environ.items() if k != "QWEN_MAGIC_API_KEY"}
    command = [sys.executable, "-m", "qwen_magic.cli", "serve", "--model", model_path, "--host",
               "127.0.0.1", "--port", str(port), "--n-ctx", str(n_ctx), "--threads",
               str(n_threads)]
    url = f"http://127.0.0.1:{port}/v1"
    with tempfile.TemporaryFile() as log:
        process = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT,
                                   stdin=subprocess.DEVNULL)
        try:
            deadline = time.monotonic() + READY_TIMEOUT_S
            while True:
                if process.poll() is not None or time.monotonic() > deadline:
                    log.seek(0)
                    raise RuntimeError(f"qwen-magic serve did not start: {log.read()[-2000:]!r}")
                with contextlib.suppress(httpx.TransportError):
                    if httpx.get(f"{url}/models", timeout=2, trust_env=False).status_code == 200:
                        break
                time.sleep(0.25)
            yield url
        finally:
            process.terminate()
            try:
                process.wait(30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(10)


def first_ghost_text(bench: Any, progress: Any) -> dict[str, Any]:
    """Time to the first shown text of a suggestion: local vs the server, idle and busy."""
    rounds = bench.plan.rounds_for("context")
    cells = notebook_cells(bench, min(bench.plan.context_tokens, 600))
    prefix = TYPED[0] + TYPED[1]
    config = bench.model_config
    with served(str(engine_hooks.resolve_model()), config.n_ctx, config.n_threads) as url:
        def remote(**kwargs: Any) -> Any:
            return complete(prefix, SUFFIX, context_cells=cells, max_tokens=16,
                            provider="openai", base_url=url, **kwargs)

        def local() -> Any:
            request = CompletionRequest(prefix, SUFFIX, tuple(cells), max_tokens=16)
            return complete_request(bench.provider, request)

        remote(), local()  # each side reads the notebook once, cold: not what is measured
        idle_local = stats([local().ttft_s for _ in range(rounds)])
        idle_remote = stats([remote().ttft_s for _ in range(rounds)])
        progress(f"remote completion idle: local {idle_local['median']}s, "
                 f"server {idle_remote['median']}s")
        busy: list[dict[str, Any]] = []
        for _ in range(rounds):
            started = threading.Event()
            answer = threading.Thread(target=_chat, args=(url, started), daemon=True)
            answer.start()
            started.wait(120)
            began = time.perf_counter()
            completion = remote()
            busy.append({"finish_reason": completion.finish_reason, "ttft_s": completion.ttft_s,
                         "gave_up_after_s": time.perf_counter() - began})
            answer.join(300)
    return {
        "local_idle_ttft_s": idle_local,
        "server_idle_ttft_s": idle_remote,
        "server_busy": busy,
        "server_busy_shown": sum(b["ttft_s"] is not None for b in busy),
        "rounds": rounds,
    }


def _chat(url: str, started: threading.Event) -> None:
    """A teammate's answer on the server: 200 tokens, streamed; ``started`` at its first."""
    from ..streaming import BaseSink

    class First(BaseSink):
        def on_text(self, delta: str, text: str) -> None:
            started.set()

    try:
        generate(CHAT_PROMPT, provider="openai", base_url=url, temperature=0, max_tokens=200,
                 sinks=[First()])
    finally:
        started.set()

