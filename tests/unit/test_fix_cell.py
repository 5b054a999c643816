"""``%qwen fix`` always offers a corrected cell, and ``--check`` runs it where it can.

FAKE providers (scripted answers, no model) in a real IPython shell; the corrected cells of
``--check`` run in the real sandbox process (never in the shell). The self-containment
analysis itself is tested in tests/unit/test_cell_scope.py.
"""

from __future__ import annotations

from typing import Any

from qwen_magic import api, catalog
from qwen_magic.checked import CheckPolicy, check_fix, until_a_fix
from qwen_magic.checking.sandbox import CheckRun
from qwen_magic.config import GenerationConfig
from qwen_magic.fixing import FIX_SYSTEM_PROMPT, Failure
from qwen_magic.notebook.cell_python import fix_problem
from qwen_magic.options import DEFAULT_SYSTEM_PROMPT
from qwen_magic.result import GenerationResult
from tests.fakes import AnswersProvider

FAILED = "import math\nprint(math.sqroot(16))\n"
DIAGNOSIS = "`math` has no `sqroot`: the square root is `math.sqrt`."


class Continuing(AnswersProvider):
    """A FAKE model that can continue an answer from a given start (as the real ones can)."""

    continues_answers = True


def run(shell: Any, source: str) -> Any:
    return shell.run_cell(source, store_history=True)


def footer(shell: Any) -> str:
    return shell.user_ns["_qwen"].stats_line()


def test_a_diagnosis_only_answer_is_continued_into_a_corrected_cell(shell: Any) -> None:
    run(shell, FAILED)
    shell.fake_provider = Continuing([DIAGNOSIS, "import math\nprint(math.sqrt(16))\n```"])
    run(shell, "%qwen fix")
    assert shell.inserted == ["import math\nprint(math.sqrt(16))"]
    second = shell.fake_provider.requests[-1]
    assert second.answer_start == DIAGNOSIS + "\n\n```python\n"  # the code follows its diagnosis
    assert second.messages == shell.fake_provider.requests[0].messages  # the same request
    assert shell.user_ns["_qwen"].text.startswith(DIAGNOSIS + "\n\n```python\nimport math")
    assert "math" in shell.user_ns and "sqrt" not in str(shell.user_ns.get("_", ""))  # not run


def test_an_answer_that_only_repeats_the_failed_cell_is_not_inserted(shell: Any) -> None:
    run(shell, FAILED)
    shell.fake_provider = Continuing([f"Here:\n```python\n# the same\n{FAILED}```"])
    run(shell, "%qwen fix")
    assert shell.inserted == []
    assert "nothing inserted: it only repeats the failed cell" in footer(shell)
    # It was told so and asked again (2 repairs, then 3 fresh answers) before giving up.
    requests = shell.fake_provider.requests
    assert len(requests) == 6 and "it only repeats the failed cell" in \
        requests[1].messages[-1]["content"]


def test_a_repeat_is_asked_again_and_the_next_fix_inserted(shell: Any) -> None:
    run(shell, FAILED)
    shell.fake_provider = Continuing([f"```python\n{FAILED}```",
                                      "```python\nimport math\nprint(math.sqrt(16))\n```"])
    run(shell, "%qwen fix")
    assert shell.inserted == ["import math\nprint(math.sqrt(16))"]


def asked_again(shell: Any, cells: list[str], wrong: str, right: str) -> str:
    """Run ``cells`` (the last one fails), then ``%qwen fix`` with a FAKE model that answers
    ``wrong`` then ``right``: assert ``right`` is inserted, and give the repair request that
    told the model why ``wrong`` was no fix."""
    for cell in cells:
        run(shell, cell)
    shell.fake_provider = Continuing([f"```python\n{wrong}\n```", f"```python\n{right}\n```"])
    run(shell, "%qwen fix")
    assert shell.inserted == [right]
    return shell.fake_provider.requests[1].messages[-1]["content"]


