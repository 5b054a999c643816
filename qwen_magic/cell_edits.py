"""How a corrected cell relates to the failed one: does it parse, is it only a repeat, how
many lines did it change. Plain functions on text, for ``%qwen fix`` and the bench's ``fix``
section.

``syntax_problem`` and ``only_repeats`` take Python source: IPython's input transformer has
already turned ``%magic`` and ``!cmd`` lines into calls, so they count as valid
(``notebook/cell_python.py`` applies it). ``lines_changed`` takes the cells as the user sees
them.
"""

from __future__ import annotations

import ast
import difflib
import textwrap
from collections.abc import Collection

# Top-level `await` is valid in a notebook cell (IPython's autoawait).
_CELL_FLAGS = ast.PyCF_ALLOW_TOP_LEVEL_AWAIT


def syntax_problem(python_source: str) -> str | None:
    """None when the cell compiles, else its error in one line: "invalid syntax (line 2)".

    Compiled, never run: compiling also finds what parsing alone accepts (``return`` outside
    a function, ``nonlocal`` at the top level)."""
    try:
        compile(python_source, "<cell>", "exec", flags=_CELL_FLAGS, dont_inherit=True)
    except SyntaxError as exc:  # IndentationError and TabError too
        where = f" (line {exc.lineno})" if exc.lineno else ""
        return f"{type(exc).__name__}: {exc.msg}{where}"
    except ValueError as exc:  # a null byte, before Python 3.11.4
        return f"ValueError: {exc}"
    return None


def only_repeats(failed_python: str, fixed_python: str) -> bool:
    """Whether the "fix" is the failed cell again: the same text up to blank lines, trailing
    spaces and common indentation, or — when both parse — the same code up to comments and layout
    (the same syntax tree)."""
    if _normalized_text(failed_python) == _normalized_text(fixed_python):
        return True
    failed_tree, fixed_tree = _tree(failed_python), _tree(fixed_python)
    return failed_tree is not None and failed_tree == fixed_tree


def lines_changed(failed_cell: str, fixed_cell: str) -> int:
    """Lines changed from the failed cell to the fixed one (difflib's line diff): a replaced
    block counts its longer side, an inserted or deleted line counts one. Trailing spaces
    and blank lines at the end are ignored; a blank line added or removed inside counts."""
    before, after = _lines(failed_cell), _lines(fixed_cell)
    matcher = difflib.SequenceMatcher(None, before, after, autojunk=False)
    return sum(max(i2 - i1, j2 - j1)
               for tag, i1, i2, j1, j2 in matcher.get_opcodes() if tag != "equal")


def likeness(failed_cell: str, fixed_cell: str) -> float:
    """How much of the failed cell's lines the fixed one keeps, 0 to 1 (difflib's ratio)."""
    return difflib.SequenceMatcher(None, _lines(failed_cell), _lines(fixed_cell),
                                   autojunk=False).ratio()


def _lines(cell: str) -> list[str]:
    lines = [line.rstrip() for line in cell.splitlines()]
    while lines and not lines[-1]:
        lines.pop()
    return lines


def _normalized_text(source: str) -> str:
    lines = [line.rstrip() for line in textwrap.dedent(source.expandtabs()).splitlines()]
    return "\n".join(line for line in lines if line)


def _tree(source: str) -> str | None:
    try:
        return ast.dump(ast.parse(source))  # no positions: comments and layout do not count
    except (SyntaxError, ValueError):
        return None


__all__ = ["SIMPLE_STATEMENTS", "called_module", "fails_the_same_way", "hides_failure",
           "likeness", "lines_changed", "missing_again", "only_repeats", "replaced_values",
           "surely_run", "syntax_problem", "unrun_user_line"]


def fails_the_same_way(failed_python: str, fixed_python: str, raised_at: int) -> bool:
    """Whether the fixed cell must fail as the failed one did, without running either: the
    top-level statement that was running at line ``raised_at`` when it raised, and every
    statement before it, are the same code (comments and layout aside). Python runs a cell's
    statements in order, so with nothing changed before the error the same line raises again.

    A change after that line cannot be reached; a change inside the failing statement (a
    loop's body, say) or before it might fix it, and is left to the model and ``--check``.
    """
    try:
        failed, fixed = ast.parse(failed_python), ast.parse(fixed_python)
    except (SyntaxError, ValueError):
        return False
    index = _top_statement_at(failed, raised_at)
    if index is None:  # the line is no statement of the cell's (a stale or foreign number)
        return False
    return len(fixed.body) > index and all(
        ast.dump(old) == ast.dump(new) for old, new in zip(failed.body[: index + 1], fixed.body))


