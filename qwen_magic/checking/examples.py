"""The examples a request shows — doctest lines and ``assert`` lines — found in its text.

``--check`` runs the generated code against them (sandbox.py). A request mixes prose, pasted
code and examples freely, so the rules are few and simple:

* **Doctests**: the standard library's ``doctest.DocTestParser`` finds ``>>>`` lines, their
  ``...`` continuations and the expected output below them, at any indentation (a pasted
  docstring) and inside ``` fences. As in doctest, the expected output runs to the next blank
  line or ``>>>`` line; a fence line, a line of only triple quotes, a line ending a docstring
  and an ``assert`` line taken as an example also end it, since they end a pasted block.
* **Asserts**: a line whose text starts with ``assert`` and which parses as one ``assert``
  statement (continued over up to five more lines while brackets are open; a line wrapped in
  backticks counts too), at any indentation — except in the code of a pasted ``def`` body,
  where it is the function's own check of its arguments, not an example. Asserts in that
  def's docstring, or in the body of a ``test_…`` function, are examples.
* **Written examples** (written.py): ``f(x) ==> y``, ``f(x) ➞ y``, ``f(x) => y``,
  ``f(x) -> y``, ``f(x) == y``, ``f(x) = y``, ``f(x) returns y``, ``f(x) should return y`` and
  ``Input: … / Output: …`` blocks, each turned into ``assert f(x) == y`` when both sides are
  plainly literals; prose that is not plainly an example is skipped. Their lines, and any
  line that starts with ``assert``, end a doctest's expected output.
* A doctest the child would fail on correct code is run as the assert it means:
  ``>>> f(x) == y`` with no output, and an output written as a value but not as Python
  prints it (``"21"`` for ``'21'``, ``[1,2]`` for ``[1, 2]``).
* Duplicates are dropped; the order is the order of appearance.

Nothing here runs the request's text: it is only parsed, each piece bounded and their sum
too (``written.Budget``: a request of megabytes is read so far, then no more examples are
looked for), so a huge or hostile request costs little. Should finding the examples fail
all the same, :func:`extract_examples` returns none, saying why (``Examples.unreadable``),
rather than raising into the cell.
"""

from __future__ import annotations

import ast
import doctest
import re
import textwrap
from collections.abc import Iterable
from dataclasses import dataclass

from .written import Budget, find_written

_FENCE = re.compile(r"^\s*(```|~~~)")
_QUOTES_ONLY = re.compile(r"^\s*(\"\"\"|''')\s*$")
_ENDS_DOCSTRING = re.compile(r"(\"\"\"|''')\s*$")
_DEF = re.compile(r"^(\s*)(?:async\s+)?def\s+(\w+)\s*\(")
_ASSERT_START = re.compile(r"^`?assert\b")
_OPENS_STRING = re.compile(r"^\s*[rRuUbBfF]?(\"\"\"|\'\'\')")
_PROMPT_NO_SPACE = re.compile(r"^(\s*>>>)(?=\S)")
_MAX_ASSERT_LINES = 6


@dataclass(frozen=True)
class Example:
    """One example: a doctest (``expected`` is its output) or an assert (``expected`` is None)."""

    source: str  # a doctest's source without prompts (several lines for "..."), or an assert
    expected: str | None  # doctest's expected output without its final newline ("" = prints nothing)

    def describe(self, width: int = 120) -> str:
        """One line for messages: ``>>> f(2)  →  4`` or ``assert f(2) == 4``."""
        lines = self.source.strip().splitlines() or [""]
        if self.expected is None:
            text = " ".join(line.strip() for line in lines)
        else:
            head = ">>> " + lines[0] + (" …" if len(lines) > 1 else "")
            want = self.expected.strip().replace("\n", "⏎") or "(no output)"
            text = f"{head}  →  {want}"
        return text if len(text) <= width else text[: width - 1] + "…"


class Examples(list[Example]):
    """The examples found in a request; ``unreadable`` says why none could be (else "")."""

    def __init__(self, found: Iterable[Example] = (), unreadable: str = "") -> None:
        super().__init__(found)
        self.unreadable = unreadable


def extract_examples(request: str) -> Examples:
    """Every example in ``request``, deduplicated, in order of appearance. Never raises."""
    try:
        return Examples(_extract(request))
    except Exception as exc:  # a bug or an input nobody foresaw: the check says so instead
        return Examples(unreadable=f"the request's examples could not be read ({type(exc).__name__})")


