"""The ``check`` and ``follow_up`` sections: what ``--check`` buys, and what follow-ups cost.

``check``: every problem of the problem set (:mod:`.problems`) is asked once through the
API at a fixed seed (the plain path); then that very answer goes through ``--check``'s loop
(:func:`qwen_magic.checked.check_and_repair`) — so the two are paired by construction — and
both final answers are judged by the problem's hidden tests, which neither path ever saw.
Reported per category and overall: pass@1 of each path, the problems ``--check`` fixed and
those it broke, and the time it added.

``check_isolation``: the run time of one passing check (a known-good function and its two
examples, no model) at each isolation level of ``--check``, the median of
``plan.isolation_runs`` runs each (levels interleaved round by round), next to the limited
process alone — what the operating system's isolation adds (goal: at most +0.2 s).

``follow_up``: one conversation of ``%%qwen -c`` cells through the magic, the time to the
first token of each turn against the length of the conversation so far. The conversation's
start never changes, so each turn should read only its own new tokens.
"""

from __future__ import annotations

import statistics
import time
import zlib
from collections.abc import Callable, Sequence
from typing import Any

from ..api import run
from ..checked import CheckPolicy, check_and_repair
from ..checking import Isolation, isolation_level
from ..checking.examples import Example, extract_examples
from ..checking.sandbox import run_examples
from ..config import GenerationConfig
from ..providers.base import GenerationRequest
from .plan import rotated
from .problems import CATEGORIES, Problem, load_problems

Progress = Callable[[str], None]

FOLLOW_UPS = (
    "write a function that parses a CSV line into a list of fields",
    "now make it handle quoted fields that contain commas",
    "now add type hints and a docstring",
    "now make it accept a different delimiter",
    "now make it strip whitespace around each field",
    "now raise ValueError on an unterminated quote",
    "now add a doctest example to the docstring",
)


def problem_seed(problem: Problem) -> int:
    """A fixed seed per problem: the same problem samples the same way in every run."""
    return zlib.crc32(problem.id.encode())


def passes_hidden_tests(code: str, problem: Problem) -> bool:
    """The judge: every hidden test passes in the sandbox (the same limits as ``--check``)."""
    tests = [Example(source=test, expected=None) for test in problem.hidden_tests]
    return bool(code.strip()) and run_examples(code, tests).ok


def check_problems(bench: Any, progress: Progress) -> dict[str, Any]:
    """Plain vs ``--check`` on the problem set, paired problem by problem."""
    problems = pick(load_problems(bench.plan.check_categories), bench.plan.check_problems)
    policy = CheckPolicy()
    rows = []
    for number, problem in enumerate(problems, 1):
        config = GenerationConfig(seed=problem_seed(problem))
        plain = run(problem.request, config, provider=bench.provider)
        messages = GenerationRequest.from_prompt(problem.request, config).messages

        def ask(conversation: list[dict[str, str]], asked: GenerationConfig) -> Any:
            return run("(follow-up)", asked, provider=bench.provider, messages=conversation)

        checked = check_and_repair(plain, messages, extract_examples(problem.request), ask,
                                   policy=policy)
        assert checked.check is not None
        plain_ok = passes_hidden_tests(plain.code, problem)
        checked_ok = plain_ok if checked.code == plain.code else passes_hidden_tests(
            checked.code, problem)
        rows.append({
            "id": problem.id, "category": problem.category, "plain": plain_ok,
            "checked": checked_ok, "verified": checked.check.verified,
            "repairs": checked.check.repairs, "candidates": checked.check.candidates,
            "plain_s": plain.total_s, "check_s": checked.check.seconds,
        })
        progress(f"check {number}/{len(problems)} {problem.id}: plain {'pass' if plain_ok else 'fail'}, "
                 f"--check {'pass' if checked_ok else 'fail'} ({checked.check.line()})")
    return {"policy": {"repair_rounds": policy.repair_rounds, "candidates": policy.candidates,
                       "retry_temperature": policy.retry_temperature},
            "categories": {category: summarize([r for r in rows if r["category"] == category])
                           for category in CATEGORIES if any(r["category"] == category for r in rows)},
            "all": summarize(rows), "problems": rows}


