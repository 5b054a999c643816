"""A corrected cell against the failed one: parses, only repeats, lines changed, which of an
answer's blocks it is.

The plain functions (qwen_magic/cell_edits.py) on Python source, and the notebook's wrappers
(notebook/cell_python.py), which apply IPython's real input transformer first.
"""

from __future__ import annotations

import ast

import pytest

from qwen_magic.cell_edits import (
    called_module,
    fails_the_same_way,
    likeness,
    lines_changed,
    missing_again,
    only_repeats,
    replaced_values,
    surely_run,
    syntax_problem,
    unrun_user_line,
)
from qwen_magic.notebook.cell_python import (
    cell_syntax_problem,
    corrected_cell,
    repeats_failed_cell,
)


def test_syntax_problem_is_none_for_valid_code_and_one_line_otherwise():
    assert syntax_problem("x = 1\nprint(x)") is None
    assert syntax_problem("import asyncio\nawait asyncio.sleep(0)") is None  # a notebook may
    assert syntax_problem("for i in range(3)\n    print(i)") == "SyntaxError: expected ':' (line 1)"
    assert syntax_problem("def f():\nreturn 1").startswith("IndentationError: ")
    # Compiling finds what parsing alone lets through.
    assert syntax_problem("return 5") == "SyntaxError: 'return' outside function (line 1)"
    assert "null bytes" in syntax_problem("x = 1\0")  # a SyntaxError or a ValueError


@pytest.mark.parametrize("cell", [
    "%timeit sum(range(10))",
    "!pip list\nimport math",
    "%%bash\necho hi",
    "files = !ls\nprint(files)",
    "df.head?",
])
def test_magic_and_shell_lines_parse_after_ipythons_transform(cell):
    assert syntax_problem(cell) is not None  # as plain Python they do not
    assert cell_syntax_problem(cell) is None


def test_a_broken_cell_is_still_broken_after_the_transform():
    assert cell_syntax_problem("%time x = 1\nprint(x") is not None
    assert cell_syntax_problem('print("unterminated)') is not None


def test_only_repeats_the_same_code_up_to_layout_and_comments():
    failed = "import math\nprint(math.sqroot(16))"
    assert only_repeats(failed, failed)
    assert only_repeats(failed, "import math\n\nprint(math.sqroot(16))   \n")
    assert only_repeats(failed, "import math  # the module\nprint( math.sqroot( 16 ) )")
    assert only_repeats(failed, "    import math\n    print(math.sqroot(16))")
    assert not only_repeats(failed, "import math\nprint(math.sqrt(16))")
    assert not only_repeats(failed, "import math\nprint(math.sqroot(16))\nprint('done')")


def test_only_repeats_a_cell_that_does_not_parse():
    failed = "for i in range(3)\n    print(i)"
    assert only_repeats(failed, failed + "\n")
    assert not only_repeats(failed, "for i in range(3):\n    print(i)")
    assert not only_repeats(failed, "for i in range(3)\n        print(i)")  # indentation differs


def test_repeats_failed_cell_through_the_transform():
    assert repeats_failed_cell("%time x = 1", "# timed\n%time x = 1\n")
    assert not repeats_failed_cell("%time x = 1", "%time x = 2")


@pytest.mark.parametrize(("failed", "fixed", "changed"), [
    ("a\nb\nc", "a\nb\nc", 0),
    ("a\nb\nc", "a\nB\nc", 1),  # one line edited
    ("a\nb\nc", "a\nB\nC", 2),
    ("a\nb\nc", "import x\na\nb\nc", 1),  # one line added
    ("a\nb\nc", "a\nc", 1),  # one line removed
    ("a\nb\nc", "a\nB1\nB2\nc", 2),  # one line replaced by two: the longer side
    ("a\nb\nc", "a  \nb\nc\n\n", 0),  # trailing spaces and blank lines at the end
    ("a\nb", "x\ny\nz", 3),
    ("", "print(1)", 1),
])
def test_lines_changed(failed, fixed, changed):
    assert lines_changed(failed, fixed) == changed


def test_likeness_is_the_share_of_lines_kept():
    assert likeness("a\nb", "a\nb") == 1.0
    assert likeness("a\nb", "x\ny") == 0.0
    assert 0.0 < likeness("a\nb\nc", "a\nB\nc") < 1.0


FAILED_CELL = "import math\nprint(math.sqroot(16))  # four"
FIXED_CELL = "import math\nprint(math.sqrt(16))  # four"