def missing_again(failed_python: str, fixed_python: str, raised_at: int,
                  attribute: str) -> str | None:
    """The expression (as the fixed cell writes it) whose ``.attribute`` the fixed cell still
    reads, when the failed cell's raising statement read it from the same expression and the
    AttributeError said it has none — or None.

    "The same": the same code, and every name in it bound by the same statements in both
    cells (or by neither: the kernel's). So ``inventory.has_key(k)`` kept beside an unchanged
    ``inventory`` fails again, while ``datetime.strptime`` after ``import datetime`` became
    ``from datetime import datetime`` may not, and is left to the model and ``--check``.
    """
    try:
        failed, fixed = ast.parse(failed_python), ast.parse(fixed_python)
    except (SyntaxError, ValueError):
        return None
    index = _top_statement_at(failed, raised_at)
    if index is None:
        return None
    receivers = {ast.dump(node.value) for node in ast.walk(failed.body[index])
                 if isinstance(node, ast.Attribute) and node.attr == attribute}
    for node in ast.walk(fixed):
        if isinstance(node, ast.Attribute) and node.attr == attribute \
                and ast.dump(node.value) in receivers and all(
                    _bindings(failed, name, raised_at) == _bindings(fixed, name, node.lineno)
                    for name in _names_in(node.value)):
            return ast.unparse(node.value)
    return None


def replaced_values(failed_python: str, fixed_python: str,
                    notebook_names: Collection[str]) -> tuple[str, ...]:
    """The notebook variables (``notebook_names``: those the failed cell reads from the
    kernel) that the fixed cell sets afresh where the failed cell did not: a top-level
    assignment whose value does not read the name (``df = pd.DataFrame({...})``, ``count = 3``;
    not ``df = df.reset_index()``).

    A small model shown what the variables hold often writes them into its corrected cell:
    the cell then runs on its copy, or on data it made up, instead of the user's — and would
    overwrite the user's variable when run.
    """
    try:
        failed, fixed = ast.parse(failed_python), ast.parse(fixed_python)
    except (SyntaxError, ValueError):
        return ()

    def set_afresh(tree: ast.Module) -> set[str]:
        found = set()
        for statement in tree.body:
            if isinstance(statement, (ast.Assign, ast.AnnAssign)) and statement.value:
                targets = (statement.targets if isinstance(statement, ast.Assign)
                           else [statement.target])
                read = _names_in(statement.value)
                found |= {name for target in targets for name in _names_bound_whole(target)
                          if name in notebook_names and name not in read}
        return found

    replaced = set_afresh(fixed) - set_afresh(failed)
    return tuple(name for name in notebook_names if name in replaced)


def called_module(python_source: str) -> str | None:
    """The first call of a module as if it were a function — ``datetime(2024, 3, 15)`` after
    ``import datetime``, ``pprint(x)`` after ``import pprint`` — as written; or None.

    A TypeError waiting ("'module' object is not callable"), found from the text: the name's
    last binding before the top-level statement that calls it is a plain ``import`` (of the
    cell's own; a statement that also rebinds the name, or a call inside a function, which
    runs later, is not judged)."""
    try:
        tree = ast.parse(python_source)
    except (SyntaxError, ValueError):
        return None
    modules: set[str] = set()  # names that hold a module here
    for top in tree.body:
        bound = {name for statement in ast.walk(top) if isinstance(statement, ast.stmt)
                 for name in _bound_by(statement)}
        for node in _outside_functions(top):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) \
                    and node.func.id in modules and node.func.id not in bound:
                return ast.unparse(node)
        # `import os.path` binds `os`, a module too; any other binding may not be one.
        modules = modules | bound if isinstance(top, ast.Import) else modules - bound
    return None


def _outside_functions(node: ast.AST) -> list[ast.AST]:
    """``node`` and what it holds, but not the functions, lambdas and classes it defines
    (their bodies run later, or in a scope of their own)."""
    if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda, ast.ClassDef)):
        return []  # its decorators and defaults run now, but a module among them is rare
    found = [node]
    for child in ast.iter_child_nodes(node):
        found += _outside_functions(child)
    return found


#: Top-level statements that, once reached, run as a whole (no branch, loop, body or handler).
SIMPLE_STATEMENTS = (ast.Expr, ast.Assign, ast.AugAssign, ast.AnnAssign)


