"""{variable} interpolation and --context building (plain Python, no kernel)."""

from __future__ import annotations

from qwen_magic.prompting import build_context, compose_prompt, describe_value, interpolate


def test_known_variables_are_filled():
    assert interpolate("sort {items} by {key}", {"items": [3, 1], "key": "x"}) == "sort [3, 1] by x"


def test_other_braces_stay_exactly_as_written():
    notices = []
    prompt = "make {'a': 1} into {a: b} and f'{x + 1}' and { and } and {0}"
    assert interpolate(prompt, {}, notices.append) == prompt
    assert notices == []  # nothing that looked like a variable name


def test_unknown_name_stays_literal_with_one_notice():
    notices = []
    assert interpolate("use {df} and {df}", {}, notices.append) == "use {df} and {df}"
    assert len(notices) == 1 and "{df}" in notices[0] and "{{name}}" in notices[0]


def test_double_braces_escape_a_name():
    assert interpolate("an f-string like f'{{name}}'", {"name": "X"}) == "an f-string like f'{name}'"


def test_describe_value_covers_common_types():
    assert describe_value([1, 2, 3]) == "list of 3 items: [1, 2, 3]"
    assert describe_value("x" * 500).startswith("str: 'xxx") and len(describe_value("x" * 500)) < 100

    class FakeFrame:  # the attributes describe_value reads from a pandas DataFrame
        __name__ = "DataFrame"
        shape = (3, 2)
        columns = ["a", "b"]

        class _D(dict):
            pass

        dtypes = _D(a="int64", b="object")

    FakeFrame.__name__ = "DataFrame"
    text = describe_value(FakeFrame())
    assert "shape (3, 2)" in text and "a: int64" in text and "b: object" in text


def test_context_has_earlier_cells_oldest_first_then_variables_and_skips_magics():
    cells = ["import math", "%%qwen write x", "r = math.sqrt(2)", "%load_ext qwen_magic"]
    context = build_context(cells, {"r": 1.41, "_hidden": 1, "In": []})
    assert context.index("import math") < context.index("r = math.sqrt(2)") < context.index("r: float")
    assert "%%qwen" not in context and "_hidden" not in context and "In:" not in context


def test_context_budget_keeps_the_newest_cells():
    cells = [f"x{i} = {i}" + " " * 50 for i in range(100)]
    context = build_context(cells, {}, budget_chars=300)
    assert "x99 = 99" in context and "x0 = 0" not in context
    assert len(context) < 400


def test_context_goes_first_so_prefixes_are_shared():
    assert compose_prompt("do it", "CTX").startswith("CTX")
    assert compose_prompt("do it", "") == "do it"