@pytest.mark.parametrize("answer", [
    # the corrected cell shown twice: joined it would print twice
    f"Use sqrt.\n```python\n{FIXED_CELL}\n```\nHere it is again:\n```python\n{FIXED_CELL}\n```",
    # the failed cell quoted first, then the fix
    f"This fails:\n```python\n{FAILED_CELL}\n```\nFixed:\n```python\n{FIXED_CELL}\n```",
    # the fix, then a one-line excerpt and a block that does not parse
    f"```python\n{FIXED_CELL}\n```\nThe change:\n```python\nmath.sqrt(16)\n```\n"
    "```python\nprint(math.sqrt(16)\n```",
    # a block echoing the notebook's variables as annotations, then the fix
    f"```python\nscores: list  # 3 items\n```\n```python\n{FIXED_CELL}\n```",
    # untagged, the fix alone
    f"Use sqrt.\n```\n{FIXED_CELL}\n```",
])
def test_corrected_cell_is_the_one_block_most_like_the_failed_cell(answer):
    assert corrected_cell(FAILED_CELL, answer) == FIXED_CELL + "\n"


def test_corrected_cell_falls_back_to_the_answers_code():
    only_repeat = f"```python\n{FAILED_CELL}\n```"
    assert corrected_cell(FAILED_CELL, only_repeat) == FAILED_CELL + "\n"  # judged a repeat later
    broken = "```python\nprint(math.sqrt(16)\n```"
    assert corrected_cell(FAILED_CELL, broken) == "print(math.sqrt(16)\n"  # said not to parse
    assert corrected_cell(FAILED_CELL, "No code, only words.") == ""
    magic = "```python\n%time print(math.sqrt(16))\n```"  # valid after IPython's transform
    assert corrected_cell(FAILED_CELL, magic) == "%time print(math.sqrt(16))\n"
    # What it would print, untagged beside the tagged repeat, compiles but is no cell.
    printed = f"```python\n{FAILED_CELL}\n```\nThis will output:\n```\n4.0\n```"
    assert corrected_cell(FAILED_CELL, printed) == FAILED_CELL + "\n"


RE_FAILED = 'import re\nprint(re.match(r"\\d+", "order 66").group())\n'
RE_GUARDED = ('import re\nm = re.match(r"\\d+", "order 66")\nif m:\n    print(m.group())\n'
              'else:\n    print("no number")\n')


def test_a_new_guard_must_run_the_users_lines_it_holds():
    # `if m:` (line 3) holds the user's print, changed in place (line 4): it must run.
    assert unrun_user_line(RE_FAILED, RE_GUARDED, {1, 2, 3, 6}) == (3, 4)
    assert unrun_user_line(RE_FAILED, RE_GUARDED, {1, 2, 3, 4}) is None
    commented = RE_GUARDED.replace("m.group())", "m.group())  # the number, if there is one")
    assert unrun_user_line(RE_FAILED, commented, {1, 2, 3, 6}) == (3, 4)
    # The same guard the other way round: the user's line in its `else` part.
    inverted = ('import re\nm = re.match(r"\\d+", "order 66")\nif m is None:\n'
                '    print("no number")\nelse:\n    print(m.group())\n')
    assert unrun_user_line(RE_FAILED, inverted, {1, 2, 3, 4}) == (3, 6)
    # The cell moved into a new function that is never called.
    wrapped = 'import re\ndef main():\n    print(re.search(r"\\d+", "order 66").group())\n'
    assert unrun_user_line(RE_FAILED, wrapped, {1, 2}) == (2, 3)
    assert unrun_user_line(RE_FAILED, wrapped + "main()\n", {1, 2, 3, 4}) is None


def test_the_users_own_branches_and_a_guards_other_parts_may_stay_unrun():
    failed = 'x = 3\nif x > 5:\n    print("big")\nelse:\n    print(x + "")\n'
    fixed = 'x = 3\nif x > 5:\n    print("big")\nelse:\n    print(x)\n'
    assert unrun_user_line(failed, fixed, {1, 2, 5}) is None  # the user's `if`, not a guard
    # A new `if` with the user's line, changed, in both branches: one of them ran.
    both = 's = "2.5"\nif s.isdigit():\n    n = int(s)\nelse:\n    n = float(s)\n'
    assert unrun_user_line('s = "2.5"\nn = int(s)\n', both, {1, 2, 5}) is None
    # A guard's `except` part may stay unrun.
    caught = ('import json\ntry:\n    print(json.loads("[1]"))\nexcept ValueError:\n'
              '    print(json.loads("[]"))\n')
    assert unrun_user_line('import json\nprint(json.load("[1]"))\n', caught, {1, 2, 3}) is None
    # A new `if` whose body is all new lines guards nothing of the user's.
    assert unrun_user_line("print(1 + '1')\n", "if False:\n    raise SystemExit\nprint(2)\n",
                           {1, 3}) is None
    assert unrun_user_line(RE_FAILED, "print((", set()) is None  # does not parse: not judged


