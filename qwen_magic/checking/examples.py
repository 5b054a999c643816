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
* Duplicates are dropped; the order is the order of appearance.
"""

from __future__ import annotations

import ast
import doctest
import re
import textwrap
from dataclasses import dataclass

_FENCE = re.compile(r"^\s*(```|~~~)")
_QUOTES_ONLY = re.compile(r"^\s*(\"\"\"|''')\s*$")
_ENDS_DOCSTRING = re.compile(r"(\"\"\"|''')\s*$")
_DEF = re.compile(r"^(\s*)(?:async\s+)?def\s+(\w+)\s*\(")
_ASSERT_START = re.compile(r"^`?assert\b")
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


def extract_examples(request: str) -> list[Example]:
    """Every doctest and assert example in ``request``, deduplicated, in order of appearance."""
    lines = request.expandtabs().splitlines()
    asserts, assert_lines = _find_asserts(lines)
    found = asserts + _find_doctests(lines, assert_lines)
    found.sort(key=lambda pair: pair[0])  # by line number
    seen: set[Example] = set()
    unique: list[Example] = []
    for _, example in found:
        if example not in seen:
            seen.add(example)
            unique.append(example)
    return unique


# -- asserts --------------------------------------------------------------------------------


def _find_asserts(lines: list[str]) -> tuple[list[tuple[int, Example]], set[int]]:
    """The assert examples with their first line numbers, and every line they take up."""
    examples: list[tuple[int, Example]] = []
    taken: set[int] = set()
    defs: list[tuple[int, str]] = []  # the pasted defs whose body we are in: (indent, name)
    in_string: str | None = None  # the open triple quote, if a line starts inside one
    skip_to = -1  # lines consumed by a multi-line assert
    for number, line in enumerate(lines):
        starts_in_string = in_string is not None
        in_string = _after_triple_quotes(line, in_string)
        text = line.strip()
        if not text or number <= skip_to:
            continue
        if not starts_in_string:
            indent = len(line) - len(line.lstrip())
            while defs and indent <= defs[-1][0]:
                defs.pop()  # a line as far left as the def ends its body
            match = _DEF.match(line)
            if match:
                defs.append((len(match.group(1)), match.group(2)))
                continue
        if not _ASSERT_START.match(text):
            continue
        in_code = bool(defs) and not starts_in_string
        if in_code and not any(name.startswith("test") for _, name in defs):
            continue  # the function's own precondition, not an example
        statement, last = _parse_assert(lines, number)
        if statement is not None:
            examples.append((number, Example(statement, None)))
            taken.update(range(number, last + 1))
            skip_to = last
    return examples, taken


def _parse_assert(lines: list[str], first: int) -> tuple[str | None, int]:
    """The assert statement starting at ``first`` and its last line, or (None, first)."""
    text = lines[first].strip()
    if text.startswith("`"):  # `assert f(2) == 4` in a prose line
        text = text.strip("`").strip()
        return (text, first) if _is_one_assert(text) else (None, first)
    for last in range(first, min(first + _MAX_ASSERT_LINES, len(lines))):
        candidate = textwrap.dedent("\n".join(lines[first : last + 1])).strip()
        if _is_one_assert(candidate):
            return candidate, last
    return None, first


def _is_one_assert(text: str) -> bool:
    try:
        body = ast.parse(text).body
    except (SyntaxError, ValueError):
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


def _find_doctests(lines: list[str], taken: set[int]) -> list[tuple[int, Example]]:
    """Doctest examples, parsed by the stdlib in runs of lines that no boundary splits."""
    found: list[tuple[int, Example]] = []
    run: list[str] = []
    start = 0

    def flush() -> None:
        if run:
            found.extend((start + n, example) for n, example in _parse_doctests(run))
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


def _parse_doctests(run: list[str]) -> list[tuple[int, Example]]:
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
    return [(ex.lineno, Example(ex.source.rstrip("\n"), ex.want.removesuffix("\n")))
            for ex in parsed]


__all__ = ["Example", "extract_examples"]
