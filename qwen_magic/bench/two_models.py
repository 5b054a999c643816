"""The ``two_models`` section: a bigger chat model answering while a small one fills in ghost
text (``QwenMagics.completion_model``), against today's single model — through a kernel's
completion comm, as JupyterLab gets it.

Three kernels, one after the other (two llama.cpp processes on 2 cores slow each other down):

  completion alone  the completion model for chat and completion: today's default setup
  chat alone        the bench's model (``--model``) only, after one answer
  both              the bench's model answers, the completion model completes

In the two kernels that complete, warm ghost text is timed as the completion section's comm
path times it (the request before, a few keys typed with their read-ahead, the measured
request after the debounce). In ``both`` a chat answer runs before each measured request, so
``new_prompt_tokens`` there says whether the answer left the completion's cached notebook in
place (a few tokens: it did; the whole notebook: it was evicted). Resident memory is each
kernel's after its work.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from ..api import default_completion_model
from ..providers import engine_hooks
from .comm_path import CommClient
from .completion import DEBOUNCE_S, KEY_INTERVAL_S, TYPED, notebook_cells
from .stats import stats

CHAT_CELL = "%%qwen -t 0 -n 32 --no-insert --no-footer\nwrite a function that adds two numbers"


def two_models(bench: Any, progress: Any) -> dict[str, Any]:
    chat_path = engine_hooks.resolve_model()
    completion_path = default_completion_model(chat_path)
    if completion_path is None:
        return {"skipped": f"no other installed model completes for {chat_path.name} "
                           "(`qwen-magic pull 0.5b`, and `--model` a bigger one)"}
    rounds = bench.plan.rounds_for("context")
    cells = notebook_cells(bench, bench.plan.context_tokens)
    settings = [f"%config QwenMagics.n_threads = {bench.model_config.n_threads}",
                f"%config QwenMagics.completion_context_tokens = {bench.plan.context_tokens}"]
    runs = {
        "completion_alone": [f"%config QwenMagics.model_path = {completion_path!r}"],
        "chat_alone": ["%config QwenMagics.completion = False"],
        "both": [f"%config QwenMagics.completion_model = {completion_path!r}"],
    }
    out: dict[str, Any] = {"chat_model": chat_path.name,
                           "completion_model": Path(completion_path).name}
    for name, lines in runs.items():
        progress(f"two models: {name.replace('_', ' ')} (a kernel of its own)")
        client = CommClient(settings + lines)
        try:
            if name == "chat_alone":
                client.execute(CHAT_CELL)
            else:
                out[name] = _ghost_text(client, cells, rounds, chat=name == "both")
            out.setdefault("rss_mb", {})[name] = client.rss_mb()
        finally:
            client.close()
    alone, both = out["completion_alone"]["warm_ttft_s"], out["both"]["warm_ttft_s"]
    if alone.get("median") and both.get("median"):
        out["both_vs_alone_warm"] = both["median"] / alone["median"]
    rss = out["rss_mb"]
    out["rss_both_vs_sum_alone"] = rss["both"] / (rss["completion_alone"] + rss["chat_alone"])
    return out


def _ghost_text(client: CommClient, cells: list[str], rounds: int, *,
                chat: bool) -> dict[str, Any]:
    """Warm first-suggestion times; with ``chat``, an answer runs before each request."""
    client.complete(TYPED[0], cells, 16)  # the kernel reads the notebook once, cold
    if chat:
        client.execute(CHAT_CELL)  # the chat model loads (its first answer)
    warm: list[float] = []
    new_tokens: list[float] = []
    for _ in range(rounds):
        client.complete(TYPED[0], cells, 16)  # the request before: typing goes on
        if chat:
            client.execute(CHAT_CELL)
        for end in range(1, len(TYPED[1]) + 1):
            client.prefill(cells, TYPED[0] + TYPED[1][:end])
            time.sleep(KEY_INTERVAL_S)
        time.sleep(DEBOUNCE_S)
        reply = client.complete(TYPED[0] + TYPED[1], cells, 16)
        if reply.first_chunk_s is not None:
            warm.append(reply.first_chunk_s)
        if reply.new_tokens is not None:
            new_tokens.append(reply.new_tokens)
    result: dict[str, Any] = {"warm_ttft_s": stats(warm), "new_prompt_tokens": stats(new_tokens)}
    if new_tokens:
        result["most_new_tokens"] = max(new_tokens)
    return result