FAILS_AT_3 = "import math\nvalues = [16, 25]\nroots = [math.sqroot(v) for v in values]\nprint(roots)\n"


@pytest.mark.parametrize(("fixed", "same"), [
    (FAILS_AT_3, True),
    # Comments, layout and what comes after the line that raised do not change the outcome.
    ("import math  # roots\nvalues = [16, 25]\n\nroots = [math.sqroot(v) for v in values]\n"
     "print(sorted(roots))\n", True),
    ("import math\nvalues = [16, 25]\nroots = [math.sqrt(v) for v in values]\nprint(roots)\n",
     False),  # the line itself changed
    ("from math import sqrt\nimport math\nmath.sqroot = sqrt\nvalues = [16, 25]\n"
     "roots = [math.sqroot(v) for v in values]\nprint(roots)\n", False),  # lines before it did
    ("import math\nvalues = [16, 25]\n", False),  # it stops before the line (hiding: elsewhere)
    ("import math\nvalues = [16, 25\n", False),  # does not parse: reported on its own
])
def test_fails_the_same_way_when_nothing_up_to_the_line_that_raised_changed(fixed, same):
    assert fails_the_same_way(FAILS_AT_3, fixed, 3) is same


def test_fails_the_same_way_sees_a_change_inside_the_failing_statement():
    failed = "total = 0\nfor n in ['1', 2]:\n    total += n\nprint(total)\n"
    fixed = "total = 0\nfor n in ['1', 2]:\n    total += int(n)\nprint(total)\n"
    assert fails_the_same_way(failed, failed.replace("print(total)", "print(total)  # x"), 3)
    assert not fails_the_same_way(failed, fixed, 3)
    assert not fails_the_same_way(failed, failed, 9)  # a line the cell does not have


@pytest.mark.parametrize(("failed", "fixed", "raised_at", "attribute", "receiver"), [
    ("stock = {'a': 1}\nif stock.has_key('a'):\n    print(1)\n",
     "stock = {'a': 1}\nprint(stock.has_key('a'))\n", 2, "has_key", "stock"),
    ("stock = {'a': 1}\nif stock.has_key('a'):\n    print(1)\n",
     "stock = {'a': 1}\nprint('a' in stock)\n", 2, "has_key", None),
    # `stock` bound by another statement: it may have the attribute now.
    ("stock = {'a': 1}\nif stock.has_key('a'):\n    print(1)\n",
     "stock = Stock()\nprint(stock.has_key('a'))\n", 2, "has_key", None),
    ("import datetime\nd = datetime.strptime('2024', '%Y')\n",
     "import datetime\nd = datetime.strptime('2024', '%Y')  # parse\nprint(d)\n", 2,
     "strptime", "datetime"),
    ("import datetime\nd = datetime.strptime('2024', '%Y')\n",
     "from datetime import datetime\nd = datetime.strptime('2024', '%Y')\n", 2, "strptime", None),
    # The value is read before the assignment binds it: the old `df` again.
    ("df.append(row)\n", "df = df.append(row, ignore_index=True)\n", 1, "append", "df"),
    ("df.append(row)\n", "df = pd.DataFrame(df)\ndf.append(row)\n", 1, "append", None),
    # The receiver changed: `re.match(...)` gave None, `re.search(...)` need not.
    ("import re\nprint(re.match('b', 'ab').group())\n",
     "import re\nprint(re.search('b', 'ab').group())\n", 2, "group", None),
    # A loop that binds the receiver and changed: left to the model and --check.
    ("for row in rows:\n    print(row.nme)\n", "for row in rows:\n    print(row.nme.upper())\n",
     2, "nme", None),
])
def test_missing_again_when_the_same_thing_is_asked_for_the_same_attribute(
        failed, fixed, raised_at, attribute, receiver):
    assert missing_again(failed, fixed, raised_at, attribute) == receiver


