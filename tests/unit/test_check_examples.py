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


# -- examples written as prose: one test per form (docs/checking.md, "What runs") ---------


def asserts(text: str) -> list[str]:
    return [e.source for e in examples(text)]


def test_long_arrow_form():
    assert asserts("""\
        def iscube(a):
            '''Examples:
            iscube(1) ==> True
            iscube(180) ==> False
            '''
        """) == ["assert iscube(1) == True", "assert iscube(180) == False"]


def test_edabit_arrow_with_blank_lines_and_comments_between():
    assert asserts("""\
        Examples
        will_it_fly([1, 2], 5) ➞ False
        # 1+2 is less than the maximum possible weight, but it's unbalanced.

        count_repeats("abcdef") ➞ {}
        """) == ["assert will_it_fly([1, 2], 5) == False", "assert count_repeats('abcdef') == {}"]


def test_fat_arrow_with_a_bullet_and_json_booleans():
    assert asserts("""\
        * sort_array([5]) => [5]
        is_simple_power(8, 2) => true
        check(null) => false
        """) == ["assert sort_array([5]) == [5]", "assert is_simple_power(8, 2) == True",
                 "assert check(None) == False"]


def test_thin_arrow_but_not_a_signature():
    assert asserts("""\
        eat(5, 6, 10) -> [11, 4]
        compare([1,2],[1,3]) -> [0,1]
        pop() -> Any
        is_empty() -> bool
        append(val: Any) -> None
        """) == ["assert eat(5, 6, 10) == [11, 4]", "assert compare([1, 2], [1, 3]) == [0, 1]"]


def test_double_equals_after_for_and_over_several_lines():
    assert asserts("""\
        for x_or_y(7, 34, 12) == 34
        get_row([
          [1,2,3],
          [1,2,1]
        ], 1) == [(0, 0), (1, 2), (1, 0)]
        next_smallest([]) == None
        """) == ["assert x_or_y(7, 34, 12) == 34",
                 "assert get_row([[1, 2, 3], [1, 2, 1]], 1) == [(0, 0), (1, 2), (1, 0)]",
                 "assert next_smallest([]) == None"]


def test_single_equals_after_for_example_but_not_a_formula():
    assert asserts("""\
        For example:
        choose_num(12, 15) = 14
        rotation(45) = [[0.5, -0.8],
                        [0.8, 0.5]]
        """) == ["assert choose_num(12, 15) == 14", "assert rotation(45) == [[0.5, -0.8], [0.8, 0.5]]"]
    # A function defined by a recurrence: its "=" lines are mathematics, not examples.
    assert asserts("""\
        def tri(n):
            '''tri(1) = 3
            tri(n) = 1 + n / 2, if n is even.
            tri(4) = 3
            tri(3) = tri(2) + tri(1) + tri(4)
            '''
        """) == []


def test_returns_and_should_return_in_prose_and_comments():
    assert asserts("""\
        For example, prime_factors(84) returns [2, 2, 3, 7].
        multiply(148, 412) should return 16.
        check_dict_case({"a":"apple", "b":"banana"}) should return True.
        decimal_to_binary(15)   # returns "db1111db"
        file_name_check("example.txt") # => 'Yes'
        """) == ["assert prime_factors(84) == [2, 2, 3, 7]", "assert multiply(148, 412) == 16",
                 "assert check_dict_case({'a': 'apple', 'b': 'banana'}) == True",
                 "assert decimal_to_binary(15) == 'db1111db'",
                 "assert file_name_check('example.txt') == 'Yes'"]


def test_input_output_blocks_name_the_one_function():
    assert asserts("""\
        def maximum(arr, k):
            '''
            Example 1:
                Input: arr = [-3, -4, 5], k = 3
                Output: [-4, -3, 5]
            Example 2:
                Input: k = 1, arr = [4]
                Output: [4]
            '''
        """) == ["assert maximum(arr=[-3, -4, 5], k=3) == [-4, -3, 5]", "assert maximum(k=1, arr=[4]) == [4]"]
    assert asserts('''\
        Example 1:
        Input: "level up"
        Output: "up level"

        Input: [3,-1,2],
        Output: true

        class Solution(object):
            def reverseWords(self, s):
                """:rtype: str"""
        ''') == ["assert Solution().reverseWords('level up') == 'up level'",
                 "assert Solution().reverseWords([3, -1, 2]) == True"]
    assert asserts("""\
        def reverse_delete(s, c):
            '''For s = "abcde", c = "ae", the result should be ('bcd',False)'''
        """) == ["assert reverse_delete(s='abcde', c='ae') == ('bcd', False)"]


def test_input_output_blocks_are_skipped_when_they_cannot_be_called_as_written():
    in_place = """\
        Input: [3,1,2]
        Output: [1,2,3]
        class Solution:
            def sortInPlace(self, nums):
                ''':rtype: void  Sorts nums in-place and returns nothing.'''
        """
    unknown_parameter = "def f(grid, capacity):\n    '''Input: bucket = 1\n    Output: 6'''\n"
    two_functions = "def f(x): ...\ndef g(x): ...\nInput: 3\nOutput: 4\n"
    no_function = "Input: 3\nOutput: 4\n"
    not_python = "def reverse_list(head):\n    '''Input: 1->2->3\n    Output: 3->2->1'''\n"
    for text in (in_place, unknown_parameter, two_functions, no_function, not_python):
        assert examples(text) == [], text


