"""%qwen fix / explain / new and %%qwen -c follow-ups, with a FAKE provider (no model).

The fix prompts are built from REAL IPython exceptions: the failing cells run in the test
shell, and the prompt is what the post_run_cell hook recorded from them.
"""

from __future__ import annotations

from typing import Any

import pytest
from IPython.core.error import UsageError

from qwen_magic.fixing import Failure, explain_prompt, fix_prompt
from qwen_magic.notebook import commands
from qwen_magic.notebook.conversation import Conversation
from qwen_magic.notebook.magics import _registered
from tests.fakes import FakeProvider

FIX_REPLY = ["The name `totl` is a typo of `total`.\n\n", "```python\n",
             "fixed_total = 1\n", "print(fixed_total)\n", "```\n"]


def magics(shell: Any) -> Any:
    return _registered[id(shell)]


def run(shell: Any, source: str) -> Any:
    return shell.run_cell(source, store_history=True)


def last_user_message(shell: Any) -> str:
    return shell.fake_provider.requests[-1].messages[-1]["content"]


# -- the prompt, from real exceptions ---------------------------------------------------------

def test_fix_prompt_from_a_name_error(shell: Any) -> None:
    run(shell, "total = 1\nprint(totl)\n")
    failure = magics(shell).failures.last
    assert failure.source == "total = 1\nprint(totl)\n"
    assert "NameError: name 'totl' is not defined" in failure.error
    assert "In[1], line 2, in <module>" in failure.error
    assert "interactiveshell.py" not in failure.error  # IPython's own frames are trimmed
    prompt = fix_prompt(failure)
    assert "print(totl)" in prompt and "NameError" in prompt and "```python" in prompt


def test_fix_prompt_fences_only_the_cell() -> None:
    """The error and the variables are indented text: a small model shown a second fenced
    block (the values' annotations) has answered with it instead of the cell."""
    failure = Failure("print(prices['Apple'])", "KeyError: 'Apple'", 2)
    prompt = fix_prompt(failure, "prices: dict  # 2 keys: 'apple': float, 'pear': float")
    assert prompt.count("```") == 3  # the cell's block, and the fence the request names
    assert "    KeyError: 'Apple'" in prompt and "    prices: dict" in prompt


def test_fix_prompt_from_a_syntax_error(shell: Any) -> None:
    run(shell, "x = (1,\ny = 2\n")
    failure = magics(shell).failures.last
    assert "SyntaxError" in failure.error
    assert "^" in failure.error  # the caret under the line
    assert "ipython-input" not in failure.error and "In[1]" in failure.error


def test_fix_prompt_from_an_error_in_a_function_of_an_earlier_cell(shell: Any) -> None:
    run(shell, "def f(x):\n    return x + undefined_y\n")
    run(shell, "a = 1\nf(a)\n")
    error = magics(shell).failures.last.error
    assert "In[2], line 2, in <module>" in error  # the failing cell's frame
    assert "In[1], line 2, in f" in error  # ...and the earlier cell's function
    assert "return x + undefined_y" in error
    assert error.rstrip().endswith("NameError: name 'undefined_y' is not defined")


def test_the_failure_knows_which_of_the_cells_lines_raised(shell: Any) -> None:
    """The cell's own top-level statement, even when the error is raised deeper (in an
    earlier cell's function); none for a SyntaxError, which ran nothing."""
    run(shell, "total = 1\nprint(totl)\n")
    assert magics(shell).failures.last.raised_at == 2
    run(shell, "def f(x):\n    return x + undefined_y\n")
    run(shell, "a = 1\n\nfor b in [a]:\n    f(b)\n")
    assert magics(shell).failures.last.raised_at == 4
    run(shell, "x = (1,\ny = 2\n")
    assert magics(shell).failures.last.raised_at is None


def test_the_failure_names_the_attribute_an_attribute_error_was_about(shell: Any) -> None:
    run(shell, "stock = {'apple': 3}\nstock.has_key('apple')\n")
    assert magics(shell).failures.last.missing_attribute == "has_key"
    run(shell, "import math\nmath.sqroot(16)\n")
    assert magics(shell).failures.last.missing_attribute == "sqroot"
    run(shell, "1/0")
    assert magics(shell).failures.last.missing_attribute is None