def _extract(request: str) -> list[Example]:
    lines = request.expandtabs().splitlines()
    code = _code_lines(lines)
    budget = Budget()  # what may be parsed in all: a huge request is read only so far
    asserts, assert_lines = _find_asserts(lines, code, budget)
    prose = [w for w in find_written(lines, set(code), budget)
             if not assert_lines.intersection(range(w.first, w.last + 1))]
    # An example's lines end a doctest's expected output, and so does a line that starts
    # like an assert even when it does not parse as one (else correct code would fail).
    boundaries = assert_lines | {n for w in prose for n in range(w.first, w.last + 1)} | {
        number for number, line in enumerate(lines) if _ASSERT_START.match(line.strip())}
    found = asserts + [(w.first, Example(w.source, None)) for w in prose]
    found += _find_doctests(lines, boundaries, budget)
    found.sort(key=lambda pair: pair[0])  # by line number
    seen: set[Example] = set()
    unique: list[Example] = []
    for _, example in found:
        if example not in seen:
            seen.add(example)
            unique.append(example)
    return unique


# -- where the code is ------------------------------------------------------------------------


def _code_lines(lines: list[str]) -> dict[int, tuple[str, ...]]:
    """The lines of a pasted def's code (not its docstring), with the defs they are in."""
    code: dict[int, tuple[str, ...]] = {}
    defs: list[tuple[int, str]] = []  # the pasted defs whose body we are in: (indent, name)
    in_string: str | None = None  # the open triple quote, if a line starts inside one
    for number, line in enumerate(lines):
        starts_in_string = in_string is not None
        in_string = _after_triple_quotes(line, in_string)
        if not line.strip() or starts_in_string or _OPENS_STRING.match(line):
            continue  # blank, or a docstring's text: not code
        indent = len(line) - len(line.lstrip())
        while defs and indent <= defs[-1][0]:
            defs.pop()  # a line as far left as the def ends its body
        match = _DEF.match(line)
        if match:
            defs.append((len(match.group(1)), match.group(2)))
        elif defs:
            code[number] = tuple(name for _, name in defs)
    return code


# -- asserts --------------------------------------------------------------------------------


def _find_asserts(lines: list[str], code: dict[int, tuple[str, ...]], budget: Budget
                  ) -> tuple[list[tuple[int, Example]], set[int]]:
    """The assert examples with their first line numbers, and every line they take up."""
    examples: list[tuple[int, Example]] = []
    taken: set[int] = set()
    skip_to = -1  # lines consumed by a multi-line assert
    for number, line in enumerate(lines):
        if number <= skip_to or not _ASSERT_START.match(line.strip()):
            continue
        if number in code and not any(name.startswith("test") for name in code[number]):
            continue  # the function's own precondition, not an example
        if budget.spent:
            break
        statement, last = _parse_assert(lines, number, budget)
        if statement is not None:
            examples.append((number, Example(statement, None)))
            taken.update(range(number, last + 1))
            skip_to = last
    return examples, taken


def _parse_assert(lines: list[str], first: int, budget: Budget) -> tuple[str | None, int]:
    """The assert statement starting at ``first`` and its last line, or (None, first)."""
    text = lines[first].strip()
    if text.startswith("`"):  # `assert f(2) == 4` in a prose line
        text = text.strip("`").strip()
        return (text, first) if _is_one_assert(text, budget) else (None, first)
    for last in range(first, min(first + _MAX_ASSERT_LINES, len(lines))):
        joined = "\n".join(lines[first : last + 1])
        if not budget.spend(joined):
            break
        candidate = textwrap.dedent(joined).strip()
        if _is_one_assert(candidate, budget):
            return candidate, last
    return None, first


def _is_one_assert(text: str, budget: Budget) -> bool:
    # Bounded: `assert ------…1` is the parser's recursion, not an example.
    if not budget.spend(text):
        return False
    try:
        body = ast.parse(text).body
    except (SyntaxError, ValueError, MemoryError, RecursionError):
        return False
    return len(body) == 1 and isinstance(body[0], ast.Assert)


