"""Examples written as prose rather than as doctest or ``assert``, turned into asserts.

Docstrings and problem statements often show an example as a call, a separator, a value::

    f(x) ==> y    f(x) ➞ y    f(x) => y    f(x) -> y    f(x) → y    f(x) == y
    f(x) = y      f(x) returns y      f(x) should return y      f(x)  # => y

(one to a line, perhaps after a bullet, ``For example:`` or ``for``, continued over a few
lines while brackets are open), or as blocks naming the parameters::

    Input: nums = [2, 7, 11, 15], target = 9          For s = "abcde", c = "ae", the
    Output: [0, 1]                                    result should be ('bcd', False)

Each becomes ``assert f(x) == y``, the form the child runs and explains (it shows the left
side's value when one fails). Both sides are parsed with ``ast``; nothing is evaluated here.

A wrong example makes correct code fail, a missed one only leaves it unchecked, so what is
not plainly an example is skipped, not guessed:

* the call's arguments and the value are literals — numbers, strings, lists, tuples, dicts,
  sets, ``True``/``False``/``None`` (JSON's ``true``/``false``/``null`` read as Python's). A
  name (``is_happy(a)``), arithmetic (``-> 19 - 5 - 6 = 8``), a type (``pop() -> Any``) or a
  second arrow (``f(69) ➞ 3, 23 ➞ 0``) is prose;
* when the request defines functions (``def``), the call must name one of them (an example
  calling another name is about something else, or misnamed);
* a function the request defines by a formula (``tri(n) = 1 + n / 2``, ``h(i) = h(i-1) * 33``)
  has no ``=`` examples: its ``=`` lines are mathematics;
* the lines of a pasted function's code are not examples;
* an Input/Output block needs the request to define exactly one function (a method is
  called as ``Class().method(...)``); its input is ``name = value`` pairs naming that
  function's parameters, or as many values as it has parameters. A function that works in
  place (``-> None``, ``:rtype: void``, "in-place") has no such examples: its "output" is
  its argument, not what it returns.
"""

from __future__ import annotations

import ast
import re
import textwrap
from collections.abc import Collection, Iterator
from dataclasses import dataclass

MAX_CHARS = 4000  # one example's text; longer is not an example, and parsing it costs
PARSE_BUDGET = 500_000  # characters read for one request (< 0.5 s at worst): then no more
_MAX_LINES = 8  # lines one example may span while its brackets are open
_MAX_SPLITS = 12  # separator positions tried on one line

# Longest first, so that "==>" is not read as "==" and ">".
_SEPARATORS = ("should return", "returns", "==>", "➞", "→", "=>", "->", "==", "=")
_SEPARATOR = re.compile("|".join(rf"\b{s}\b" if s[0].isalpha() else re.escape(s) for s in _SEPARATORS))
_LEAD_IN = re.compile(r"^(?:[*•-]\s+)?(?:(?:for\s+)?(?:examples?|e\.g\.|i\.e\.)(?!\w)\s*[:,]?\s*|for\s+)?",
                      re.IGNORECASE)
_DOCSTRING_QUOTES = re.compile(r"^\s*[rRuU]?(?:\"\"\"|\'\'\')|(?:\"\"\"|\'\'\')\s*$")
_CALL_START = re.compile(r"^(?:\w+\(\)\.)?[A-Za-z_]\w*\s*\(")
_DEF = re.compile(r"^\s*(?:async\s+)?def\s+(\w+)\s*\(", re.MULTILINE)
_CLASS = re.compile(r"^(\s*)class\s+(\w+)")
_INPUT = re.compile(r"^\s*(?:[*•-]\s*)?Input\s*:\s*(.*)$")
_OUTPUT = re.compile(r"^\s*(?:[*•-]\s*)?Output\s*:\s*(.*)$")
_FOR_OUTPUT = re.compile(r"^\s*(?:[*•-]\s*)?For\s+(.+?),?\s+the\s+(?:output|result)\s+should\s+be\s+(.+)$",
                         re.IGNORECASE)
_IN_PLACE = re.compile(r"in[- ]place|:rtype:\s*(?:void|None)\b", re.IGNORECASE)
_JSON_NAMES = {"true": True, "false": False, "null": None, "none": None}