def test_explain_prompt_with_and_without_a_failure() -> None:
    failure = Failure("1/0", "ZeroDivisionError: division by zero", 3)
    assert "ZeroDivisionError" in explain_prompt("1/0", failure)
    assert "failed" not in explain_prompt("x = 1")


# -- %qwen fix ------------------------------------------------------------------------------

def test_fix_streams_and_inserts_the_corrected_cell_without_running_it(shell: Any) -> None:
    run(shell, "total = 1\nprint(totl)\n")
    shell.fake_provider = FakeProvider(FIX_REPLY)
    run(shell, "%qwen fix")
    assert shell.inserted == ["fixed_total = 1\nprint(fixed_total)"]
    assert "print(totl)" in last_user_message(shell)
    assert "fixed_total" not in shell.user_ns  # inserted, never run
    assert shell.history_manager.input_hist_raw[1] == "total = 1\nprint(totl)"  # left as it was
    assert shell.user_ns["_qwen"].text.startswith("The name `totl`")


def test_fix_with_no_failure_says_so_in_one_line(shell: Any) -> None:
    run(shell, "x = 1")
    with pytest.raises(UsageError, match="no cell has failed so far"):
        shell.run_line_magic("qwen", "fix")
    assert shell.fake_provider.requests == []


def test_a_failing_qwen_cell_is_not_the_cell_to_fix(shell: Any) -> None:
    run(shell, "print(totl)")
    run(shell, "%qwen fix")  # the fake answer; then a %%qwen cell that fails
    shell.fake_provider = FakeProvider(error=RuntimeError("boom"))
    run(shell, "%%qwen\nwrite code")
    assert magics(shell).failures.last.source == "print(totl)"


def test_fix_keeps_braces_in_the_failed_code(shell: Any) -> None:
    run(shell, "name = 'x'\nprint(f'{name}' + missing)\n")
    run(shell, "%qwen fix")
    assert "f'{name}'" in last_user_message(shell)  # not interpolated into 'x'


def test_fix_tells_the_model_what_the_cells_variables_hold(shell: Any) -> None:
    """The keys the cell got wrong are in the prompt (live data, never running user code);
    names the cell defines itself are not described."""
    shell.run_line_magic("config", "QwenMagics.completion_variables = True")
    run(shell, "prices = {'apple': 1.5, 'pear': 2.0}")
    run(shell, "basket = ['apple']\nprint(prices['Apple'])\n")
    run(shell, "%qwen fix")
    prompt = last_user_message(shell)
    values = prompt[prompt.index("hold now"):prompt.index("Say in one")]
    assert "prices" in values and "'apple'" in values and "'pear'" in values
    assert "basket" not in values  # defined by the cell itself: it shows it


def test_fix_sends_no_values_where_the_setting_says_no(shell: Any) -> None:
    shell.run_line_magic("config", "QwenMagics.completion_variables = False")
    run(shell, "prices = {'apple': 1.5}")
    run(shell, "print(prices['Apple'])")
    run(shell, "%qwen fix")
    prompt = last_user_message(shell)
    assert "hold now" not in prompt and "1.5" not in prompt


# -- %qwen explain [N] ----------------------------------------------------------------------

def test_explain_without_n_takes_the_last_failure_and_inserts_nothing(shell: Any) -> None:
    run(shell, "1/0")
    run(shell, "%qwen explain")
    assert "ZeroDivisionError" in last_user_message(shell)
    assert shell.inserted == []


def test_explain_n_takes_that_cell(shell: Any) -> None:
    run(shell, "squares = [i * i for i in range(3)]")
    run(shell, "1/0")
    run(shell, "%qwen explain 1")
    message = last_user_message(shell)
    assert "squares = [i * i" in message and "ZeroDivisionError" not in message
    assert shell.inserted == []
    run(shell, "%qwen explain 2")
    assert "ZeroDivisionError" in last_user_message(shell)


def test_explain_with_no_failure_points_to_explain_n(shell: Any) -> None:
    with pytest.raises(UsageError, match="no cell has failed so far.*explain N"):
        shell.run_line_magic("qwen", "explain")


