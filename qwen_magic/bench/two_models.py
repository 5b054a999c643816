"""The ``two_models`` section: a bigger chat model answering while a small one fills in ghost
text (``QwenMagics.completion_model``), against today's single model — through a kernel's
completion comm, as JupyterLab gets it.

Three kernels, one after the other (two llama.cpp processes on 2 cores slow each other down):

  completion alone  the completion model for chat and completion: today's default setup
  chat alone        the bench's model (``--model``) only, after one answer
  both              the bench's model answers, the completion model completes

In the two kernels that complete, warm ghost text is timed as the completion section's comm
path times it (the request before, a few keys typed with their read-ahead, the measured
request after the debounce), and again with a chat answer between the request before and the
keys. ``new_prompt_tokens`` says what each measured request had to read: a few tokens when the
notebook's cached state was still in place. Resident memory is each kernel's after its work.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from ..api import default_completion_model
from ..providers import engine_hooks
from .comm_path import CommClient
from .completion import DEBOUNCE_S, KEY_INTERVAL_S, TYPED, notebook_cells
from .plan import rotated
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
            client.execute(CHAT_CELL)  # each kernel's chat model answers once (and loads)
            if name != "chat_alone":
                out[name] = _ghost_text(client, cells, rounds)
            out.setdefault("rss_mb", {})[name] = client.rss_mb()
        finally:
            client.close()
    for arm in ARMS:
        alone = out["completion_alone"][arm]["median"]
        both = out["both"][arm]["median"]
        if alone and both:
            out[f"both_vs_alone_{arm}"] = both / alone
    rss = out["rss_mb"]
    out["rss_both_vs_sum_alone"] = rss["both"] / (rss["completion_alone"] + rss["chat_alone"])
    return out


#: ``warm``: the request before, keys typed, the request; ``after_chat``: the same with a chat
#: answer between the request before and the keys (a user who asks, then types on).
ARMS = ("warm", "after_chat")


def _ghost_text(client: CommClient, cells: list[str], rounds: int) -> dict[str, Any]:
    """First-suggestion times of each arm (order rotating), and the prompt tokens each
    measured request had to read (few: the notebook's state was still in place)."""
    client.complete(TYPED[0], cells, 16)  # the kernel reads the notebook once, cold
    times: dict[str, list[float]] = {arm: [] for arm in ARMS}
    new_tokens: dict[str, list[float]] = {arm: [] for arm in ARMS}
    for trial in range(rounds):
        for arm in rotated(ARMS, trial):
            client.complete(TYPED[0], cells, 16)  # the request before: typing goes on
            if arm == "after_chat":
                client.execute(CHAT_CELL)
            for end in range(1, len(TYPED[1]) + 1):
                client.prefill(cells, TYPED[0] + TYPED[1][:end])
                time.sleep(KEY_INTERVAL_S)
            time.sleep(DEBOUNCE_S)
            reply = client.complete(TYPED[0] + TYPED[1], cells, 16)
            if reply.first_chunk_s is not None:
                times[arm].append(reply.first_chunk_s)
            if reply.new_tokens is not None:
                new_tokens[arm].append(reply.new_tokens)
    result: dict[str, Any] = {arm: stats(times[arm]) for arm in ARMS}
    result["new_prompt_tokens"] = {arm: stats(new_tokens[arm]) for arm in ARMS}
    return result