@dataclass(frozen=True)
class Written:
    """An example found in prose: its assert, and the lines it takes up."""

    first: int
    last: int
    source: str  # "assert f(x) == y"


@dataclass(frozen=True)
class Target:
    """The one function a request's Input/Output blocks are about."""

    call: str  # "f" or "Solution().f"
    params: tuple[str, ...]
    in_place: bool


class Budget:
    """What is left to read of one request, so that no text, however long or strange, makes
    finding its examples slow: each piece is bounded (``MAX_CHARS``), and so is their sum.
    Once it is spent, no more examples are looked for."""

    def __init__(self, chars: int = PARSE_BUDGET) -> None:
        self.chars = chars

    @property
    def spent(self) -> bool:
        return self.chars <= 0

    def spend(self, text: str) -> bool:
        """Whether ``text`` may be read (and if so, count it)."""
        if len(text) > min(MAX_CHARS, self.chars):
            return False
        self.chars -= max(len(text), 1)
        return True

    def parse(self, text: str) -> ast.expr | None:
        """The expression ``text`` writes; None if it is not one, or too long to read."""
        if not text or not self.spend(text):
            return None
        try:
            return ast.parse(text, mode="eval").body
        except (SyntaxError, ValueError, MemoryError, RecursionError):
            return None


def find_written(lines: list[str], code: Collection[int], budget: Budget | None = None
                 ) -> list[Written]:
    """Every prose example in ``lines``, except on the ``code`` lines (a pasted def's body)."""
    budget = budget or Budget()
    text = "\n".join(lines)
    defined = set(_DEF.findall(text))
    classes = {match.group(2) for line in lines if (match := _CLASS.match(line))}
    found: list[Written] = []
    formulas: set[str] = set()  # functions the text defines by "f(n) = ..."
    equals: list[tuple[str, Written]] = []  # the "=" examples, kept unless a formula
    skip_to = -1
    for number, line in enumerate(lines):
        if budget.spent:
            break
        if number <= skip_to or number in code or len(line) > MAX_CHARS:
            continue
        # A bullet, "For example:", backticks and a docstring's closing quotes are not the
        # example's.
        start = _LEAD_IN.sub("", _unquoted(line).strip().strip("`").strip(), count=1)
        if not _CALL_START.match(start):
            continue
        for last, candidate in _continued(lines, number, start, code):
            split = _split(candidate, defined, classes, budget)
            if split is None:
                continue  # no separator after a call yet: perhaps on the next line
            name, separator, source = split
            if source == _FORMULA:
                if separator == "=":
                    formulas.add(name)
            elif source is not None:
                example = Written(number, last, source)
                if separator == "=":
                    equals.append((name, example))
                else:
                    found.append(example)
                skip_to = last
            elif _opens_more_than_it_closes(candidate):
                continue  # the value goes on to the next line
            break
    found += [example for name, example in equals if name not in formulas]
    found += _input_output(lines, code, text, budget)
    found.sort(key=lambda example: example.first)
    return found


def _unquoted(line: str) -> str:
    """``line`` without a docstring's opening or closing quotes."""
    return _DOCSTRING_QUOTES.sub("", line)


def _continued(lines: list[str], first: int, start: str, code: Collection[int]
               ) -> Iterator[tuple[int, str]]:
    """``start``, then with the next lines joined on while its brackets stay open."""
    candidate = start
    yield first, candidate
    for last in range(first + 1, min(first + _MAX_LINES, len(lines))):
        if not _opens_more_than_it_closes(candidate):
            return
        following = lines[last].strip()
        if not following or last in code:
            return
        candidate += " " + following
        if len(candidate) > MAX_CHARS:
            return
        yield last, candidate


def _opens_more_than_it_closes(text: str) -> bool:
    # A rough count (brackets inside strings count too): it only decides whether to try
    # one more line, and each try must still parse.
    return sum(text.count(c) for c in "([{") > sum(text.count(c) for c in ")]}")


_FORMULA = "(formula)"  # what _split says of `f(n) = …`, `pop() -> Any`, `f(3) = f(2) + 1`


