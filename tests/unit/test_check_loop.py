"""``--check``'s loop: check, repair, resample, keep the best (qwen_magic/checked.py).

Fake providers (tests/fakes.py) answer; the examples run in the real sandbox, whose own
limits are tested in test_check_sandbox.py. Nothing here loads a model.
"""

from __future__ import annotations

import threading

import pytest

from qwen_magic import api
from qwen_magic.checked import CheckPolicy, check_and_repair, repair_request
from qwen_magic.checking.examples import extract_examples
from qwen_magic.checking.sandbox import isolation_level, run_examples
from qwen_magic.config import GenerationConfig
from qwen_magic.streaming import ListSink
from tests.fakes import AnswersProvider

ISOLATION = " · " + isolation_level().footer  # how the runs were isolated, on this machine

REQUEST = """Write add(a, b) that returns the sum.

>>> add(2, 3)
5
>>> add(-1, 1)
0
"""
RIGHT = "```python\ndef add(a, b):\n    return a + b\n```"
WRONG = "```python\ndef add(a, b):\n    return a - b\n```"  # fails both examples
ONE = "```python\ndef add(a, b):\n    return 5\n```"  # passes add(2, 3) only
CRASH = "```python\ndef add(a, b):\n    return a +\n```"


def checked(answers, *, request=REQUEST, **config):
    provider = AnswersProvider(answers)
    sink = ListSink()
    result = api.run(request, GenerationConfig(check=True, seed=7, **config),
                     provider=provider, sinks=[sink])
    return result, provider, sink


def test_an_answer_that_passes_is_kept_and_said_so():
    result, provider, sink = checked([RIGHT])
    assert len(provider.requests) == 1
    assert result.check.verified and result.check.line() == "checked: 2/2 examples pass" + ISOLATION
    assert "checked: 2/2 examples pass" in result.stats_line()
    assert result.cell_source() == result.code  # a verified answer carries no mark
    assert sink.statuses[0].startswith("checking the code against 2 examples")
    assert sink.statuses[-1] == ""  # the progress line is cleared at the end
    assert sink.result is result  # one on_finish, with the checked answer


def test_a_failing_answer_is_repaired_from_the_request_and_what_it_got_wrong():
    result, provider, _ = checked([WRONG, RIGHT])
    assert result.code.strip() == "def add(a, b):\n    return a + b"
    assert result.check.line() == "checked: 2/2 examples pass after 1 repair" + ISOLATION
    repair = provider.requests[1]
    first = provider.requests[0]
    # The same turns (so the request's KV state is reused), the request first, then the note;
    # not the wrong code itself, which a small model copies back.
    assert [m["role"] for m in repair.messages] == ["system", "user"]
    note = repair.messages[-1]["content"]
    assert note.startswith(first.messages[-1]["content"])
    assert ">>> add(2, 3)\nexpected: 5\nthe first attempt gave: -1" in note
    assert "return a - b" not in note
    assert repair.config.seed == 8 and repair.config.temperature >= 0.7  # fixed seeds, warmer


def test_after_the_repairs_fresh_answers_are_sampled_warmer_from_the_request():
    result, provider, _ = checked([WRONG, WRONG, CRASH, WRONG, RIGHT])
    assert len(provider.requests) == 5  # first, 2 repairs, 2 candidates
    candidate = provider.requests[4]
    assert [m["role"] for m in candidate.messages] == ["system", "user"]
    assert candidate.config.temperature >= 0.7
    assert result.check.verified
    assert result.check.line() == (
        "checked: 2/2 examples pass after 2 repairs and 2 fresh answers" + ISOLATION)


def test_when_nothing_passes_the_best_attempt_is_inserted_marked():
    result, provider, _ = checked([WRONG, ONE, WRONG, WRONG, WRONG, CRASH])
    assert len(provider.requests) == 6
    assert result.code.strip().endswith("return 5")  # the most examples passed
    assert result.check.passed == 1 and not result.check.verified
    assert result.check.line().startswith("1/2 pass — best attempt inserted, marked (")
    assert result.cell_source().splitlines()[0].startswith("# qwen: 1/2 pass")


def test_a_crashing_answer_gets_the_error_in_its_repair_request():
    run = run_examples(CRASH.split("\n", 1)[1].rsplit("\n", 1)[0], extract_examples(REQUEST))
    assert run.error and "SyntaxError" in run.error
    assert "failed when it ran" in repair_request(run) and "SyntaxError" in repair_request(run)