def surely_run(statement: ast.stmt) -> list[ast.AST]:
    """``statement`` and the parts of it that run whenever it does, outermost first: not the
    branches of ``a if c else b``, the operands of ``and``/``or`` after the first, the
    comparisons of a chain after the first (``a < b < c`` may stop early), the bodies of
    comprehensions and lambdas, nor an annotation (not evaluated under ``from __future__
    import annotations``). Iterative: a long expression is no recursion limit."""
    found: list[ast.AST] = []
    pending: list[ast.AST] = [statement]
    while pending:
        node = pending.pop()
        found.append(node)
        if isinstance(node, (ast.Lambda, ast.ListComp, ast.SetComp, ast.DictComp,
                             ast.GeneratorExp)):
            continue
        children: list[ast.AST]
        if isinstance(node, ast.IfExp):
            children = [node.test]
        elif isinstance(node, ast.BoolOp):
            children = list(node.values[:1])
        elif isinstance(node, ast.Compare):
            children = [node.left, *node.comparators[:1]]
        elif isinstance(node, ast.AnnAssign):
            children = [node.target, *([node.value] if node.value else [])]
        else:
            children = list(ast.iter_child_nodes(node))
        pending.extend(reversed(children))
    return found


def _names_bound_whole(target: ast.expr) -> set[str]:
    """The names an assignment target rebinds: ``a`` and ``b`` of ``a, *b``; none of
    ``df.columns`` or ``d["k"]``, which change the object the name holds."""
    if isinstance(target, ast.Name):
        return {target.id}
    if isinstance(target, ast.Starred):
        return _names_bound_whole(target.value)
    if isinstance(target, (ast.Tuple, ast.List)):
        return {name for element in target.elts for name in _names_bound_whole(element)}
    return set()


def _names_in(expression: ast.expr) -> set[str]:
    return {node.id for node in ast.walk(expression) if isinstance(node, ast.Name)}


def _top_statement_at(tree: ast.Module, line: int) -> int | None:
    """The index of the top-level statement whose lines hold ``line``, or None."""
    return next((index for index, statement in enumerate(tree.body)
                 if statement.lineno <= line <= (statement.end_lineno or statement.lineno)), None)


def _bindings(tree: ast.Module, name: str, line: int) -> list[str]:
    """The statements that bind ``name`` before the code at ``line`` reads it, as code: two
    cells bind it alike when these are the same. The top-level statements before ``line``'s,
    and the one holding it unless it is a plain assignment or expression (whose value is
    read before anything is bound: ``df = df.append(row)`` reads the old ``df``)."""
    index = _top_statement_at(tree, line)
    if index is None:
        return []
    holder = tree.body[index]
    simple = isinstance(holder, (ast.Assign, ast.AugAssign, ast.AnnAssign, ast.Expr))
    reached = tree.body[:index] if simple else tree.body[: index + 1]
    return [ast.dump(statement) for top in reached for statement in ast.walk(top)
            if isinstance(statement, ast.stmt) and name in _bound_by(statement)]


