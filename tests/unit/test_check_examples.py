"""extract_examples: the doctest and assert examples a request shows, in every usual format."""

from __future__ import annotations

import textwrap

from qwen_magic.checking import Example, extract_examples


def examples(text: str) -> list[Example]:
    return extract_examples(textwrap.dedent(text))


def test_doctest_lines_with_their_expected_output():
    assert examples("""\
        Write f(x) that doubles x.
        >>> f(2)
        4
        >>> f(-1)
        -2
        """) == [Example("f(2)", "4"), Example("f(-1)", "-2")]


def test_a_doctest_that_prints_nothing_expects_empty_output():
    assert examples(">>> x = f(2)\n>>> x\n4\n") == [Example("x = f(2)", ""), Example("x", "4")]


def test_continuation_lines_and_multi_line_output():
    assert examples("""\
        >>> for n in range(3):
        ...     print(n)
        0
        1
        2
        """) == [Example("for n in range(3):\n    print(n)", "0\n1\n2")]


def test_doctests_in_a_pasted_docstring_are_dedented_and_end_with_it():
    found = examples('''\
        Complete this:

        def clamp(x, lo, hi):
            """Clamp x into [lo, hi].

            >>> clamp(5, 0, 3)
            3
            >>> clamp(-1, 0, 3)
            0
            """
        ''')
    assert found == [Example("clamp(5, 0, 3)", "3"), Example("clamp(-1, 0, 3)", "0")]


def test_a_docstring_closed_on_the_output_line():
    found = examples('''\
        def f(x):
            """Double x.
            >>> f(2)
            4"""
            return x
        ''')
    assert found == [Example("f(2)", "4")]


def test_examples_in_fences_end_at_the_fence():
    found = examples("""\
        Write is_even.
        ```python
        >>> is_even(4)
        True
        ```
        ```
        assert is_even(3) is False
        ```
        """)
    assert found == [Example("is_even(4)", "True"), Example("assert is_even(3) is False", None)]


def test_assert_lines_top_level_and_multi_line():
    found = examples("""\
        Make merge(a, b) merge two sorted lists.
        assert merge([1, 3], [2]) == [1, 2, 3]
        assert merge([], [
            5]) == [5]
        assert merge([], []) == []  # edge case
        """)
    assert found == [
        Example("assert merge([1, 3], [2]) == [1, 2, 3]", None),
        Example("assert merge([], [\n    5]) == [5]", None),
        Example("assert merge([], []) == []  # edge case", None),
    ]


def test_an_assert_in_backticks():
    assert examples("It must hold that\n`assert f(2) == 4`\n") == [Example("assert f(2) == 4", None)]


def test_asserts_in_a_stubs_docstring_and_a_test_function_count_but_not_in_its_body():
    found = examples('''\
        def area(w, h):
            """Area of a rectangle.

                assert area(2, 3) == 6
            """
            assert w >= 0 and h >= 0
            ...

        def test_area():
            assert area(1, 1) == 1
        ''')
    assert found == [Example("assert area(2, 3) == 6", None), Example("assert area(1, 1) == 1", None)]


def test_mixed_formats_keep_their_order_and_duplicates_go():
    found = examples("""\
        >>> f(1)
        2
        assert f(2) == 4
        >>> f(1)
        2
        >>> f(3)
        6
        assert f(2) == 4
        """)
    assert found == [Example("f(1)", "2"), Example("assert f(2) == 4", None), Example("f(3)", "6")]


def test_an_assert_line_right_after_a_doctest_ends_its_output():
    found = examples(">>> f(2)\n4\nassert f(3) == 6\n")
    assert found == [Example("f(2)", "4"), Example("assert f(3) == 6", None)]


def test_a_doctest_of_an_assert_stays_a_doctest():
    assert examples(">>> assert f(2) == 4\n") == [Example("assert f(2) == 4", "")]


def test_exception_output_and_directives_are_kept_for_the_runner():
    found = examples("""\
        >>> f(-1)
        Traceback (most recent call last):
        ValueError: negative
        >>> g()  # doctest: +ELLIPSIS
        [1, ..., 9]
        """)
    assert found == [
        Example("f(-1)", "Traceback (most recent call last):\nValueError: negative"),
        Example("g()  # doctest: +ELLIPSIS", "[1, ..., 9]"),
    ]


def test_inconsistent_indentation_and_a_missing_space_are_forgiven():
    assert examples("    >>> f(2)\n4\n>>>f(3)\n6\n") == [Example("f(2)", "4"), Example("f(3)", "6")]


def test_none_found():
    assert extract_examples("write a function that merges two sorted lists") == []
    assert extract_examples("it should assert that x is positive; 2 >>> 1 is not a prompt") == []
    assert extract_examples("") == []


def test_describe_is_one_line():
    assert Example("f(2)", "4").describe() == ">>> f(2)  →  4"
    assert Example("x = 1", "").describe() == ">>> x = 1  →  (no output)"
    assert Example("for i in r:\n    print(i)", "0\n1").describe() == ">>> for i in r: …  →  0⏎1"
    assert Example("assert f([\n    1]) == 2", None).describe() == "assert f([ 1]) == 2"
    long = Example("f(" + "1, " * 100 + ")", "4").describe(width=40)
    assert len(long) == 40 and long.endswith("…")