def test_a_cell_that_would_fail_the_same_way_is_asked_again_with_the_line_named(
        shell: Any) -> None:
    """Nothing before the line that raised changed, so it must raise again: not run to find
    out (plain fix runs nothing), told which line, and asked again."""
    repair = asked_again(
        shell, [FAILED], "import math  # the math module\nprint(math.sqroot(16))\nprint('done')",
        "import math\nprint(math.sqrt(16))")
    assert ("it would fail the same way: the line that raised the error "
            "(`print(math.sqroot(16))`) is unchanged") in repair


def test_a_fix_that_reads_a_name_nothing_defines_is_asked_again(shell: Any) -> None:
    repair = asked_again(shell, ["radius = 2", "print(3.14 * radiu ** 2)"],
                         "print(math.pi * radiu ** 2)", "print(3.14 * radius ** 2)")
    assert "`radiu`" in repair and "`math`" in repair
    assert "which neither the cell nor the notebook defines" in repair


def test_a_fix_that_still_reads_the_missing_attribute_is_asked_again(shell: Any) -> None:
    """The line changed, but it still asks the same dict for ``has_key``: it must fail again."""
    repair = asked_again(
        shell, ["stock = {'apple': 3}", "if stock.has_key('apple'):\n    print('in stock')"],
        "found = stock.has_key('apple')\nif found:\n    print('in stock')",
        "if 'apple' in stock:\n    print('in stock')")
    assert "it would fail the same way: it still reads `stock.has_key`" in repair


def test_a_fix_that_sets_a_notebook_variable_afresh_is_asked_again(shell: Any) -> None:
    """Shown what ``df`` holds, a small model writes made-up data into the cell: the fix must
    use the notebook's frame, not replace it."""
    repair = asked_again(
        shell, ["import pandas as pd\ndf = pd.DataFrame({'score': [70, 90]})",
                "df = df.append({'score': 80}, ignore_index=True)\nprint(len(df))"],
        "df = pd.DataFrame({'score': [1, 2, 3]})\nprint(len(df))",
        "df = pd.concat([df, pd.DataFrame([{'score': 80}])], ignore_index=True)\nprint(len(df))")
    assert "it sets the notebook's `df` afresh" in repair
    assert len(shell.user_ns["df"]) == 2  # the kernel's frame untouched: nothing ran


def test_a_fix_that_calls_a_module_is_asked_again() -> None:
    """``import datetime`` then ``datetime(…)``: the TypeError again, whatever the error was."""
    failure = Failure("import datetime\nd = datetime(2024, 3, 15)\nprint(d.year)", "",
                      raised_at=2)
    wrong = "import datetime\nd = datetime(2024, 3, 15, 0, 0)\nprint(d.year)"
    assert fix_problem(failure, wrong, {}) == (
        "it calls a module as if it were a function (`datetime(2024, 3, 15, 0, 0)`): "
        "TypeError: 'module' object is not callable")
    right = "import datetime\nd = datetime.datetime(2024, 3, 15)\nprint(d.year)"
    assert fix_problem(failure, right, {}) is None


def test_undefined_names_are_not_judged_past_a_magic_line() -> None:
    """``%time x = 1`` assigns ``x`` in text the analysis cannot read: no verdict."""
    failure = Failure(FAILED, "")
    assert fix_problem(failure, "%time x = 16\nimport math\nprint(math.sqrt(x))", {}) is None
    assert "`x`" in (fix_problem(failure, "import math\nprint(math.sqrt(x))", {}) or "")
    assert fix_problem(failure, "import math\nprint(math.sqrt(x))", {"x": 16}) is None


def test_plain_fix_asks_again_for_a_cell_that_does_not_parse_and_keeps_the_first_if_all_fail(
        shell: Any) -> None:
    run(shell, FAILED)
    shell.fake_provider = Continuing(["```python\nimport math\nprint(math.sqrt(16)\n```"])
    run(shell, "%qwen fix")
    assert len(shell.fake_provider.requests) == 6  # the answer, 2 repairs, 3 fresh ones
    assert shell.inserted[0].startswith("# qwen: it does not parse")  # inserted, marked
    assert "review: it does not parse" in footer(shell)