def _bound_by(statement: ast.stmt) -> set[str]:
    """The names an assignment, import, loop, ``with`` or definition binds."""
    if isinstance(statement, ast.AnnAssign) and statement.value is None:
        return set()  # `x: dict` only annotates: x stays what it was (the kernel's)
    if isinstance(statement, (ast.Import, ast.ImportFrom)):
        return {(alias.asname or alias.name).split(".")[0] for alias in statement.names}
    if isinstance(statement, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
        return {statement.name}
    targets: list[ast.AST] = list(getattr(statement, "targets", []))
    if getattr(statement, "target", None) is not None:
        targets.append(statement.target)  # type: ignore[attr-defined]
    if isinstance(statement, (ast.With, ast.AsyncWith)):
        targets += [item.optional_vars for item in statement.items if item.optional_vars]
    return {node.id for target in targets for node in ast.walk(target)
            if isinstance(node, ast.Name)}


def hides_failure(failed_python: str, fixed_python: str) -> bool:
    """Whether the fixed cell could pass by hiding the error rather than fixing it: it adds a
    ``try`` the failed cell did not have, or has fewer top-level statements (a line left out).

    Both are judged from the syntax trees; a cell that does not parse hides nothing here (its
    syntax is reported on its own).
    """
    try:
        failed, fixed = ast.parse(failed_python), ast.parse(fixed_python)
    except SyntaxError:
        return False

    kinds = tuple(getattr(ast, name) for name in ("Try", "TryStar") if hasattr(ast, name))

    def tries(tree: ast.AST) -> int:
        return sum(isinstance(node, kinds) for node in ast.walk(tree))

    return tries(fixed) > tries(failed) or len(fixed.body) < len(failed.body)


# A statement of the corrected cell is the user's when its first line is one of the failed
# cell's lines, or mostly made of one (changed in place: `print(re.match(p, s).group())` →
# `print(m.group())`, `n = int(s)` → `n = float(s)`); a line shorter than this, or a message
# (`print("no match")`), is the user's only when it is the same.
_FROM_A_USER_LINE = 0.65
_SHORT_LINE = 8


def unrun_user_line(failed_python: str, fixed_python: str,
                    lines_run: Collection[int]) -> tuple[int, int] | None:
    """A statement of the user's that a new guard kept from running: ``(guard's line, the
    statement's line)`` in the fixed cell, or None.

    A *new guard* is a compound statement the failed cell did not have (``if``, ``for``,
    ``while``, ``with``, ``def``, ``class``, ``try``); when its body or ``else`` part holds
    statements of the user's, at least one of them must be among ``lines_run`` (the lines a
    clean run of the fixed cell went through). So ``if m: print(m.group())`` and ``if m is
    None: print("no match") else: print(m.group())`` must print the match, and code moved
    into a new ``def`` must be called; a guard's ``except`` parts and the user's own branches
    may stay unrun, as they may in any run.
    """
    try:
        tree = ast.parse(fixed_python)
    except (SyntaxError, ValueError):
        return None
    try:
        failed_lines = {_first_line(failed_python, node) for node in ast.walk(ast.parse(
            failed_python)) if isinstance(node, ast.stmt)}
    except (SyntaxError, ValueError):  # the failed cell's own SyntaxError: its lines as they are
        failed_lines = {line.strip() for line in failed_python.splitlines() if line.strip()}

    def from_user(statement: ast.stmt) -> bool:
        text = _first_line(fixed_python, statement)
        if text in failed_lines:
            return True
        return len(text) >= _SHORT_LINE and not _a_message(statement) and any(
            _share_from(line, text) >= _FROM_A_USER_LINE for line in failed_lines)

    guarded: dict[int, list[int]] = {}  # a new guard's line: the user's statements it holds

    def visit(statements: list[ast.stmt], guard: int | None) -> None:
        for statement in statements:
            user = from_user(statement)
            if guard is not None and user:
                guarded[guard].append(statement.lineno)
            new_guard = not user and isinstance(statement, _GUARDS)
            if new_guard:
                guarded.setdefault(statement.lineno, [])
            for field, value in ast.iter_fields(statement):
                inside = statement.lineno if new_guard and field in ("body", "orelse") else None
                if isinstance(value, list) and value and isinstance(value[0], ast.stmt):
                    visit(value, inside)
                elif isinstance(value, list):  # except handlers, match cases
                    for part in value:
                        if isinstance(getattr(part, "body", None), list):
                            visit(part.body, None)

    visit(tree.body, None)
    for guard, statements in sorted(guarded.items()):
        if statements and not set(statements) & set(lines_run):
            return guard, statements[0]
    return None


def _first_line(source: str, statement: ast.stmt) -> str:
    """The statement's text on its first line, without a comment after it."""
    line = source.splitlines()[statement.lineno - 1]
    end = statement.end_col_offset if statement.end_lineno == statement.lineno else None
    return line.encode("utf-8")[statement.col_offset:end].decode("utf-8", "replace").strip()


def _a_message(statement: ast.stmt) -> bool:
    """A call with only text for arguments: ``print("no match")``, ``log.warning(f"…")``."""
    call = statement.value if isinstance(statement, ast.Expr) else None
    return isinstance(call, ast.Call) and all(
        isinstance(argument, ast.JoinedStr)
        or isinstance(argument, ast.Constant) and isinstance(argument.value, str)
        for argument in [*call.args, *(keyword.value for keyword in call.keywords)])


def _share_from(source: str, text: str) -> float:
    """How much of ``text`` is made of ``source``'s characters, in order (0 to 1)."""
    blocks = difflib.SequenceMatcher(None, source, text, autojunk=False).get_matching_blocks()
    return sum(block.size for block in blocks) / len(text)


_GUARDS = tuple(getattr(ast, name) for name in (
    "If", "For", "AsyncFor", "While", "With", "AsyncWith", "FunctionDef", "AsyncFunctionDef",
    "ClassDef", "Try", "TryStar") if hasattr(ast, name))
