"""The ``completion`` section: fill-in-the-middle quality and the time to the first ghost text.

Quality: holes cut from the standard library (:mod:`.holes`), filled by the product
(``QwenLocalProvider.complete``: its FIM layout and stop rules) and by a naive baseline — the
bare FIM prompt to raw llama-cpp-python, greedy, cut at the first newline — scored by exact
match, "the code around the hole still parses" and edit similarity.

Latency, with a notebook context of about ``plan.context_tokens`` read beforehand: the time
from the request to the first shown piece of text, warm (a few characters typed since the
last request) with 0, 50 and 200 tokens after the cursor, cold (nothing cached), and after a
new cell was added — with background prefill (what the kernel does when the cell ran, and
while the user types) and without it. The labextension has the kernel read ahead as the user
types (a ``prefill`` with the text before the cursor per key press), so the typing is played
key by key with those messages; the warm figure without them is what a front end that only
sends requests gets (the terminal's key, the API). Measured twice: calling the provider
directly, and through a real kernel's ``qwen_magic.completion`` comm as JupyterLab drives it
(:mod:`.comm_path`), a new cell executed in that kernel and the ``prefill`` messages sent as
the labextension sends them.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from typing import Any

from ..api import complete_request, prefill
from ..completion import FIM_MIDDLE, FIM_PREFIX, FIM_SUFFIX, CompletionRequest, prefill_text
from ..options import COMPLETION_MAX_TOKENS, MODEL_SETTINGS, on
from .comm_path import CommClient
from .holes import Hole, make_holes, score
from .plan import rotated
from .prompts import build_context
from .stats import stats

Progress = Callable[[str], None]
SUFFIX_CURVE = (0, 50, 200)
TYPED = ("result = summarize(fr", "ame, by=")  # the cursor at the end of the cell
#: What both paths may write into a hole. Both also get the same hole and no notebook
#: context (the hole's own file is all either sees), and both decode greedily.
HOLE_MAX_TOKENS = COMPLETION_MAX_TOKENS.default  # what a user gets by default
#: Through the comm: between two key presses (about 70 words a minute), and from the last
#: one to the ``complete`` request (the labextension's debounce; not counted in the time).
KEY_INTERVAL_S = 0.15
DEBOUNCE_S = 0.25
#: A cell with a fixed amount of pure-Python work (~0.05 s here): how long it takes from sending to
#: its reply, with the kernel's model idle and with it at work, is the delay the model's work
#: puts on the user's code.
WORK_CELL = "_qwen_bench_sum = sum(i * i for i in range(400_000))"
#: A completion that runs long (one assignment per argument: ~60 tokens, ~2 s).
LONG_BODY = ("class Config:\n    def __init__(self, path, mode, verbose, retries, timeout, user, "
             "password, host, port):\n        ")


def notebook_cells(bench: Any, target_tokens: int) -> list[str]:
    """The bench's analysis notebook, as cells (the layout a front end sends)."""
    text = build_context("analysis", target_tokens, bench.count)
    code = text.split("```python\n", 1)[1].split("\n```", 1)[0]
    return [cell for cell in code.split("\n\n") if cell.strip()]


def suffix_of(bench: Any, tokens: int) -> str:
    """About ``tokens`` tokens of code below the cursor."""
    if not tokens:
        return ""
    lines, text = [], ""
    n = 0
    while bench.count(text) < tokens:
        n += 1
        lines.append(f"print(summary_{n}.describe())  # check {n}")
        text = "\n\n" + "\n".join(lines) + "\n"
    return text


def naive(bench: Any, hole: Hole, max_tokens: int) -> str:
    """The baseline: the bare FIM prompt, greedy, cut at the first newline."""
    llm = bench.raw.llm
    prompt = f"{FIM_PREFIX}{hole.prefix}{FIM_SUFFIX}{hole.suffix}{FIM_MIDDLE}"
    out = llm.create_completion(prompt, max_tokens=max_tokens, temperature=0.0, top_k=1)
    text = str(out["choices"][0]["text"])
    return text.split("\n", 1)[0]


def quality(bench: Any, n_single: int, n_multi: int, progress: Progress,
            first: tuple[int, int] = (0, 0)) -> dict[str, Any]:
    """Holes ``first[k]`` to ``n[k]`` of each kind; every hole's scores are in ``per_hole``."""
    provider = bench.provider
    rows: dict[str, dict[str, list[Any]]] = {}
    made = make_holes(n_single, n_multi)
    skip = {"single": first[0], "multi": first[1]}
    numbered = [(n, hole) for kind in ("single", "multi")
                for n, hole in enumerate(h for h in made if h.kind == kind) if n >= skip[kind]]
    per_hole: list[dict[str, Any]] = []
    for i, (number, hole) in enumerate(numbered, 1):
        if i % 10 == 0:
            progress(f"completion quality: {i}/{len(numbered)} holes")
        request = CompletionRequest(hole.prefix, hole.suffix, max_tokens=HOLE_MAX_TOKENS)
        product = complete_request(provider, request).text
        entry: dict[str, Any] = {"kind": hole.kind, "hole": number, "source": hole.source}
        for who, text in (("product", product), ("naive", naive(bench, hole, HOLE_MAX_TOKENS))):
            got = score(hole, text)
            rows.setdefault(hole.kind, {}).setdefault(who, []).append(got)
            entry[who] = {"text": text, "exact": got.exact, "parses": got.parses,
                          "similarity": round(got.similarity, 3)}
        per_hole.append(entry)
    out: dict[str, Any] = {"per_hole": per_hole}
    for kind, by_who in rows.items():
        out[kind] = {who: {
            "holes": len(scores),
            "exact_match": sum(s.exact for s in scores) / len(scores),
            "parses": sum(s.parses for s in scores) / len(scores),
            "edit_similarity": statistics.mean(s.similarity for s in scores),
        } for who, scores in by_who.items()}
    return out