def pick(problems: Sequence[Problem], per_category: int | None) -> list[Problem]:
    """All problems, or the first ``per_category`` of each category (``--quick``)."""
    if per_category is None:
        return list(problems)
    chosen: list[Problem] = []
    for category in dict.fromkeys(p.category for p in problems):
        chosen += [p for p in problems if p.category == category][:per_category]
    return chosen


def summarize(rows: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """pass@1 of both paths, the paired changes, and the time ``--check`` added."""
    n = len(rows)
    extra = [row["check_s"] for row in rows]
    return {
        "problems": n,
        "plain_pass_at_1": sum(row["plain"] for row in rows) / n,
        "checked_pass_at_1": sum(row["checked"] for row in rows) / n,
        "fixed": sum(row["checked"] and not row["plain"] for row in rows),
        "broken": sum(row["plain"] and not row["checked"] for row in rows),
        "verified": sum(row["verified"] for row in rows),
        "plain_s_median": statistics.median(row["plain_s"] for row in rows),
        "check_s_median": statistics.median(extra),
        "check_s_mean": statistics.fmean(extra),
    }


KNOWN_GOOD = "def add(a, b):\n    return a + b\n"
KNOWN_GOOD_EXAMPLES = ">>> add(2, 3)\n5\nassert add(-1, 1) == 0\n"


def check_isolation(bench: Any, progress: Progress) -> dict[str, Any]:
    """One passing check's run time at each isolation level; the limited process is today's."""
    examples = extract_examples(KNOWN_GOOD_EXAMPLES)
    levels = list(Isolation)
    seconds: dict[str, list[float]] = {level.value: [] for level in levels}
    failed: dict[str, str] = {}
    for round_ in range(bench.plan.isolation_runs):
        for level in rotated(levels, round_):
            if level.value in failed:
                continue
            started = time.perf_counter()
            try:
                run = run_examples(KNOWN_GOOD, examples, isolation=level)
                problem = "" if run.ok else str(run.error or "an example failed")
            except Exception as exc:  # a level this machine cannot provide
                problem = f"{type(exc).__name__}: {exc}"
            if problem:
                failed[level.value] = problem
                continue
            seconds[level.value].append(time.perf_counter() - started)
    baseline = statistics.median(seconds["process"]) if seconds["process"] else None
    rows: dict[str, Any] = {}
    for level in levels:
        times = seconds[level.value]
        median = statistics.median(times) if times else None
        rows[level.value] = {
            "label": level.label, "runs": len(times), "median_s": median,
            "over_process_s": None if median is None or baseline is None else median - baseline,
            "error": failed.get(level.value)}
        progress(f"check isolation {level.value}: "
                 + (f"{median:.3f} s median" if median is not None else failed[level.value]))
    machine = isolation_level()
    return {"runs": bench.plan.isolation_runs, "levels": rows, "machine_level": machine.value,
            "machine_over_process_s": rows[machine.value]["over_process_s"]}


def follow_ups(bench: Any, progress: Progress) -> dict[str, Any]:
    """Time to first token of each ``%%qwen -c`` turn, against the conversation's length."""
    turns = []
    config = GenerationConfig(temperature=0.0, seed=1, max_tokens=bench.plan.follow_up_tokens)
    for number, request in enumerate(FOLLOW_UPS[: bench.plan.follow_up_turns]):
        sample = bench.magic.run(request, config, follow_up=number > 0)
        turns.append({"turn": number, "prompt_tokens": sample.prompt_tokens,
                      "new_prompt_tokens": sample.new_prompt_tokens, "ttft_s": sample.ttft_s})
        progress(f"follow-up {number}: prompt {sample.prompt_tokens} tokens "
                 f"({sample.new_prompt_tokens} new), first token {sample.ttft_s:.2f} s")
    later = turns[1:]
    return {"turns": turns,
            # Growth per 1,000 tokens of conversation: ~0 when only the new turn is read.
            "ttft_slope_s_per_1k_tokens": _slope([t["prompt_tokens"] for t in later],
                                                 [t["ttft_s"] for t in later]),
            "last_over_first_follow_up": later[-1]["ttft_s"] / later[0]["ttft_s"]
            if len(later) > 1 else None}


def _slope(xs: Sequence[float], ys: Sequence[float]) -> float | None:
    if len(xs) < 2 or len(set(xs)) < 2:
        return None
    return statistics.linear_regression(xs, ys).slope * 1000


__all__ = ["check_isolation", "check_problems", "follow_ups", "passes_hidden_tests", "problem_seed"]