def _after_triple_quotes(line: str, open_quote: str | None) -> str | None:
    """Which triple quote is open after ``line`` (a rough scan: enough for pasted docstrings)."""
    position = 0
    while True:
        if open_quote is None:
            hits = [(line.find(q, position), q) for q in ('"""', "'''") if line.find(q, position) >= 0]
            if not hits:
                return None
            position, open_quote = min(hits)
        else:
            position = line.find(open_quote, position)
            if position < 0:
                return open_quote
            open_quote = None
        position += 3


# -- doctests -------------------------------------------------------------------------------


def _find_doctests(lines: list[str], taken: set[int], budget: Budget) -> list[tuple[int, Example]]:
    """Doctest examples, parsed by the stdlib in runs of lines that no boundary splits."""
    found: list[tuple[int, Example]] = []
    run: list[str] = []
    start = 0

    def flush() -> None:
        if run:
            found.extend((start + n, example) for n, example in _parse_doctests(run, budget))
            run.clear()

    for number, line in enumerate(lines):
        boundary = (not line.strip() or number in taken or _FENCE.match(line)
                    or _QUOTES_ONLY.match(line))
        if boundary:
            flush()
            start = number + 1
            continue
        if not run:
            start = number
        # `    4"""`: the expected output ends with the docstring (but `... """` closes a
        # string in a doctest's own source).
        ends_docstring = (_ENDS_DOCSTRING.search(line) is not None
                          and not line.lstrip().startswith((">>>", "...")))
        run.append(_PROMPT_NO_SPACE.sub(r"\1 ", _ENDS_DOCSTRING.sub("", line) if ends_docstring else line))
        if ends_docstring:
            flush()
            start = number + 1
    flush()
    return found


def _parse_doctests(run: list[str], budget: Budget) -> list[tuple[int, Example]]:
    parser = doctest.DocTestParser()
    text = "\n".join(run) + "\n"
    try:
        parsed = parser.get_examples(text)
    except ValueError:
        # doctest insists that an example's lines share one indentation; a request typed
        # by hand may not. Retry with the indentation gone, else give up on this run.
        try:
            parsed = parser.get_examples("\n".join(line.lstrip() for line in run) + "\n")
        except ValueError:
            return []
    return [(ex.lineno, _as_meant(ex.source.rstrip("\n"), ex.want.removesuffix("\n"), budget))
            for ex in parsed]


def _as_meant(source: str, want: str, budget: Budget) -> Example:
    """The doctest, or the assert it means where doctest would fail correct code."""
    if "\n" in source or "doctest:" in source or not budget.spend(source + want):
        return Example(source, want)
    try:
        expression = ast.parse(source, mode="eval").body
    except (SyntaxError, ValueError, MemoryError, RecursionError):
        return Example(source, want)  # a statement: doctest's own
    if not want:
        # `>>> f(x) == y` with nothing below prints True or False: an assert was meant.
        if (isinstance(expression, ast.Compare) and len(expression.ops) == 1
                and isinstance(expression.ops[0], ast.Eq)):
            return Example(f"assert {source}", None)
        # `>>> f(x) [1, 2]`: indexing a result by a tuple of literals is a missing arrow.
        if (isinstance(expression, ast.Subscript) and isinstance(expression.value, ast.Call)
                and isinstance(expression.slice, ast.Tuple) and len(expression.slice.elts) > 1):
            call = ast.get_source_segment(source, expression.value)
            shown = source[expression.value.end_col_offset or 0:].strip()
            if call and shown.startswith("[") and _is_value(shown):
                return Example(f"assert {call} == {shown}", None)
        return Example(source, want)
    callee = expression.func if isinstance(expression, ast.Call) else None
    printed = "print" in getattr(callee, "id", getattr(callee, "attr", ""))  # print, pprint.pprint
    printed = printed or "print" in source
    if printed or "..." in want or want.startswith("Traceback"):
        return Example(source, want)
    try:
        value = ast.literal_eval(want)
        shown = repr(value)
    except (SyntaxError, ValueError, TypeError, MemoryError, RecursionError):
        return Example(source, want)  # output, not a value
    if shown == want.strip() or isinstance(value, (int, float, complex, bool)) or value is None:
        return Example(source, want)
    # A value written by hand ("21" for '21'): compare values, as the writer meant.
    return Example(f"assert {source} == {shown}", None)


def _is_value(text: str) -> bool:
    try:
        ast.literal_eval(text)
    except (SyntaxError, ValueError, TypeError, MemoryError, RecursionError):
        return False
    return True


__all__ = ["Example", "extract_examples"]