def _ttft(bench: Any, prefix: str, suffix: str, cells: list[str]) -> float | None:
    request = CompletionRequest(prefix, suffix, tuple(cells), max_tokens=16,
                                context_chars=_budget(bench))
    return complete_request(bench.provider, request).ttft_s


def _budget(bench: Any) -> int:
    """Room for the whole bench notebook: the measurement is of reading it, not cutting it."""
    return int(bench.plan.context_tokens * 8)


def _type_ahead(bench: Any, cells: list[str], before: str, typed: str) -> None:
    """Key by key, what the kernel reads while the user types ``typed`` after ``before``."""
    for end in range(1, len(typed) + 1):
        text = prefill_text(cells, _budget(bench), before + typed[:end])
        prefill(bench.provider, text)


def latency(bench: Any, rounds: int, context_tokens: int, progress: Progress) -> dict[str, Any]:
    provider = bench.provider
    cells = notebook_cells(bench, context_tokens)
    context = prefill_text(cells, _budget(bench))
    out: dict[str, Any] = {"context_tokens": bench.count(context), "cells": len(cells)}
    warm: dict[int, list[float]] = {n: [] for n in SUFFIX_CURVE}
    unread: list[float] = []  # warm, no reading ahead
    cold: list[float] = []
    prefilled: list[float] = []
    unprefilled: list[float] = []
    for trial in range(rounds):
        progress(f"completion latency: trial {trial + 1}/{rounds}")
        for n in SUFFIX_CURVE:
            suffix = suffix_of(bench, n)
            _ttft(bench, TYPED[0], suffix, cells)  # the request before: typing goes on
            _type_ahead(bench, cells, TYPED[0], TYPED[1])
            value = _ttft(bench, TYPED[0] + TYPED[1], suffix, cells)
            if value is not None:
                warm[n].append(value)
        _ttft(bench, TYPED[0], "", cells)
        value = _ttft(bench, TYPED[0] + TYPED[1], "", cells)
        if value is not None:
            unread.append(value)
        bench.reset("api")
        value = _ttft(bench, TYPED[0] + TYPED[1], "", cells)
        if value is not None:
            cold.append(value)
        # A new cell ran: with prefill, the kernel reads the grown context while idle, then
        # the new cell's text as it is typed; without, the request reads all of it.
        grown = [*cells, f"summary_{trial} = frame.groupby('region').agg(['mean', 'max'])"]
        for with_prefill, bucket in ((True, prefilled), (False, unprefilled)):
            _ttft(bench, TYPED[0], "", cells)  # back to the old notebook, warm
            if with_prefill:
                prefill(provider, prefill_text(grown, _budget(bench)))
                _type_ahead(bench, grown, "", TYPED[0] + TYPED[1])
            value = _ttft(bench, TYPED[0] + TYPED[1], "", grown)
            if value is not None:
                bucket.append(value)
    out["warm_ttft_s"] = {str(n): stats(values) for n, values in warm.items()}
    out["warm_without_read_ahead_ttft_s"] = stats(unread)
    out["cold_ttft_s"] = stats(cold)
    out["after_new_cell_ttft_s"] = {"prefill": stats(prefilled), "no_prefill": stats(unprefilled)}
    warm0 = statistics.median(warm[0]) if warm[0] else None
    if warm0 and prefilled:
        out["prefill_vs_warm"] = statistics.median(prefilled) / warm0
    return out