def _split(candidate: str, defined: set[str], classes: set[str], budget: Budget
           ) -> tuple[str, str, str | None] | None:
    """``(function, separator, assert)`` when ``candidate`` is ``call SEP value``.

    The assert is ``_FORMULA`` when the call is not an example's (its arguments are not
    literals, or its value uses the function itself), None when the value is not a literal
    (not yet, or prose); then no later separator is tried. None for the whole when no
    separator follows a call to a known function.
    """
    if not budget.spend(candidate):
        return None
    for tries, match in enumerate(_SEPARATOR.finditer(candidate)):
        if tries >= _MAX_SPLITS:
            return None
        separator = match.group(0)
        if separator == "=" and _part_of_operator(candidate, match.start()):
            continue
        left = candidate[: match.start()].rstrip().removesuffix("#").rstrip()
        if not left.endswith(")"):
            continue  # not after a call: inside its arguments, or prose
        call = budget.parse(left)
        if not isinstance(call, ast.Call):
            continue
        name = _callee(call, defined, classes)
        if name is None:
            return None
        if not _literal_arguments(call):
            return name, separator, _FORMULA
        if separator == "->" and not (call.args or call.keywords):
            return name, separator, _FORMULA  # `pop() -> Any`: a signature, not an example
        right = candidate[match.end():].strip()
        if separator == "=" and re.search(rf"\b{re.escape(name)}\s*\(", right):
            return name, separator, _FORMULA  # a recurrence
        value = _value(right, budget)
        if value is None:
            return name, separator, None
        return name, separator, _assert(call, value)
    return None


def _part_of_operator(text: str, at: int) -> bool:
    """Whether the "=" at ``at`` is part of ==, <=, >=, != or =>."""
    before, after = text[at - 1: at], text[at + 1: at + 2]
    return before in ("=", "<", ">", "!") or after in ("=", ">")


def _callee(call: ast.Call, defined: set[str], classes: set[str]) -> str | None:
    """The function a call names, if it may be an example's: a known function when the
    request defines any, ``Class().method`` for a class it defines."""
    func = call.func
    if isinstance(func, ast.Name):
        return func.id if not defined or func.id in defined else None
    if (isinstance(func, ast.Attribute) and isinstance(func.value, ast.Call)
            and isinstance(func.value.func, ast.Name) and not func.value.args
            and not func.value.keywords and func.value.func.id in classes
            and func.attr in defined):
        return func.attr
    return None


def _literal_arguments(call: ast.Call) -> bool:
    return (all(_is_literal(arg) for arg in call.args)
            and all(k.arg is not None and _is_literal(k.value) for k in call.keywords))


def _is_literal(node: ast.expr) -> bool:
    """A value written out: what ``ast.literal_eval`` reads, and JSON's true/false/null."""
    if isinstance(node, ast.Constant):
        return True
    if isinstance(node, ast.Name):
        return node.id in _JSON_NAMES
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
        operand = node.operand
        return isinstance(operand, ast.Constant) and isinstance(operand.value, (int, float, complex))
    if isinstance(node, (ast.List, ast.Tuple, ast.Set)):
        return all(_is_literal(element) for element in node.elts)
    if isinstance(node, ast.Dict):
        return all(key is not None and _is_literal(key) for key in node.keys) and all(
            _is_literal(value) for value in node.values)
    return False


class _JsonNames(ast.NodeTransformer):
    """true/false/null → True/False/None (only literals reach here, so no name is lost)."""

    def visit_Name(self, node: ast.Name) -> ast.AST:
        if node.id in _JSON_NAMES:
            return ast.copy_location(ast.Constant(_JSON_NAMES[node.id]), node)
        return node


def _value(text: str, budget: Budget) -> ast.expr | None:
    """The literal ``text`` writes (a sentence's final period allowed), else None."""
    # A sentence's final period ends the sentence: `… should return 16.` means 16, not 16.0.
    for candidate in dict.fromkeys((text.removesuffix("."), text)):
        node = budget.parse(candidate)
        if node is not None and _is_literal(node):
            return node
    return None


