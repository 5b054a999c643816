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
from .result import FixOutcome, GenerationResult

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
    # ``%qwen fix --check``: a corrected cell that runs cleanly is kept once this many of the
    # cleanly running answers print the same (fresh answers are asked for until they do, or
    # the candidates are spent). A cell can run and still print the wrong thing; the small
    # model's slips differ from answer to answer more than its right answers do.
    agree: int = 2


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
    if not examples:  # none written, or none could be read (extract_examples says why)
        why = getattr(examples, "unreadable", "")
        return dataclasses.replace(first, check=CheckOutcome(examples=0, passed=0, failure=why))
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


# -- %qwen fix --check ------------------------------------------------------------------------

#: Why ``code`` is no acceptable corrected cell (no code, does not parse, only repeats the
#: failed cell, hides the error), or None.
Accept = Callable[[str], "str | None"]
#: Run a corrected cell on its own (the sandbox; a unit test passes a stand-in).
RunCell = Callable[[str], CheckRun]
#: Why a clean run of a corrected cell does not count (it kept the user's lines from
#: running: the lines it ran are given), or None.
LeftUnrun = Callable[[str, frozenset[int]], "str | None"]


@dataclass(frozen=True)
class FixRules:
    """How corrected cells for one failed cell are judged and chosen (``%qwen fix`` builds
    them from the cell, its error and the kernel's names: ``notebook/cell_python.fix_rules``)."""

    accept: Accept
    #: Why ``--check`` may not run a corrected cell (it reads the notebook's variables or files).
    not_runnable: Callable[[str], str | None] = lambda code: None
    left_unrun: LeftUnrun = lambda code, lines_run: None
    #: The corrected cell in an answer's text (None: the answer's code, as any answer's).
    choose_code: Callable[[str], str] | None = None


def with_fix_note(messages: list[dict[str, str]], problem: str) -> list[dict[str, str]]:
    """The fix request again, told what went wrong with the last corrected cell."""
    *earlier, request = messages
    note = (f"{request['content']}\n\nA corrected cell was tried, and {problem}\n\nGive the "
            "whole corrected cell again: keep the cell as it is and change only what is wrong; "
            "do not wrap it in try/except or leave lines out.")
    return [*earlier, {**request, "content": note}]


def check_fix(
    first: GenerationResult,
    messages: list[dict[str, str]],
    ask: Ask,
    accept: Accept,
    *,
    policy: CheckPolicy = CheckPolicy(),
    say: Callable[[str], None] = lambda message: None,
    run_cell: RunCell | None = None,
    not_runnable: Callable[[str], str | None] = lambda code: None,
    left_unrun: LeftUnrun = lambda code, lines_run: None,
) -> tuple[GenerationResult, FixOutcome]:
    """A corrected cell that runs cleanly to the end in ``--check``'s process and prints what
    the other cleanly running answers print (repairs, then fresh answers), else the first
    acceptable one marked as unverified.

    "Cleanly": no exception at all (not merely not the original one), and ``accept`` has
    already refused a cell that would pass by hiding the failure (a new try/except, lines
    left out), as ``left_unrun`` refuses a clean run that skipped the user's lines (a new
    ``if`` around the failing one). "What the others print": the first output that
    ``policy.agree`` answers share; when every clean run printed something else, the first
    cell that ran cleanly is kept marked as unverified. Never run in the kernel, and never
    a corrected cell that ``not_runnable`` says needs the kernel (it reads the notebook's
    variables or files): then the answer is kept as it is, "not checked".
    """
    run: RunCell = run_cell or (lambda code: run_examples(code, (), policy.limits,
                                                          trace_lines=True))
    config = first.config or GenerationConfig()
    seed = config.seed or 0
    warmer = config.replace(temperature=max(config.temperature, policy.retry_temperature))
    attempts: list[tuple[GenerationResult, str | None]] = []
    printed: list[tuple[GenerationResult, str]] = []  # the cleanly running ones, in order
    repairs = sampled = 0
    stopped = False
    isolation = ""  # how isolated the runs were (the footer says it, as --check's does)

    def judge(result: GenerationResult) -> str | None:
        nonlocal isolation
        problem = accept(result.code)
        if problem is None:
            outcome = run(result.code)
            isolation = outcome.isolation or isolation
            problem = (f"it failed when it ran: {outcome.error}" if outcome.error
                       else left_unrun(result.code, outcome.lines_run))
            if problem is None:
                printed.append((result, outcome.output))
        attempts.append((result, problem))
        return problem

    def agreed() -> bool:
        outputs = [output for _, output in printed]
        return any(outputs.count(output) >= policy.agree for output in outputs)

    why_not = not_runnable(first.code) if accept(first.code) is None else None
    if why_not:
        return first, FixOutcome(f"not checked: {why_not}")
    try:
        say("running the corrected cell in a separate process…")
        problem = judge(first)
        while problem and repairs < policy.repair_rounds:
            repairs += 1
            say(f"{problem} — repair {repairs} of {policy.repair_rounds}…")
            current = ask(with_fix_note(messages, problem),
                          warmer.replace(seed=(seed + repairs) % _SEEDS))
            if _stopped(current):
                stopped = True
                break
            problem = judge(current)
        while not stopped and not agreed() and sampled < policy.candidates:
            sampled += 1
            why = problem if not printed else "it runs cleanly; another answer to compare " \
                                              "what it prints"
            say(f"{why} — a fresh answer ({sampled} of {policy.candidates})…")
            current = ask(messages, warmer.replace(seed=(seed + 1000 + sampled) % _SEEDS))
            if _stopped(current):
                stopped = True
                break
            problem = judge(current)
    except KeyboardInterrupt:
        stopped = True
    if not attempts:
        return first, FixOutcome("check stopped before the corrected cell ran", mark=UNCHECKED)
    tries = len(attempts)
    where = CheckOutcome(examples=0, passed=0, isolation=isolation).isolation_footer
    where = f" · {where}" if where else ""
    if printed:
        good, votes = _most_printed(printed)
        how = f" after {tries - 1} more answer{'s' * (tries != 2)}" if tries > 1 else ""
        if len(printed) > 1 and votes == 1:
            # Measured on the bench's fix set: cells whose clean runs all disagreed were wrong.
            why = f"it runs, but no two of {len(printed)} clean runs print the same"
            return good, FixOutcome(f"not verified: {why} — the first inserted, marked{where}",
                                    mark=f"# qwen: not verified ({why}) — review before use",
                                    attempts=tries)
        same = f"; {votes} of {len(printed)} clean runs print the same" if votes > 1 else ""
        return good, FixOutcome(f"checked: the corrected cell runs cleanly{how}{same}{where}",
                                verified=True, attempts=tries)
    # The first that ran (and failed), else the first worth inserting (not a repeat).
    usable = [(r, p) for r, p in attempts if accept(r.code) is None] or [
        (r, p) for r, p in attempts if _worth_inserting(accept(r.code))] or attempts
    best, why = usable[0]
    refused = accept(best.code)
    stop = "check stopped — " if stopped else ""
    if refused and refused.startswith(NOT_A_FIX):  # every answer was no code or the cell again
        return best, FixOutcome(
            f"{stop}nothing inserted: {refused.removeprefix(NOT_A_FIX).strip()}{where}",
            insert=False, attempts=tries)
    return best, FixOutcome(
        f"{stop}not verified: {_short(why or '')} — best attempt inserted, marked{where}",
        mark=f"# qwen: not verified ({_short(why or '', 60)}) — review before use",
        attempts=tries)


