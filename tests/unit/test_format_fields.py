"""A format string its values cannot fill, found from the text (qwen_magic/format_fields.py),
and ``%qwen fix``'s rule on it. Every verdict here is checked against Python itself: the
flagged line really raises the error named, the others really run."""

from __future__ import annotations

import pytest

from qwen_magic.fixing import Failure
from qwen_magic.format_fields import format_mismatch
from qwen_magic.notebook.cell_python import fix_problem

VALUES = {"a": 2, "b": 3, "count": 3, "item": "apples", "p": 1.5, "xs": [1, 2], "d": {"a": 1}}


@pytest.mark.parametrize(("line", "error"), [
    ('"{0} + {1} = {2}".format(a, b)', "IndexError: Replacement index 2 out of range"),
    ('"{} + {} = {}".format(a, b)', "IndexError: Replacement index 2 out of range"),
    ('"{} {}".format(a)', "IndexError: Replacement index 1 out of range"),
    ('"{name}".format(nom=a)', "KeyError: 'name'"),
    ('"%s of %s" % (count,)', "TypeError: not enough arguments for format string"),
    ('"%d" % (a, b)', "TypeError: not all arguments converted during string formatting"),
    ('"{2}".format(a)', "IndexError: Replacement index 2 out of range"),
    ('"{²}".format(a)', "KeyError: '²'"),  # only ASCII digits number a field
])
def test_a_format_its_values_cannot_fill_is_found(line: str, error: str) -> None:
    found = format_mismatch(f"print({line})") or ""
    assert found.startswith("it calls `") and found.endswith(error)
    with pytest.raises((IndexError, KeyError, TypeError)) as raised:
        eval(line, dict(VALUES))  # the verdict is Python's own
    assert type(raised.value).__name__ == error.partition(":")[0]


@pytest.mark.parametrize("line", [
    '"{0} + {1} = {2}".format(a, b, a + b)',
    '"{name}".format(name=a)',
    '"{0.real} {1[0]}".format(p, xs)',
    '"{:{w}}".format(p, w=5)',  # nested fields: not judged
    '"{}".format(*xs)',  # values not written out
    '"{a}".format(**d)',
    '"{{}} {}".format(a)',  # escaped braces
    '"%s of %s" % (count, item)',
    '"%d%%" % a',  # a literal percent sign
    '"%s" % xs',  # a name may hold any tuple
    '"%(a)s" % d',
    '"%*d" % (5, a)',  # width from the values
    '"%.f" % (p,)',  # an empty precision
    '"%5.s|" % (item,)',
    '"hello" % b"x"',  # bytes on the right is a mapping
    '"{0}{}".format(a, b) if False else ""',  # not surely run
])
def test_a_format_that_runs_or_cannot_be_judged_is_not_flagged(line: str) -> None:
    assert format_mismatch(f"print({line})") is None
    eval(line, dict(VALUES))  # and these do run


def test_only_lines_that_surely_run_are_judged() -> None:
    assert format_mismatch('try:\n    "{} {}".format(1)\nexcept IndexError:\n    pass') is None
    assert format_mismatch('def f():\n    return "{} {}".format(1)') is None
    assert format_mismatch("x = 0" + " + 1" * 2000 + '\nprint("{} {}".format(1))')


def test_text_that_does_not_parse_is_not_judged() -> None:
    assert format_mismatch('print("{} {}".format(a)') is None


def test_fix_problem_asks_again_for_a_format_that_must_fail() -> None:
    failure = Failure(source='a, b = 2, 3\nprint("{0} + {1} = {2}".format(a, b))',
                      error="IndexError: Replacement index 2 out of range for positional args "
                      "tuple", raised_at=2)
    wrong = 'a, b = 2, 3\nprint("{0} + {1} = {2}".format(b, a))'
    assert "IndexError" in (fix_problem(failure, wrong, {}) or "")
    assert fix_problem(failure, 'a, b = 2, 3\nprint("{0} + {1} = {2}".format(a, b, a + b))',
                       {}) is None