def test_prose_that_is_not_plainly_an_example_is_skipped():
    assert asserts("""\
        def is_happy(s):
            '''is_happy(a) => False
            fruit_distribution("5 apples", 19) ->19 - 5 = 14
            digit_sum(48) ➞ 12, 12 ➞ 3
            grade_equation([4.0, 3]) ==> ['A+', 'B']
            bf("Earth", "Mercury") ==> ("Venus"
            '''
            helper(1) == 2
            return is_happy(s) == True
        """) == []
    assert extract_examples("The answer f(x) = 3 is wrong; see g(2) -> h") == []


def test_a_line_of_a_pasted_body_is_code_not_an_example():
    assert asserts("""\
        def f(x):
            '''Double x: f(2) ==> 4'''
            f(3) == 6
            return 2 * x
        f(2) ==> 4
        """) == ["assert f(2) == 4"]


def test_a_doctest_comparison_with_no_output_is_the_assert_it_means():
    assert examples(">>> count_nums([]) == 0\n>>> sort_array([1, 0]) [0, 1]\n") == [
        Example("assert count_nums([]) == 0", None), Example("assert sort_array([1, 0]) == [0, 1]", None)]


def test_a_doctest_value_written_by_hand_compares_as_a_value():
    found = examples("""\
        >>> circular_shift(12, 1)
        "21"
        >>> odd_count(['3'])
        ["the 1nput."]
        >>> f()
        '21'
        >>> print("x")
        "x"
        >>> g()
        6.00
        """)
    assert found == [Example("assert circular_shift(12, 1) == '21'", None),
                     Example("assert odd_count(['3']) == ['the 1nput.']", None),
                     Example("f()", "'21'"), Example('print("x")', '"x"'), Example("g()", "6.00")]


# -- point 6 of issue 19: bounded work, clean failure, assert-like lines -------------------


def test_a_huge_assert_line_is_no_example_and_no_error():
    assert extract_examples("assert " + "-" * 200000 + "1") == []
    assert extract_examples("assert " + "-" * 3000 + "1") == []  # under the bound: RecursionError
    assert extract_examples("f(1) ==> " + "[" * 100000) == []
    assert extract_examples(("g(1) == " + "(" * 900 + "1" + ")" * 900 + "\n") * 50) == []


def test_megabytes_of_example_like_text_are_read_in_bounded_time():
    import time

    texts = [("f(1, 2) == g(3) => h(4) -> [" + "1, " * 200 + "\n") * 3000,
             ("assert f(" + "[1, " * 100 + "\n") * 5000,
             (">>> f(" + "[1, " * 100 + "\nx\n") * 5000,
             "def f(x):\n" + ("Input: " + "[1, " * 300 + "\nOutput: 3\n") * 3000]
    for text in texts:
        started = time.perf_counter()
        extract_examples(text)
        assert time.perf_counter() - started < 5, text[:40]  # ~1 s each on a shared 2-core machine


def test_an_assert_like_line_that_does_not_parse_ends_the_doctest_output():
    assert examples(">>> f(2)\n4\nassert list_sort(['aa']) => ['aa']\n") == [Example("f(2)", "4")]


def test_a_failure_inside_extraction_becomes_a_could_not_verify_line(monkeypatch):
    from qwen_magic.checked import check_and_repair
    from qwen_magic.checking import examples as module
    from qwen_magic.result import GenerationResult

    def broken(request: str) -> list[Example]:
        raise RecursionError("deep")

    monkeypatch.setattr(module, "_extract", broken)
    found = extract_examples(">>> f(2)\n4\n")
    assert found == [] and found.unreadable == "the request's examples could not be read (RecursionError)"
    first = GenerationResult(text="def f(x):\n    return 2 * x\n", finish_reason="stop")
    result = check_and_repair(first, [], found, lambda m, c: first)
    assert result.check.line() == ("could not verify: the request's examples could not be read "
                                   "(RecursionError)")


# -- examples come from the request as written, before {variable} interpolation ---------------


def test_examples_are_read_before_interpolation():
    from qwen_magic.prompting import written_examples

    namespace = {"doc": ">>> import os\n>>> os.remove('x')\n", "n": 3}
    found = written_examples("Summarize {doc}\n>>> add(2, 3)\n5\n>>> g({n})\n4\n", namespace)
    assert found == [Example("add(2, 3)", "5")]  # not the variable's, nor one that uses it
    assert written_examples(">>> f({{n}})\n{1}\n", namespace) == [Example("f({n})", "{1}")]
    assert written_examples(">>> f({{n}})\n1\n", namespace, literal=True) == [
        Example("f({{n}})", "1")]  # %qwen fix: the text as it is


def test_a_check_cell_does_not_run_the_examples_in_a_variable(shell):
    """%%qwen --check with a FAKE provider: the variable's >>> lines reach the model only."""
    from tests.fakes import AnswersProvider

    shell.user_ns["doc"] = ">>> add(1, 1)\n3\n"
    shell.fake_provider = AnswersProvider(["```python\ndef add(a, b):\n    return a + b\n```"])
    assert shell.run_cell("%%qwen --check\nWrite add. Notes: {doc}\n>>> add(2, 3)\n5\n",
                          store_history=True).success
    asked = shell.fake_provider.requests[0].messages[-1]["content"]
    assert ">>> add(1, 1)" in asked
    assert shell.user_ns["_qwen"].check.line().startswith("checked: 1/1 examples pass · ")