def test_explain_an_unknown_cell_is_a_one_line_error(shell: Any) -> None:
    with pytest.raises(UsageError, match="no cell In\\[42\\]"):
        shell.run_line_magic("qwen", "explain 42")


@pytest.mark.parametrize(("line", "subcommand"), [
    ("fix", True), ("fix the bug in my parser", False), ("fix --check", True),
    ("fix --model 1.5b --check", True), ("fix --check the bug", False), ("fix --chek", True),
    ("explain", True),
    ("explain 3", True), ("explain decorators", False), ("new", True), ("new test", False),
])
def test_subcommand_or_prompt(line: str, subcommand: bool) -> None:
    assert (commands.parse(line) is not None) is subcommand


def test_a_mistyped_fix_option_is_a_one_line_error(shell: Any) -> None:
    shell.run_cell("1 / 0", store_history=True)
    with pytest.raises(UsageError, match="unrecognized arguments: --chek"):
        shell.run_line_magic("qwen", "fix --chek")


def test_a_prompt_starting_with_explain_goes_to_the_model(shell: Any) -> None:
    shell.run_line_magic("qwen", "explain decorators")
    assert last_user_message(shell) == "explain decorators"


def test_help_documents_the_rule(shell: Any, capsys: Any) -> None:
    shell.run_line_magic("qwen", "help")
    out = capsys.readouterr().out
    assert "fix" in out and "explain [N]" in out and "explain decorators" in out and "-c" in out


# -- follow-ups -----------------------------------------------------------------------------

def test_a_follow_up_carries_the_previous_turn(shell: Any) -> None:
    shell.run_cell_magic("qwen", "", "write add(a, b)")
    first_answer = shell.user_ns["_qwen"].text
    shell.run_cell_magic("qwen", "-c", "now make it handle empty lists")
    messages = shell.fake_provider.requests[-1].messages
    assert [m["role"] for m in messages if m["role"] != "system"] == ["user", "assistant", "user"]
    users = [m for m in messages if m["role"] != "system"]
    assert users[0]["content"] == "write add(a, b)"
    assert users[1]["content"] == first_answer
    assert users[2]["content"] == "now make it handle empty lists"


def test_a_cell_without_c_starts_over(shell: Any) -> None:
    shell.run_cell_magic("qwen", "", "write add(a, b)")
    shell.run_cell_magic("qwen", "", "write sub(a, b)")
    shell.run_cell_magic("qwen", "--continue", "and mul")
    contents = [m["content"] for m in shell.fake_provider.requests[-1].messages]
    assert "write add(a, b)" not in contents and "write sub(a, b)" in contents


def test_new_starts_over(shell: Any, capsys: Any) -> None:
    shell.run_cell_magic("qwen", "", "write add(a, b)")
    shell.run_line_magic("qwen", "new")
    shell.run_cell_magic("qwen", "-c", "and mul")
    assert [m["role"] for m in shell.fake_provider.requests[-1].messages
            if m["role"] != "system"] == ["user"]


def test_trimming_drops_the_oldest_half_at_once() -> None:
    conversation = Conversation([(f"q{i}" * 100, f"a{i}" * 100) for i in range(8)])
    messages, dropped = conversation.messages("next", None, budget_tokens=1000)
    assert dropped == 4  # half of the 8 turns at once, not one by one
    assert messages[0]["content"].startswith("q4") and messages[-1]["content"] == "next"
    again, dropped_again = conversation.messages("next", None, budget_tokens=1000)
    assert dropped_again == 0 and again == messages  # a stable start: the prefix cache holds


def test_the_footer_says_how_many_turns_were_dropped(shell: Any) -> None:
    m = magics(shell)
    m.conversation.turns[:] = [("q" * 2000, "a" * 2000)] * 4  # ~5,300 tokens
    m.n_ctx = 4096
    shell.run_cell_magic("qwen", "-c -n 100", "shorter")  # a budget of 3,996: half must go
    markdown = shell.display_pub.outputs[-1]["data"]["text/markdown"]
    assert "2 earlier turns dropped" in markdown.splitlines()[-1]
    assert len(shell.fake_provider.requests[-1].messages) == 1 + 2 * 2 + 1  # system, 2 turns, new