def test_a_fix_that_fell_short_names_the_bigger_installed_model(
        shell: Any, monkeypatch: Any, capsys: Any) -> None:
    """FAKE: as if the 1.5B were installed beside the model that answered."""
    monkeypatch.setattr(api, "bigger_chat_model", lambda provider, n_ctx: catalog.find("1.5b"))
    run(shell, FAILED)
    shell.fake_provider = Continuing(["```python\nimport math\nprint(math.sqrt(16)\n```"])
    run(shell, "%qwen fix")
    assert "tip: the bigger 1.5b is installed and fixes more cells: %qwen fix --model 1.5b" \
        in capsys.readouterr().out
    shell.fake_provider = Continuing(["```python\nimport math\nprint(math.sqrt(16))\n```"])
    run(shell, "%qwen fix")
    assert "tip:" not in capsys.readouterr().out  # a fix with nothing found wrong: no tip


def test_fix_check_runs_a_self_contained_correction_and_says_so(shell: Any) -> None:
    run(shell, FAILED)
    shell.fake_provider = Continuing([
        f"{DIAGNOSIS}\n```python\nimport math\nprint(math.sqrt(-1))\n```",  # fails when run
        f"{DIAGNOSIS}\n```python\nimport math\nprint(math.sqrt(16))\n```",
    ])
    run(shell, "%qwen fix --check")
    assert shell.inserted == ["import math\nprint(math.sqrt(16))"]
    # The clean one is kept once another answer (the fake repeats its last) prints the same.
    assert ("checked: the corrected cell runs cleanly after 2 more answers; 2 of 2 clean runs "
            "print the same") in footer(shell)
    repair = shell.fake_provider.requests[1].messages[-1]["content"]
    assert "math domain error" in repair  # told what went wrong, by the sandbox's run


def test_fix_check_refuses_a_clean_run_that_skips_the_users_line(shell: Any) -> None:
    """A new ``if`` around the failing line runs cleanly without running it: not a fix. The
    repair is told which line it kept from running (the real sandbox traces the lines)."""
    run(shell, 'import re\nprint(re.match(r"\\d+", "order 66").group())')
    guarded = ('import re\nm = re.match(r"\\d+", "order 66")\nif m:\n    print(m.group())\n'
               'else:\n    print("no number")')
    searched = 'import re\nprint(re.search(r"\\d+", "order 66").group())'
    shell.fake_provider = Continuing([f"```python\n{guarded}\n```",
                                      f"```python\n{searched}\n```"])
    run(shell, "%qwen fix --check")
    assert shell.inserted == [searched]
    assert ("checked: the corrected cell runs cleanly after 2 more answers; 2 of 2 clean runs "
            "print the same") in footer(shell)
    repair = shell.fake_provider.requests[1].messages[-1]["content"]
    assert "keeps the cell's own line 4 (`print(m.group())`) from running" in repair


def test_fix_check_never_runs_a_cell_that_reads_notebook_variables(shell: Any) -> None:
    run(shell, "radius = 2")
    run(shell, "print(3.14 * radiu ** 2)")
    shell.fake_provider = Continuing(["```python\nprint(3.14 * radius ** 2)\n```"])
    run(shell, "%qwen fix --check")
    assert shell.inserted == ["print(3.14 * radius ** 2)"]
    assert "not checked: reads notebook variables: radius" in footer(shell)


def test_when_every_attempt_fails_the_first_is_inserted_marked(shell: Any) -> None:
    run(shell, FAILED)
    shell.fake_provider = Continuing(["```python\nimport math\nprint(math.sqrt(-4))\n```"])
    run(shell, "%qwen fix --check")
    inserted = shell.inserted[0].splitlines()
    assert inserted[0].startswith("# qwen: not verified (it failed when it ran: ValueError")
    assert inserted[1:] == ["import math", "print(math.sqrt(-4))"]
    assert "not verified: it failed when it ran" in footer(shell)
    assert len(shell.fake_provider.requests) == 6  # the answer, 2 repairs, 3 fresh ones


