"""``--check``: run the answer against the request's examples, repair it, resample it.

A 0.5B model is often almost right, and the user's own examples say what right means. So,
only when asked: the answer's code runs against them in a separate, limited process
(:mod:`.checking.sandbox`, never in the kernel); a failure goes back to the model as a
note under the request (whose start is unchanged, so its KV state is reused) for a few
bounded repair rounds; if the code still fails, a few fresh answers are sampled at a higher
temperature and the first that passes is kept. Whatever happens, the inserted answer is the
best attempt, and :class:`~.checking.outcome.CheckOutcome` says how it fared.

Every generation goes through ``ask`` (the engine's streamer, fed to the same sinks), so this
module only decides what to ask next: it imports no provider.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from .checking.examples import Example
from .checking.outcome import CheckOutcome
from .checking.sandbox import CheckRun, Limits, run_examples
from .config import GenerationConfig
from .result import GenerationResult

#: Generate one answer to ``messages`` with ``config``, streamed to the cell's sinks.
Ask = Callable[[list[dict[str, str]], GenerationConfig], GenerationResult]
#: Run ``code`` against ``examples`` (the sandbox; a unit test passes a stand-in).
RunCheck = Callable[[str, Sequence[Example]], CheckRun]

_SEEDS = 2**32


@dataclass(frozen=True)
class CheckPolicy:
    """How hard ``--check`` tries. Each round costs one answer plus one run (about a second)."""

    repair_rounds: int = 2  # the request again, told what the last attempt got wrong
    candidates: int = 3  # then the plain request again, sampled afresh
    # Repairs and candidates must differ from the first answer to help: sample them warmer
    # than the default (0.2), but not so warm that a 0.5B model's code falls apart.
    retry_temperature: float = 0.7
    limits: Limits = field(default_factory=Limits)


def first_failure(run: CheckRun) -> str:
    """The one line that says why a run failed: its error, or its first failing example."""
    if run.error:
        return run.error
    for result in run.results:
        if not result.passed:
            return f"{result.example.describe()} → got {_short(result.got)}"
    return ""


def repair_request(run: CheckRun) -> str:
    """What a failed run says to the model: each failing example, expected against got."""
    if run.error:
        return f"A first attempt at this failed when it ran:\n```\n{run.error}\n```"
    lines = []
    for result in run.results:
        if not result.passed:
            source, expected = result.example.source.strip(), result.example.expected
            if expected is None:
                lines.append(f"{source}\nfailed: {result.got.strip()}")
            else:
                lines.append(f">>> {source}\nexpected: {expected.strip()}\n"
                             f"the first attempt gave: {result.got.strip()}")
    return "A first attempt at this was wrong:\n```\n" + "\n\n".join(lines) + "\n```"


def with_repair_note(messages: list[dict[str, str]], run: CheckRun) -> list[dict[str, str]]:
    """The request again, with what went wrong after it (the first turns unchanged).

    Shown its own failing code as an earlier turn, a 0.5B model copies it back unchanged
    (measured: docs/performance.md); told only what was wrong, it writes the code anew.
    The request's start stays the same, so its KV state is reused.
    """
    *earlier, request = messages
    note = (f"{request['content']}\n\n{repair_request(run)}\n\nMake sure every example gives "
            "the expected result.")
    return [*earlier, {**request, "content": note}]


def check_and_repair(
    first: GenerationResult,
    messages: list[dict[str, str]],
    examples: Sequence[Example],
    ask: Ask,
    *,
    policy: CheckPolicy = CheckPolicy(),
    say: Callable[[str], None] = lambda message: None,
    run_check: RunCheck | None = None,
    clock: Callable[[], float] = time.perf_counter,
) -> GenerationResult:
    """The best of ``first``, its repairs and fresh candidates, with its :class:`CheckOutcome`.

    ``messages`` is the conversation ``first`` answered. Stops early on Ctrl-C (in a run)
    or a cancelled answer (Stop), keeping the best attempt so far.
    """
    if not examples:
        return dataclasses.replace(first, check=CheckOutcome(examples=0, passed=0))
    started = clock()
    check: RunCheck = run_check or (lambda code, found: run_examples(code, found, policy.limits))
    config = first.config or GenerationConfig()
    seed = config.seed or 0
    attempts: list[tuple[GenerationResult, CheckRun]] = []
    repairs = sampled = 0
    interrupted = keyboard = False  # stopped early; by Ctrl-C (then nothing is inserted)

    def judge(result: GenerationResult) -> CheckRun:
        run = check(result.code, examples)
        attempts.append((result, run))
        return run

    # Another answer must differ from the first to help: sample warmer than the default.
    warmer = config.replace(temperature=max(config.temperature, policy.retry_temperature))
    try:
        say(f"checking the code against {len(examples)} example{'s' * (len(examples) != 1)}…")
        run = judge(first)
        while not run.ok and repairs < policy.repair_rounds:
            repairs += 1
            say(f"{run.passed}/{run.total} pass ({first_failure(run)}) — "
                f"repair {repairs} of {policy.repair_rounds}…")
            current = ask(with_repair_note(messages, run),
                          warmer.replace(seed=(seed + repairs) % _SEEDS))
            if _stopped(current):
                interrupted, keyboard = True, current.interrupted
                break
            run = judge(current)
        while not interrupted and not run.ok and sampled < policy.candidates:
            sampled += 1
            say(f"{run.passed}/{run.total} pass — sampling a fresh answer "
                f"({sampled} of {policy.candidates})…")
            current = ask(messages, warmer.replace(seed=(seed + 1000 + sampled) % _SEEDS))
            if _stopped(current):
                interrupted, keyboard = True, current.interrupted
                break
            run = judge(current)
    except KeyboardInterrupt:  # in a run of the code: the sandbox has killed it
        interrupted = keyboard = True
    if not attempts:  # Ctrl-C before the first run finished: nothing is known
        outcome = CheckOutcome(examples=len(examples), passed=0, interrupted=True,
                               failure="not run", seconds=clock() - started)
        return dataclasses.replace(first, check=outcome, interrupted=True)
    # The most examples passed; on a tie the earliest attempt (later ones are not better).
    best, best_run = max(attempts, key=lambda attempt: attempt[1].passed)
    outcome = CheckOutcome(
        examples=len(examples), passed=best_run.passed, repairs=repairs, candidates=sampled,
        failure=first_failure(best_run),
        interrupted=interrupted, seconds=clock() - started, isolation=best_run.isolation)
    return dataclasses.replace(best, check=outcome, interrupted=best.interrupted or keyboard)


def _stopped(result: GenerationResult) -> bool:
    return result.finish_reason == "cancelled" or result.interrupted


def _short(text: str, limit: int = 80) -> str:
    line = " ".join(text.split())
    return line if len(line) <= limit else line[: limit - 1] + "…"


__all__ = ["Ask", "CheckPolicy", "RunCheck", "check_and_repair", "first_failure", "repair_request"]