def _assert(call: ast.Call, value: ast.expr) -> str | None:
    compare = ast.Compare(left=call, ops=[ast.Eq()], comparators=[value])
    try:
        return "assert " + ast.unparse(ast.fix_missing_locations(_JsonNames().visit(compare)))
    except (ValueError, RecursionError, MemoryError):
        return None


# -- Input/Output blocks ---------------------------------------------------------------------


def _input_output(lines: list[str], code: Collection[int], text: str, budget: Budget
                  ) -> list[Written]:
    """``Input: …`` / ``Output: …`` pairs and "For x = …, the output should be …" lines."""
    target = _target(lines, text)
    if target is None or target.in_place:
        return []
    found = []
    number = 0
    while number < len(lines) and not budget.spent:
        line = _unquoted(lines[number])
        if number in code or len(line) > MAX_CHARS:
            number += 1
            continue
        sentence = _FOR_OUTPUT.match(line)
        if sentence:
            source = _block_assert(target, sentence.group(1), sentence.group(2).strip(), budget)
            if source:
                found.append(Written(number, number, source))
            number += 1
            continue
        start = _INPUT.match(line)
        if not start:
            number += 1
            continue
        given = [start.group(1)]
        for after in range(number + 1, min(number + 5, len(lines))):
            output = _OUTPUT.match(_unquoted(lines[after]))
            if output:
                source = _block_assert(target, " ".join(given), output.group(1).strip(), budget)
                if source:
                    found.append(Written(number, after, source))
                number = after
                break
            given.append(_unquoted(lines[after]).strip())
        number += 1
    return found


def _block_assert(target: Target, given: str, output: str, budget: Budget) -> str | None:
    """``assert f(…) == output`` for an input written as values or ``name = value`` pairs."""
    given = given.strip().rstrip(",")
    if not given or len(given) > MAX_CHARS:
        return None
    holder = budget.parse(f"_({given})")
    value = _value(output, budget)
    if not isinstance(holder, ast.Call) or value is None or not _literal_arguments(holder):
        return None
    if holder.keywords:
        if holder.args or any(k.arg not in target.params for k in holder.keywords):
            return None
    elif len(holder.args) != len(target.params):
        return None
    call = budget.parse(target.call + "()")
    if not isinstance(call, ast.Call):
        return None
    call.args, call.keywords = holder.args, holder.keywords
    return _assert(call, value)


def _target(lines: list[str], text: str) -> Target | None:
    """The request's one function (None if it defines none or several), as it is called."""
    defs = [number for number, line in enumerate(lines)
            if (match := _DEF.match(line)) and not match.group(1).startswith("__")]
    if len(defs) != 1:
        return None
    number = defs[0]
    signature = _signature(lines, number)
    if signature is None:
        return None
    params = [a.arg for a in signature.args.posonlyargs + signature.args.args]
    indent = len(lines[number]) - len(lines[number].lstrip())
    owner = next((m.group(2) for line in reversed(lines[:number])
                  if (m := _CLASS.match(line)) and len(m.group(1)) < indent), None)
    if owner is not None and params[:1] == ["self"]:
        params, call = params[1:], f"{owner}().{signature.name}"
    elif owner is None:
        call = signature.name
    else:
        return None  # a static or class method: not worth guessing
    returns_none = isinstance(signature.returns, ast.Constant) and signature.returns.value is None
    return Target(call, tuple(params), returns_none or bool(_IN_PLACE.search(text)))


def _signature(lines: list[str], first: int) -> ast.FunctionDef | None:
    """The def starting at line ``first`` (its signature may span lines), body left out."""
    for last in range(first, min(first + _MAX_LINES, len(lines))):
        header = textwrap.dedent("\n".join(lines[first: last + 1]))
        if len(header) > MAX_CHARS:
            return None
        try:
            tree = ast.parse(header + " pass")
        except (SyntaxError, ValueError, MemoryError, RecursionError):
            continue
        node = tree.body[0] if tree.body else None
        return node if isinstance(node, ast.FunctionDef) else None
    return None


__all__ = ["MAX_CHARS", "PARSE_BUDGET", "Budget", "Written", "find_written"]