def test_hiding_the_error_is_not_a_fix() -> None:
    failure = Failure(FAILED, "")
    assert fix_problem(failure, "import math\ntry:\n    print(math.sqroot(16))\n"
                                "except Exception:\n    pass") is not None
    assert fix_problem(failure, "import math") is not None  # the failing line left out
    assert fix_problem(failure, "import math\nprint(math.sqrt(16))") is None
    assert fix_problem(failure, "%time print(1)\nimport math\nprint(math.sqrt(16))") is None
    assert "does not parse" in (fix_problem(failure, "print(math.sqrt(16)") or "")
    assert (fix_problem(failure, "") or "").startswith("not a fix")


def _answers_and_runs(codes: list[str]) -> tuple[Any, Any]:
    """An ``ask`` giving ``codes`` in turn and a stand-in for the sandbox (FAKE runs): a cell
    containing ``bad`` raises, any other prints what its ``# prints X`` comment says."""
    answers = iter(f"```python\n{code}\n```" for code in codes)

    def ask(messages: list[dict[str, str]], config: GenerationConfig) -> GenerationResult:
        return GenerationResult(next(answers), "stop", config=config)

    def run_cell(code: str) -> CheckRun:
        if "bad" in code:
            return CheckRun((), "NameError: name 'bad' is not defined", 0.1)
        return CheckRun((), None, 0.1, output=code.partition("# prints ")[2].strip() + "\n")
    return ask, run_cell


def test_check_fix_keeps_a_clean_run_once_another_prints_the_same() -> None:
    """The loop alone (fake answers and runs): a cell that runs cleanly but prints what no
    other answer prints loses to the first of two that agree."""
    ask, run_cell = _answers_and_runs(["bad()", "f(1)  # prints 5", "g(1)  # prints 4",
                                       "h(1)  # prints 4", "never asked"])
    first = ask([], GenerationConfig())
    best, outcome = check_fix(first, [{"role": "user", "content": "fix"}], ask,
                              lambda code: None, run_cell=run_cell)
    assert best.code.strip() == "g(1)  # prints 4" and outcome.verified
    assert outcome.attempts == 4  # the answer, a repair, then fresh ones until two agree
    assert "2 of 3 clean runs print the same" in outcome.line


def test_check_fix_without_agreement_marks_the_first_clean_run() -> None:
    """Fake answers and runs: every clean run prints something else — the candidates are
    spent, and the first clean one is inserted marked as unverified."""
    ask, run_cell = _answers_and_runs(["f()  # prints 1", "f()  # prints 2", "f()  # prints 3",
                                       "f()  # prints 4"])
    first = ask([], GenerationConfig())
    best, outcome = check_fix(first, [{"role": "user", "content": "fix"}], ask,
                              lambda code: None, run_cell=run_cell)
    assert best.code.strip() == "f()  # prints 1" and not outcome.verified and outcome.insert
    assert outcome.attempts == 1 + CheckPolicy().candidates
    assert outcome.line.startswith("not verified: it runs, but no two of 4 clean runs print")
    assert outcome.mark.startswith("# qwen: not verified") and "review" in outcome.mark


def test_check_fix_inserts_nothing_when_every_answer_repeats_the_cell() -> None:
    """Fake answers: only the failed cell again, every time — the footer says nothing was
    inserted (it once said "best attempt inserted" while nothing was)."""
    ask, run_cell = _answers_and_runs(["bad()"] * 6)
    first = ask([], GenerationConfig())
    best, outcome = check_fix(first, [{"role": "user", "content": "fix"}], ask,
                              lambda code: "not a fix: it only repeats the failed cell",
                              run_cell=run_cell)
    assert not outcome.insert and not outcome.verified
    assert outcome.line == "nothing inserted: it only repeats the failed cell"