def through_the_comm(bench: Any, rounds: int, context_tokens: int,
                     progress: Progress) -> dict[str, Any]:
    """Warm and after-a-new-cell figures as JupyterLab gets them: a kernel, its comm.

    Per trial: the old notebook, warm (the request before, a few keys typed with their
    read-ahead, then the measured one); then, for each arm (order rotating), back to the old
    notebook, a new cell executed in the kernel, and the new cell's line typed key by key —
    with ``prefill`` after the run and per key press (the labextension's messages) in one
    arm, with no message at all in the other — and the measured request on the grown
    notebook after the debounce. Each arm runs its own new cell, so neither reads what the
    other left in the cache.
    """
    cells = notebook_cells(bench, context_tokens)
    config = bench.model_config
    lines = [f"%config QwenMagics.{spec.name} = {getattr(config, spec.name)!r}"
             for spec in on("cli", MODEL_SETTINGS)]
    lines.append(f"%config QwenMagics.completion_context_tokens = {_budget(bench) // 4}")
    lines.append("%config QwenMagics.completion_max_tokens = 256")  # requests say how many
    progress("completion through the comm: starting a kernel")
    client = CommClient(lines)
    warm: list[float] = []
    after: dict[str, list[float]] = {"prefill": [], "no_prefill": []}
    # What the kernel read for each measured request: says whether prefill had finished.
    new_tokens: dict[str, list[float]] = {"warm": [], "prefill": [], "no_prefill": []}

    def type_keys(notebook: list[str], before: str, typed: str, read_ahead: bool) -> None:
        for end in range(1, len(typed) + 1):
            if read_ahead:
                client.prefill(notebook, before + typed[:end])
            time.sleep(KEY_INTERVAL_S)
        time.sleep(DEBOUNCE_S)

    try:
        client.complete(TYPED[0], cells, 16)  # the kernel reads the notebook once, cold
        for trial in range(rounds):
            progress(f"completion through the comm: trial {trial + 1}/{rounds}")
            client.complete(TYPED[0], cells, 16)
            type_keys(cells, TYPED[0], TYPED[1], read_ahead=True)
            reply = client.complete(TYPED[0] + TYPED[1], cells, 16)
            if reply.first_chunk_s is not None:
                warm.append(reply.first_chunk_s)
            if reply.new_tokens is not None:
                new_tokens["warm"].append(reply.new_tokens)
            for arm in rotated(("prefill", "no_prefill"), trial):
                client.complete(TYPED[0], cells, 16)  # back to the old notebook, warm
                new_cell = f"summary_{trial}_{arm} = {{'region': 'north', 'mean': 3.5}}"
                client.execute(new_cell)
                grown = [*cells, new_cell]
                if arm == "prefill":
                    client.prefill(grown)
                type_keys(grown, "", TYPED[0] + TYPED[1], read_ahead=arm == "prefill")
                reply = client.complete(TYPED[0] + TYPED[1], grown, 16)
                if reply.first_chunk_s is not None:
                    after[arm].append(reply.first_chunk_s)
                if reply.new_tokens is not None:
                    new_tokens[arm].append(reply.new_tokens)
        delayed = cell_delay(client, cells, rounds, progress)
    finally:
        client.close()
    out: dict[str, Any] = {"cell_delay": delayed, "warm_ttft_s": stats(warm),
                           "after_new_cell_ttft_s": {k: stats(v) for k, v in after.items()},
                           "key_interval_s": KEY_INTERVAL_S, "debounce_s": DEBOUNCE_S,
                           "new_prompt_tokens": {k: stats(v) for k, v in new_tokens.items()}}
    if warm and after["prefill"]:
        out["prefill_vs_warm"] = statistics.median(after["prefill"]) / statistics.median(warm)
    return out


def cell_delay(client: CommClient, cells: list[str], rounds: int,
               progress: Progress) -> dict[str, Any]:
    """How much later a cell finishes when it starts while the model works for completion.

    Per trial: the cell with the model idle; then with a prefill under way (a notebook whose
    first cell the kernel has never seen, so all of it is read again, ~20 s; the cell starts
    1 s into it); then while a long completion streams (the cell starts at its first text;
    ``completions_cut_by_the_cell`` says how often it was still running then). The delay is
    the cell's time from request to reply beyond the idle one, the kernel's own handling of
    the cell's start (it cancels the model's work) included.
    """
    idle: list[float] = []
    delay: dict[str, list[float]] = {"prefill": [], "completion": []}
    cut = 0
    for trial in range(rounds):
        progress(f"completion: a cell while the model works, trial {trial + 1}/{rounds}")
        idle_s = client.execute(WORK_CELL)
        idle.append(idle_s)
        client.prefill([f"# notebook {trial}, {time.time()}", *cells])
        time.sleep(1.0)
        delay["prefill"].append(client.execute(WORK_CELL) - idle_s)
        number = client.send_complete(LONG_BODY, [], 256)
        client.reply(number, until_first_chunk=True)
        delay["completion"].append(client.execute(WORK_CELL) - idle_s)
        cut += client.finish_reason(number) == "cancelled"
    return {"idle_cell_s": stats(idle), "delay_s": {k: stats(v) for k, v in delay.items()},
            "worst_delay_s": max(max(v) for v in delay.values()),
            "completions_cut_by_the_cell": cut, "trials": rounds}


def completion(bench: Any, progress: Progress) -> dict[str, Any]:
    plan = bench.plan
    rounds = plan.rounds_for("context")
    return {
        "quality": quality(bench, plan.completion_single, plan.completion_multi, progress,
                           plan.completion_first),
        "latency": latency(bench, rounds, plan.context_tokens, progress),
        "comm": through_the_comm(bench, rounds, plan.context_tokens, progress),
    }