def _most_printed(printed: list[tuple[GenerationResult, str]]) -> tuple[GenerationResult, int]:
    """The first answer of those whose output most clean runs share (ties: the earliest
    output, so the first clean answer when nothing agrees), and how many share it."""
    outputs = [output for _, output in printed]
    votes = max(outputs.count(output) for output in outputs)
    return next((result, votes) for result, output in printed if outputs.count(output) == votes)


#: How ``accept`` starts its reason when there is nothing worth inserting (no code, or only
#: the failed cell again), as opposed to a cell that is inserted marked.
NOT_A_FIX = "not a fix:"
def until_a_fix(first: GenerationResult, messages: list[dict[str, str]], ask: Ask,
                accept: Accept, *, policy: CheckPolicy = CheckPolicy(),
                say: Callable[[str], None] = lambda message: None) -> GenerationResult:
    """``first``, or — when ``accept`` finds it no fix (no code, the failed cell again: a small
    model often copies the cell it was shown; a cell that does not parse, would fail the same
    way or hides the error) — a repair told so, then fresh answers, until one is accepted or
    the policy's rounds are spent; then the first worth inserting (marked by
    :func:`unchecked_fix`), else the last. Nothing is run: this is the plain ``%qwen fix``;
    ``--check`` goes on to run the cell (:func:`check_fix`)."""
    config = first.config or GenerationConfig()
    warmer = config.replace(temperature=max(config.temperature, policy.retry_temperature))
    seed, answers = config.seed or 0, [first]
    problem = accept(first.code)
    for attempt in range(1, policy.repair_rounds + policy.candidates + 1):
        if problem is None:
            return answers[-1]
        say(f"{problem.removeprefix(NOT_A_FIX).strip()} — asking again ({attempt})…")
        turns = with_fix_note(messages, problem.removeprefix(NOT_A_FIX).strip()) \
            if attempt <= policy.repair_rounds else messages
        current = ask(turns, warmer.replace(seed=(seed + attempt) % _SEEDS))
        if _stopped(current):
            break
        answers.append(current)
        problem = accept(current.code)
    if problem is None:
        return answers[-1]
    return next((answer for answer in answers if _worth_inserting(accept(answer.code))),
                answers[-1])


def _worth_inserting(problem: str | None) -> bool:
    """Whether a corrected cell with ``accept``'s ``problem`` may be inserted (marked if any)."""
    return not (problem or "").startswith(NOT_A_FIX)


def unchecked_fix(problem: str | None, not_checked: str = "") -> FixOutcome:
    """A corrected cell that was not run: inserted unless it is no fix at all, marked when
    ``accept`` found something wrong with it."""
    if problem is None:
        return FixOutcome(not_checked)
    if problem.startswith(NOT_A_FIX):
        return FixOutcome(f"nothing inserted: {problem.removeprefix(NOT_A_FIX).strip()}",
                          insert=False)
    return FixOutcome(f"review: {_short(problem)}",
                      mark=f"# qwen: {_short(problem, 60)} — review before use")


#: The inserted cell's first line when the check could not even run it.
UNCHECKED = "# qwen: not verified — review before use"


def _stopped(result: GenerationResult) -> bool:
    return result.finish_reason == "cancelled" or result.interrupted


def _short(text: str, limit: int = 80) -> str:
    line = " ".join(text.split())
    return line if len(line) <= limit else line[: limit - 1] + "…"


__all__ = ["NOT_A_FIX", "Accept", "Ask", "CheckPolicy", "FixRules", "LeftUnrun", "RunCell",
           "RunCheck", "check_and_repair", "check_fix", "first_failure", "repair_request",
           "unchecked_fix", "until_a_fix", "with_fix_note"]
