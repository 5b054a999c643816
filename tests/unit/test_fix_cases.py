"""The ``fix`` bench set is well formed, every cell really fails as written, its reference fix
really prints the expected text, and the bench's judge (the --check sandbox) agrees.

No model here. The cells and references are test data written for the project, so the plain
checks run them with ``python -c`` in a subprocess (a fresh scratch folder each, a timeout);
the judge runs them the way the bench will, through ``run_examples``'s limited process.
"""

from __future__ import annotations

import collections
import json
import subprocess
import sys

import pytest

from qwen_magic.bench.fix_cases import KINDS, SPLITS, FixCase, load_fix_cases
from qwen_magic.bench.fix_judge import cell_runner, judge_fixed_cell
from qwen_magic.cell_edits import lines_changed, only_repeats
from qwen_magic.cell_scope import analyze_cell, defined_names
from qwen_magic.checking import Example, run_examples

CASES = load_fix_cases()
IDS = [case.id for case in CASES]


def test_the_set_is_large_covers_every_kind_and_splits_half_and_half():
    assert len(CASES) >= 60
    assert len(set(IDS)) == len(IDS), "ids must be unique"
    per_kind = collections.Counter((case.kind, case.split) for case in CASES)
    for kind in KINDS:
        assert per_kind[kind, "tune"] == per_kind[kind, "heldout"] >= 3, kind
    assert {case.split for case in CASES} == set(SPLITS)
    assert len(load_fix_cases(splits=("heldout",))) == len(CASES) // 2
    # Cells that read the notebook's state (a setup cell): enough to report the share not
    # checked, in both halves.
    with_setup = collections.Counter(case.split for case in CASES if case.setup)
    assert with_setup["tune"] >= 8 and with_setup["heldout"] >= 8, with_setup


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_case_is_well_formed(case: FixCase):
    assert case.id.startswith(case.kind + "-")
    assert case.kind in KINDS and case.split in SPLITS
    assert case.error.endswith("Error"), case.error
    assert case.expected and not case.expected.endswith("\n")
    assert not only_repeats(case.cell, case.reference)
    assert 1 <= lines_changed(case.cell, case.reference) <= 2, "a fix is a small edit"


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_self_containment_matches_the_setup(case: FixCase):
    """A case with a setup stands for a cell that reads the notebook's variables or files;
    the analysis must say so (from the reference when the failed cell does not parse). The
    kernel's names are those the setup defines, read from its text as the bench will."""
    kernel = defined_names(case.setup)
    scope = analyze_cell(case.cell, kernel)
    if scope.syntax_error is not None:
        assert case.kind == "syntax"
        scope = analyze_cell(case.reference, kernel)
    if not case.setup:
        assert scope.self_contained, f"{case.id}: {scope.reason()}"
    elif "open(" in case.setup:  # the setup wrote a file the cell reads
        assert scope.files and not scope.notebook_names, f"{case.id}: {scope.reason()}"
    else:
        assert scope.notebook_names and not scope.files, f"{case.id}: {scope.reason()}"


# -- the plain run: python -c, one scratch folder per case ----------------------------------

_RUN_CASE = r"""
import contextlib, io, json, sys
job = json.load(sys.stdin)
report = {}
for which in ("cell", "reference"):
    namespace = {"__name__": "__main__"}
    exec(compile(job["setup"], "<setup>", "exec"), namespace)  # the notebook's earlier cells
    stdout = io.StringIO()
    error = None
    try:
        with contextlib.redirect_stdout(stdout):
            exec(compile(job[which], "<cell>", "exec"), namespace)
    except Exception as exc:
        error = type(exc).__name__
    report[which] = {"stdout": stdout.getvalue(), "error": error}
print(json.dumps(report))
"""


@pytest.mark.timeout(60)
@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_the_cell_fails_and_the_reference_prints_the_expected_text(case: FixCase, tmp_path):
    job = json.dumps({"setup": case.setup, "cell": case.cell, "reference": case.reference})
    done = subprocess.run([sys.executable, "-c", _RUN_CASE], input=job, text=True,
                          capture_output=True, timeout=50, cwd=tmp_path, check=True)
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert report["cell"]["error"] == case.error, report["cell"]
    assert report["reference"] == {"stdout": case.expected + "\n", "error": None}


# -- the judge: the --check sandbox ---------------------------------------------------------


@pytest.mark.timeout(60)
@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_the_judge_passes_the_reference_and_fails_the_failed_cell(case: FixCase):
    fixed = judge_fixed_cell(case, case.reference)
    assert fixed.fixed, (fixed.got, fixed.error)
    assert fixed.got == case.expected and fixed.error is None
    failed = judge_fixed_cell(case, case.cell)
    assert not failed.fixed
    assert case.error in failed.got, failed.got  # the exception's line, as the child reports it


def _case(expected: str, setup: str = "") -> FixCase:
    return FixCase(id="t-01", kind="name", split="tune", setup=setup, cell="", error="NameError",
                   expected=expected, reference="")


def test_the_judge_shows_a_last_expression_as_the_notebook_does():
    assert judge_fixed_cell(_case("4.0"), "import math\nmath.sqrt(16)").fixed
    assert judge_fixed_cell(_case("'ab'"), "'a' + 'b'").fixed  # the repr, as Out[] shows it
    assert not judge_fixed_cell(_case("ab"), "'a' + 'b'").fixed
    assert judge_fixed_cell(_case("1\n2"), "print(1); 2").fixed
    assert not judge_fixed_cell(_case("2"), "x = 2\nx;").fixed  # a final ";" hides it
    assert judge_fixed_cell(_case("3"), "print(\n    3\n)").fixed


def test_the_judge_wants_exact_output_a_clean_run_and_some_code():
    assert judge_fixed_cell(_case("a\n\nb"), "print('a'); print(); print('b')").fixed
    assert not judge_fixed_cell(_case("a\nb"), "print('a'); print(); print('b')").fixed
    assert not judge_fixed_cell(_case("3"), "print(3)\nraise ValueError('after')").fixed
    assert not judge_fixed_cell(_case("3"), "print(4)").fixed
    empty = judge_fixed_cell(_case("3"), "  \n")
    assert not empty.fixed and empty.error == "the answer has no code"
    magic = judge_fixed_cell(_case("3"), "%time print(3)")
    assert not magic.fixed and "SyntaxError" in magic.got


def test_the_judge_runs_the_setup_first_in_the_same_namespace():
    assert judge_fixed_cell(_case("5", setup="x = 5"), "print(x)").fixed
    broken_setup = judge_fixed_cell(_case("5", setup="raise RuntimeError('setup')"), "print(5)")
    assert not broken_setup.fixed and "RuntimeError: setup" in (broken_setup.error or "")


def test_the_runner_is_one_example_line():
    line = cell_runner("import math\nprint(math.pi)\nmath.e")
    assert "\n" not in line
    check = run_examples("", [Example(line, "3.141592653589793\n2.718281828459045")])
    assert check.ok, check