@pytest.mark.parametrize(("failed", "fixed", "replaced"), [
    # Made-up data in place of the user's frame, and a copy of the values shown to the model.
    ("df = df.append(row)\n", "df = pd.DataFrame({'a': [1]})\ndf = pd.concat([df, row])\n",
     ("df",)),
    ("print('%d %d' % (item, count))\n", "count = 3\nitem: str = 'apples'\n"
     "print('%s %d' % (item, count))\n", ("item", "count")),
    ("total = sum(prices)\n", "prices, tax = [1, 2], 0.2\ntotal = sum(prices)\n", ("prices",)),
    # Computed from what it held, or only read: the user's data is used.
    ("df = df.append(row)\n", "df = pd.concat([df, pd.DataFrame([row])])\n", ()),
    ("print(df.nme)\n", "df = df.rename(columns=str.lower)\nprint(df.name)\n", ()),
    ("print(len(items))\n", "print(len(list(items)))\n", ()),
    # A column or key set changes the object, not which object the name holds.
    ("print(df.A)\n", "df.columns = ['a']\nrow['k'] = 1\nprint(df.a)\n", ()),
    # The failed cell set it afresh too, or it is not a notebook variable.
    ("count = 3\nprint(count + '1')\n", "count = 3\nprint(count + 1)\n", ()),
    ("print(sum(prices))\n", "total = 0\nprint(sum(prices))\n", ()),
    # Inside a function, a name of its own.
    ("print(f(xs))\n", "def f(xs):\n    xs = sorted(xs)\n    return xs\nprint(f(xs))\n", ()),
])
def test_replaced_values_are_notebook_variables_set_afresh(failed, fixed, replaced):
    names = ("df", "row", "item", "count", "prices", "items", "xs")
    assert replaced_values(failed, fixed, names) == tuple(n for n in names if n in replaced)


@pytest.mark.parametrize(("source", "call"), [
    ("import datetime\nd = datetime(2024, 3, 15)\nprint(d)\n", "datetime(2024, 3, 15)"),
    ("import pprint\nfor row in rows:\n    pprint(row)\n", "pprint(row)"),
    ("import numpy as np\nprint(np([1, 2]))\n", "np([1, 2])"),
    ("import os.path\nprint(os('a'))\n", "os('a')"),
    # The name holds something else by then, or the module is used as a module.
    ("from datetime import datetime\nprint(datetime(2024, 3, 15))\n", None),
    ("import datetime\nfrom datetime import datetime\nprint(datetime(2024, 3, 15))\n", None),
    ("import datetime\nd = datetime.datetime(2024, 3, 15)\n", None),
    ("import tqdm\ntqdm = tqdm.tqdm\nprint(tqdm([1]))\n", None),
    # A statement that also rebinds it, or a function called later: not judged.
    ("import pprint\nif True:\n    from pprint import pprint\n    pprint(1)\n", None),
    ("import pprint\ndef show(x):\n    pprint(x)\n", None),
    ("print(datetime(2024, 3, 15))\n", None),  # the kernel's: the text cannot say
    ("print(datetime(\n", None),
])
def test_called_module_is_a_module_called_like_a_function(source, call):
    assert called_module(source) == call


def test_surely_run_leaves_out_what_may_not_run() -> None:
    statement = ast.parse('x = [f(a) if g(b) else h(c), i(d) or q(r), j(e) < k(f2) < l(g2),'
                          ' [m(v) for v in n(w)], lambda: o(p)]').body[0]
    called = {node.func.id for node in surely_run(statement)
              if isinstance(node, ast.Call) and isinstance(node.func, ast.Name)}
    # Not the branches, the later operands, the chain's tail, the comprehension, the lambda.
    assert called == {"g", "i", "j", "k"}


def test_corrected_cell_prefers_a_block_the_rules_accept():
    copy = FAILED_CELL + "\nprint('done')"  # the failed cell, one line added: more alike
    answer = f"```python\n{copy}\n```\nor:\n```python\n{FIXED_CELL}\n```"
    assert corrected_cell(FAILED_CELL, answer) == copy + "\n"
    still_wrong = lambda code: "still sqroot" if "sqroot" in code else None  # noqa: E731
    assert corrected_cell(FAILED_CELL, answer, still_wrong) == FIXED_CELL + "\n"
    # When every block has a problem, the most alike is still the one judged.
    assert corrected_cell(FAILED_CELL, answer, lambda code: "wrong") == copy + "\n"
