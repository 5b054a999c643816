"""A format string given fewer values than its fields (or a name it lacks): an error waiting,
found from the cell's text, in the top-level statements that surely run.

``"{0} + {1} = {2}".format(a, b)`` raises IndexError, ``"{name}".format(nom=n)`` KeyError,
``"%s of %s" % (count,)`` TypeError — whenever the line runs, whatever the values are. Only
literal format strings are judged, with their values written out (no ``*args``/``**kw``, no
nested ``{:{width}}`` fields, no ``%(name)s`` or ``*`` widths): anything else is not known.
Plain functions on Python source, as :mod:`.cell_edits`; nothing here runs the cell.
"""

from __future__ import annotations

import ast
import re
import string

from .cell_edits import SIMPLE_STATEMENTS, surely_run

# A %-conversion: flags, width, precision, length, type; "%%" is a literal percent sign.
_PERCENT = re.compile(r"%[-#0 +]*(\*|\d+)?(?:\.(\*|\d*))?[hlL]?([diouxXeEfFgGcrsab%])")


def format_mismatch(python_source: str) -> str | None:
    """The first format call in ``python_source`` whose values cannot fill its literal
    format string, with the error it raises, in one line; None when there is none or the
    source does not parse."""
    try:
        tree = ast.parse(python_source)
    except (SyntaxError, ValueError, RecursionError):
        return None
    for statement in tree.body:
        if not isinstance(statement, SIMPLE_STATEMENTS):
            continue  # inside a branch, loop, try or function it may never run
        for node in surely_run(statement):
            problem = _method_mismatch(node) or _percent_mismatch(node)
            if problem:
                return f"it calls `{_short(ast.unparse(node))}`, {problem}"
    return None


def _method_mismatch(node: ast.AST) -> str | None:
    """``"…".format(…)`` with a positional field past its arguments or a name not given."""
    if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
            and node.func.attr == "format" and isinstance(node.func.value, ast.Constant)
            and isinstance(node.func.value.value, str)):
        return None
    if any(isinstance(arg, ast.Starred) for arg in node.args) \
            or any(keyword.arg is None for keyword in node.keywords):
        return None
    try:
        fields = [(name, spec) for _, name, spec, _ in string.Formatter().parse(
            node.func.value.value) if name is not None]
    except ValueError:  # a stray brace: ValueError when it runs, said by the model's check
        return None
    if any("{" in (spec or "") for _, spec in fields):
        return None  # nested fields: too clever to judge here
    roots = [re.split(r"[.\[]", name, maxsplit=1)[0] for name, _ in fields]
    # Python numbers a field only by ASCII digits ("{²}" is a keyword).
    numeric = [root == "" or (root.isascii() and root.isdigit()) for root in roots]
    if "" in roots and any(root for root, number in zip(roots, numeric) if number):
        return None  # ValueError: mixing {} and {0}, a different mistake
    indexes = [position if root == "" else int(root) for position, root in
               enumerate(root for root, number in zip(roots, numeric) if number)]
    named = [root for root, number in zip(roots, numeric) if not number]
    given = len(node.args)
    beyond = next((index for index in indexes if index >= given), None)
    if beyond is not None:
        return (f"whose string reads positional argument {beyond} (counting from 0), but it "
                f"gets {_count(given, 'argument')}: IndexError: Replacement index {beyond} out "
                "of range")
    keywords = {keyword.arg for keyword in node.keywords}
    absent = next((name for name in named if name not in keywords), None)
    if absent:
        return f"whose string has a field {{{absent}}} that no argument gives: KeyError: {absent!r}"
    return None


def _percent_mismatch(node: ast.AST) -> str | None:
    """``"…" % (…)`` with a different number of values than the string's conversions."""
    if not (isinstance(node, ast.BinOp) and isinstance(node.op, ast.Mod)
            and isinstance(node.left, ast.Constant) and isinstance(node.left.value, str)):
        return None
    text = node.left.value
    if "%(" in text:
        return None  # by name, from a mapping
    conversions = [match for match in _PERCENT.finditer(text) if match.group(3) != "%"]
    if any(match.group(1) == "*" or match.group(2) == "*" for match in conversions):
        return None  # widths taken from the values
    if isinstance(node.right, ast.Tuple):
        if any(isinstance(element, ast.Starred) for element in node.right.elts):
            return None
        given = len(node.right.elts)
    elif isinstance(node.right, ast.Constant) and not isinstance(node.right.value, bytes):
        given = 1  # (bytes on the right is taken as a mapping, as a dict would be)
    else:
        return None  # a name may hold a tuple of any length
    wanted = len(conversions)
    if wanted > given:
        return (f"whose string has {_count(wanted, 'conversion')} for "
                f"{_count(given, 'value')}: TypeError: not enough arguments for format string")
    if wanted < given:
        return (f"whose string has {_count(wanted, 'conversion')} for "
                f"{_count(given, 'value')}: TypeError: not all arguments converted during string "
                "formatting")
    return None


def _count(number: int, noun: str) -> str:
    return f"{number} {noun}{'s' * (number != 1)}"


def _short(text: str, limit: int = 60) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


__all__ = ["format_mismatch"]
