"""The check problem set is well formed, and each reference solution passes its own tests.

The references run in a subprocess (plain Python, no sandbox: they are part of the repo).
"""

from __future__ import annotations

import collections
import json
import subprocess
import sys

import pytest

from qwen_magic.bench.problems import CATEGORIES, load_problems
from qwen_magic.checking import extract_examples

PROBLEMS = load_problems()


def test_the_set_is_large_and_covers_every_category():
    counts = collections.Counter(problem.category for problem in PROBLEMS)
    assert len(PROBLEMS) >= 120
    assert set(counts) == set(CATEGORIES)
    assert min(counts.values()) >= 15, counts
    assert len({problem.id for problem in PROBLEMS}) == len(PROBLEMS), "ids must be unique"


@pytest.mark.parametrize("problem", PROBLEMS, ids=[p.id for p in PROBLEMS])
def test_problem_is_well_formed(problem):
    assert len(problem.hidden_tests) >= 5
    assert problem.entry_point in problem.request
    assert all(test.lstrip().startswith("assert ") for test in problem.hidden_tests)
    visible = extract_examples(problem.request)  # what --check will run
    assert 2 <= len(visible) <= 3, f"{problem.id}: {len(visible)} visible examples"
    for test in problem.hidden_tests:
        assert test not in problem.request, f"{problem.id}: a hidden test is shown"


_RUN_ALL = r"""
import doctest, json, sys
problems = json.load(sys.stdin)
failed = []
for p in problems:
    scope = {"__name__": "__check__"}
    try:
        exec(p["reference"], scope)
        for test in p["hidden_tests"]:
            exec(test, dict(scope))
        lines = [line for line in p["request"].splitlines() if line.lstrip().startswith("assert ")]
        for line in lines:
            exec(line.strip(), dict(scope))
        examples = doctest.DocTestParser().get_examples(p["request"])
        runner = doctest.DocTestRunner(verbose=False)
        test = doctest.DocTest(examples, dict(scope), p["id"], None, 0, None)
        runner.run(test, out=lambda _: None)
        assert runner.failures == 0, f"{runner.failures} visible doctest example(s) fail"
    except BaseException as exc:
        failed.append(f"{p['id']}: {type(exc).__name__}: {exc}")
print(json.dumps(failed))
"""


def test_every_reference_passes_its_examples_and_hidden_tests():
    payload = json.dumps([{"id": p.id, "reference": p.reference, "request": p.request,
                           "hidden_tests": list(p.hidden_tests)} for p in PROBLEMS])
    done = subprocess.run([sys.executable, "-c", _RUN_ALL], input=payload, text=True,
                          capture_output=True, timeout=300, check=True)
    assert json.loads(done.stdout.strip().splitlines()[-1]) == []


@pytest.mark.parametrize("category", CATEGORIES)
def test_the_benchmark_judge_passes_a_reference_and_fails_a_wrong_answer(category):
    """The bench judges through the real sandbox (bench/checking.py); no model involved."""
    from qwen_magic.bench.checking import passes_hidden_tests

    problem = next(p for p in PROBLEMS if p.category == category)
    assert passes_hidden_tests(problem.reference, problem)
    wrong = f"def {problem.entry_point}(*args, **kwargs):\n    return None\n"
    assert not passes_hidden_tests(wrong, problem)