def test_check_fix_inserts_a_doubtful_answer_rather_than_a_repeat() -> None:
    """Fake answers: the cell again, then answers ``accept`` finds wrong but worth showing —
    the first of those is inserted, marked (a repeat first must not hide them)."""
    ask, run_cell = _answers_and_runs(["bad()", "bad()  # first", "bad()  # second"])
    first = ask([], GenerationConfig())

    def accept(code: str) -> str | None:
        if code.strip() == "bad()":
            return "not a fix: it only repeats the failed cell"
        return "it would fail the same way: the line that raised the error (`bad()`) is unchanged"
    best, outcome = check_fix(first, [{"role": "user", "content": "fix"}], ask, accept,
                              run_cell=run_cell, policy=CheckPolicy(repair_rounds=1, candidates=1))
    assert best.code.strip() == "bad()  # first" and outcome.insert and not outcome.verified
    assert outcome.line.startswith("not verified: it would fail the same way")


def test_until_a_fix_keeps_the_first_answer_worth_inserting_when_none_is_accepted() -> None:
    """Fake answers: the cell again, then two that ``accept`` finds wrong but worth showing."""
    ask, _ = _answers_and_runs(["bad()", "bad()  # first", "bad()  # second"])
    first = ask([], GenerationConfig())

    def accept(code: str) -> str | None:
        return ("not a fix: it only repeats the failed cell" if code.strip() == "bad()"
                else "it does not parse")
    best = until_a_fix(first, [{"role": "user", "content": "fix"}], ask, accept,
                       policy=CheckPolicy(repair_rounds=1, candidates=1))
    assert best.code.strip() == "bad()  # first"


def test_fix_check_runs_the_correction_of_a_cell_that_did_not_parse(shell: Any) -> None:
    run(shell, "for n in range(3)\n    print(n)")  # the missing colon: nothing to analyse
    shell.fake_provider = Continuing(["```python\nfor n in range(3):\n    print(n)\n```"])
    run(shell, "%qwen fix --check")
    assert shell.inserted == ["for n in range(3):\n    print(n)"]
    assert "checked: the corrected cell runs cleanly" in footer(shell)


def test_plain_fix_asks_with_its_own_system_prompt_unless_the_user_set_one(shell: Any) -> None:
    run(shell, FAILED)
    shell.fake_provider = Continuing(["```python\nimport math\nprint(math.sqrt(16))\n```"])
    run(shell, "%qwen fix")
    assert shell.fake_provider.requests[0].messages[0] == {"role": "system",
                                                           "content": FIX_SYSTEM_PROMPT}
    run(shell, "%qwen fix --check")  # --check: two answers must agree, under the default
    assert shell.fake_provider.requests[-1].messages[0]["content"] == DEFAULT_SYSTEM_PROMPT
    run(shell, "%config QwenMagics.system = 'Answer in French.'")
    run(shell, "%qwen fix")
    assert shell.fake_provider.requests[-1].messages[0]["content"] == "Answer in French."
    run(shell, "%config QwenMagics.system = ''")  # none at all stays none
    run(shell, "%qwen fix")
    assert shell.fake_provider.requests[-1].messages[0]["role"] == "user"


def test_of_two_corrected_cells_the_one_the_rules_accept_is_inserted(shell: Any) -> None:
    """The model copies the failed cell (here with the values' annotation it was shown) before
    the block that fixes it: the copy is more alike, but still calls the missing method."""
    run(shell, 'inventory = {"bolts": 5, "nuts": 80}')
    run(shell, 'if inventory.has_key("nuts"):\n    print("nuts:", inventory["nuts"])')
    fixed = 'if "nuts" in inventory:\n    print("nuts:", inventory["nuts"])'
    shell.fake_provider = Continuing([
        "`dict` has no `has_key`:\n```python\ninventory: dict  # 2 keys\n"
        'if inventory.has_key("nuts"):\n    print("nuts:", inventory["nuts"])\n```\n'
        f"Use `in`:\n```python\n{fixed}\n```"])
    run(shell, "%qwen fix")
    assert shell.inserted == [fixed]
    assert len(shell.fake_provider.requests) == 1  # chosen, not asked again