def test_no_examples_means_nothing_is_run(monkeypatch):
    def must_not_run(*_):
        raise AssertionError("nothing may run without examples")

    monkeypatch.setattr("qwen_magic.checked.run_examples", must_not_run)
    result, provider, _ = checked([WRONG], request="write add(a, b)")
    assert result.check.line() == "could not verify: no examples in the request"
    assert result.cell_source() == result.code and len(provider.requests) == 1


def test_the_plain_path_runs_nothing(monkeypatch):
    def must_not_run(*_):
        raise AssertionError("without check nothing is run")

    monkeypatch.setattr("qwen_magic.checked.run_examples", must_not_run)
    result = api.run(REQUEST, GenerationConfig(seed=1), provider=AnswersProvider([WRONG]))
    assert result.check is None and "check" not in result.stats_line()


def test_ctrl_c_while_the_code_runs_stops_checking_and_marks_the_result_interrupted():
    def interrupted(code, examples):
        raise KeyboardInterrupt

    first = api.run(REQUEST, GenerationConfig(seed=1), provider=AnswersProvider([WRONG]))
    result = check_and_repair(first, [{"role": "user", "content": REQUEST}],
                              extract_examples(REQUEST), lambda m, c: first, run_check=interrupted)
    assert result.interrupted and result.check.interrupted


def test_stop_during_a_repair_keeps_the_best_attempt_so_far():
    stop = threading.Event()
    provider = AnswersProvider([WRONG, RIGHT])
    original = provider.stream

    def stream(request, cancel):
        if len(provider.requests) == 1:
            stop.set()  # Stop pressed as the repair starts
        yield from original(request, cancel)

    provider.stream = stream
    result = api.run(REQUEST, GenerationConfig(check=True, seed=3), provider=provider, cancel=stop)
    assert result.code.strip().endswith("return a - b")  # the only attempt that was checked
    assert result.check.interrupted and result.check.line().startswith("check stopped — 0/2")
    assert not result.interrupted  # Stop, not Ctrl-C: the panel keeps and shows it


@pytest.mark.parametrize("rounds,candidates,expected", [(0, 0, 1), (1, 0, 2), (0, 2, 3)])
def test_the_policy_bounds_the_work(rounds, candidates, expected):
    provider = AnswersProvider([WRONG])
    first = api.run(REQUEST, GenerationConfig(seed=1), provider=provider)

    def ask(messages, config):
        return api.run("unused", config, provider=provider, messages=messages)

    result = check_and_repair(first, [{"role": "user", "content": REQUEST}],
                              extract_examples(REQUEST), ask,
                              policy=CheckPolicy(repair_rounds=rounds, candidates=candidates))
    assert len(provider.requests) == expected and not result.check.verified


# -- %%qwen --check in a real IPython shell (FAKE provider) -------------------------------------

def test_a_check_cell_keeps_its_doctest_prompts_and_inserts_the_repaired_code(shell):
    """IPython strips ``>>>`` from cells; a %%qwen cell keeps them for the model and the check."""
    shell.fake_provider = AnswersProvider([WRONG, RIGHT])
    cell = "%%qwen --check\n" + REQUEST
    assert shell.run_cell(cell, store_history=True).success
    asked = shell.fake_provider.requests[0].messages[-1]["content"]
    assert ">>> add(2, 3)" in asked  # the model sees the examples as written
    result = shell.user_ns["_qwen"]
    assert result.check.line() == "checked: 2/2 examples pass after 1 repair" + ISOLATION
    assert [c.strip() for c in shell.inserted] == [result.code.strip()]  # repaired, unmarked
    final = shell.display_pub.outputs[-1]["data"]["text/markdown"]
    assert "checked: 2/2 examples pass after 1 repair" in final
    # The progress line under the answer was shown, then cleared.
    progress = [o["data"]["text/plain"] for o in shell.display_pub.outputs
                if "repair 1 of 2" in o["data"].get("text/plain", "")]
    assert progress


def test_a_check_cell_that_still_fails_inserts_the_best_attempt_marked(shell):
    shell.fake_provider = AnswersProvider([WRONG])
    assert shell.run_cell("%%qwen --check\n" + REQUEST, store_history=True).success
    assert shell.inserted[0].startswith("# qwen: 0/2 pass — best attempt inserted, marked")
    assert "return a - b" in shell.inserted[0]


def test_doctest_prompts_outside_qwen_cells_are_still_stripped(shell):
    assert shell.transform_cell(">>> x = 1\n") == "x = 1\n"
