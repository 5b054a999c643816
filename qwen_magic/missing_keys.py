"""A key a cell reads that its dict — or DataFrame column — certainly lacks: a KeyError (or a
``None`` from ``.get``) waiting, found from the cell's text and what its variables hold.

After a KeyError the 0.5B's corrected cell often reads a key that is not there either:
``settings["port_number"]`` for ``settings["port"]`` when the port is under ``"db"``,
``user.get("Email")`` (which gives None) for ``user["Email"]`` when the key is ``"email"``.
Whether a key is there is certain only where the dict's keys are known at that point: a
kernel variable's (:meth:`Keys.of`, read by the caller from the kernel's namespace) or a dict
display (``{"db": {...}}``) or ``pd.DataFrame({...})`` the cell binds; ``x[k] = v`` adds a
key as the cell goes. The same keys settle a guard before it runs: ``if "Email" in user:``
never takes its body when ``user`` has no such key (:func:`dead_branch`). Everything else
makes the answer "not known", never a verdict:

* Only top-level simple statements are judged, in order; a branch, loop, ``with``, ``try``
  or definition forgets every known name it mentions (it may or may not run, or may change
  them), and conditional parts of an expression (``a if c else b``, ``and``/``or``,
  comprehensions, lambdas) are not judged.
* A known name used any other way than reading constant keys, calling a read-only method
  (``get``, ``keys``, ``items``, …) or being handed to a builtin that only reads it
  (``print``, ``len``, …) is forgotten after that statement, and not judged in it: a call
  may have changed it, another name may now hold it.
* Calling a function of the user's own (a name that is no builtin) forgets everything known:
  it may change the globals it reads.

Plain functions on Python source, as :mod:`.cell_edits`; nothing here runs the cell.
"""

from __future__ import annotations

import ast
import builtins
from collections.abc import Hashable, Iterator, Mapping
from dataclasses import dataclass

# Builtins that only read their arguments: a known dict handed to them stays as it was.
_READING_BUILTINS = frozenset({
    "print", "len", "sorted", "list", "tuple", "set", "frozenset", "dict", "str", "repr",
    "iter", "any", "all", "sum", "min", "max", "enumerate", "zip", "reversed", "bool",
    "isinstance", "type", "id", "hash", "format"})
# Attributes of a dict or DataFrame whose reading changes nothing.
_READ_ONLY = frozenset({"get", "keys", "values", "items", "copy", "head", "tail", "columns",
                        "shape", "dtypes", "index", "describe", "info"})
_BUILTINS = frozenset(dir(builtins))
# How much of a kernel value is read to learn its keys; beyond it, the keys are "not known".
_MAX_KEYS = 1000
_MAX_NESTED_KEYS = 100
_MAX_DEPTH = 2


@dataclass(frozen=True)
class Keys:
    """What a dict holds: its keys, each with its value's :class:`Keys` when that is a dict
    too (else None: not known) — or, with ``columns``, a DataFrame's column labels."""

    children: Mapping[Hashable, Keys | None]
    columns: bool = False

    @classmethod
    def of(cls, value: object, depth: int = _MAX_DEPTH, limit: int = _MAX_KEYS) -> Keys | None:
        """The keys of a kernel variable: a plain ``dict`` (not a subclass: a ``defaultdict``
        has every key) or a pandas DataFrame with flat columns; None for anything else or
        anything too big to read at once."""
        if type(value) is dict and len(value) <= limit:
            return cls({key: cls.of(item, depth - 1, _MAX_NESTED_KEYS) if depth > 1 else None
                        for key, item in value.items()})
        kind = type(value)
        if kind.__name__ == "DataFrame" and kind.__module__.partition(".")[0] == "pandas":
            labels = value.columns  # type: ignore[attr-defined]
            # A MultiIndex's df["a"] selects a whole first level, which no label equals.
            if type(labels).__name__ != "MultiIndex" and len(labels) <= limit:
                return cls(dict.fromkeys(labels), columns=True)
        return None

    def describe(self, limit: int = 8) -> str:
        """"its keys: 'name', 'email'" (at most ``limit`` of them)."""
        labels = [repr(key) for key in list(self.children)[:limit]]
        more = ", …" if len(self.children) > limit else ""
        what = "columns" if self.columns else "keys"
        return f"its {what}: {', '.join(labels)}{more}" if labels else f"it has no {what}"


@dataclass(frozen=True)
class MissingKey:
    """``expression`` (as written) reads ``key`` from ``holder``, which lacks it."""

    expression: str
    holder: str
    key: object
    keys: Keys
    by_get: bool = False  # ``holder.get(key)``: None, not a KeyError

    def problem(self) -> str:
        """What the fix rules tell the model, in one line."""
        what = "column" if self.keys.columns else "key"
        lacks = f"`{self.holder}` has no {what} {self.key!r} ({self.keys.describe()})"
        if self.by_get:
            return f"it reads `{self.expression}`, which is None: {lacks}"
        return f"it reads `{self.expression}`, and {lacks}: KeyError"


def missing_key(python_source: str, known: Mapping[str, Keys], *,
                gets: bool = False) -> MissingKey | None:
    """The first read of a key that the value it is read from certainly lacks, in the order
    the cell runs; ``known``: the kernel variables' keys (:meth:`Keys.of`). With ``gets``, a
    ``.get(key)`` without a default counts too (after a KeyError, a ``.get`` of the very key
    that is missing only trades the error for a None). None when there is none, or the source
    does not parse."""
    for statement, state in _known_before(python_source, known):
        if isinstance(statement, _SIMPLE):
            found = _first_missing(statement, state, gets)
            if found:
                return found
    return None


@dataclass(frozen=True)
class DeadBranch:
    """A top-level ``if`` whose test is settled by keys known to be there or not: the lines
    of the branch that cannot run, and why."""

    lines: frozenset[int]
    reason: str  # "`user` has no key 'Email' (its keys: 'name', 'email')"


def dead_branch(python_source: str, known: Mapping[str, Keys]) -> DeadBranch | None:
    """The first top-level ``if key in d:`` (or ``not in``) that the keys of ``d``, known at
    that point, settle: ``if "Email" in user: print(user["Email"]) else: print("no email")``
    never runs its body when ``user`` has no such key. None when there is none."""
    for statement, state in _known_before(python_source, known):
        if not isinstance(statement, ast.If):
            continue
        test = statement.test
        if not (isinstance(test, ast.Compare) and len(test.ops) == 1
                and isinstance(test.ops[0], (ast.In, ast.NotIn))
                and isinstance(test.left, ast.Constant)):
            continue
        keys = _resolve(test.comparators[0], state)
        if keys is None:
            continue
        key, holder = test.left.value, ast.unparse(test.comparators[0])
        there = key in keys.children
        true = there == isinstance(test.ops[0], ast.In)
        branch = statement.orelse if true else statement.body
        what = "column" if keys.columns else "key"
        reason = (f"`{holder}` has the {what} {key!r}" if there
                  else f"`{holder}` has no {what} {key!r} ({keys.describe()})")
        lines = frozenset(line for part in branch
                          for line in range(part.lineno, (part.end_lineno or part.lineno) + 1))
        if lines:
            return DeadBranch(lines, reason)
    return None


_SIMPLE = (ast.Expr, ast.Assign, ast.AugAssign, ast.AnnAssign)


def _known_before(python_source: str, known: Mapping[str, Keys]
                  ) -> Iterator[tuple[ast.stmt, dict[str, Keys]]]:
    """Each top-level statement with the keys known just before it runs (the simple ones'
    reads judged with only the names it leaves as they were); nothing when the source does
    not parse."""
    try:
        tree = ast.parse(python_source)
    except (SyntaxError, ValueError):
        return
    state = dict(known)
    for statement in tree.body:
        if not isinstance(statement, _SIMPLE):
            yield statement, state
            for node in ast.walk(statement):  # may or may not run, or change them
                if isinstance(node, ast.Name):
                    state.pop(node.id, None)
            continue
        if _calls_own_function(statement):
            state.clear()
            continue
        parents = {child: node for node in ast.walk(statement)
                   for child in ast.iter_child_nodes(node)}
        added = _key_set(statement, state)
        changed = {node.id for node in ast.walk(statement)
                   if isinstance(node, ast.Name) and node.id in state
                   and not _only_read(node, parents, state, added)}
        yield statement, {name: keys for name, keys in state.items() if name not in changed}
        for name in changed:
            state.pop(name)
        if added and added[0] in state:  # (not when the value also reads it: `d["me"] = d`)
            name, key, value = added
            state[name] = Keys({**state[name].children, key: value}, state[name].columns)
        if isinstance(statement, ast.Assign) and len(statement.targets) == 1 \
                and isinstance(statement.targets[0], ast.Name):
            literal = _literal_keys(statement.value)
            if literal is not None:
                state[statement.targets[0].id] = literal


def _calls_own_function(statement: ast.stmt) -> bool:
    """Whether ``statement`` calls a function by a name that is no builtin: the user's own,
    which may change any global (``load_settings()``)."""
    return any(isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
               and node.func.id not in _BUILTINS for node in ast.walk(statement))


def _key_set(statement: ast.stmt, state: Mapping[str, Keys]) -> tuple[str, Hashable, Keys | None] | None:
    """``(name, key, its value's keys)`` when ``statement`` is ``name[key] = value`` for a
    known ``name``: the key is there from then on (``df["total"] = …``)."""
    if isinstance(statement, ast.Assign) and len(statement.targets) == 1:
        target: ast.expr = statement.targets[0]
    elif isinstance(statement, ast.AnnAssign) and statement.value is not None:
        target = statement.target
    else:
        return None
    if isinstance(target, ast.Subscript) and isinstance(target.value, ast.Name) \
            and target.value.id in state and isinstance(target.slice, ast.Constant):
        return target.value.id, target.slice.value, _literal_keys(statement.value)
    return None


def _literal_keys(value: ast.expr | None) -> Keys | None:
    """The keys of a dict display with constant keys (``{"db": {"port": 1}}``), or the
    columns of ``pd.DataFrame({...})`` built from one; None for any other value."""
    if isinstance(value, ast.Dict):
        keys = [key.value for key in value.keys if isinstance(key, ast.Constant)]
        if len(keys) == len(value.keys):  # no `**other`, no computed key
            return Keys({key: _literal_keys(item) for key, item in zip(keys, value.values)})
    if isinstance(value, ast.Call) and isinstance(value.func, ast.Attribute) \
            and value.func.attr == "DataFrame" and len(value.args) == 1 \
            and all(keyword.arg == "index" for keyword in value.keywords):
        data = _literal_keys(value.args[0])
        return Keys({key: None for key in data.children}, columns=True) if data else None
    return None


def _only_read(name: ast.Name, parents: Mapping[ast.AST, ast.AST], state: Mapping[str, Keys],
               added: tuple[str, Hashable, Keys | None] | None) -> bool:
    """Whether this use of a known name leaves what it holds as it was, and held by no other
    name: constant keys read (or one set, ``added``), a read-only attribute, an argument of
    a builtin that only reads, an operand. Anything else (a call of another function, an
    assignment, a deeper store) forgets it."""
    current: ast.AST = name
    keys: Keys | None = state[name.id]
    while True:
        subscript = parents.get(current)
        if not (isinstance(subscript, ast.Subscript) and subscript.value is current):
            break
        if not isinstance(subscript.ctx, ast.Load):
            if isinstance(parents.get(subscript), ast.AugAssign):
                return True  # `d["k"] += 1` reads the key and sets it again: no key changes
            # `name[key] = value`, the statement's one target: the key is added after it.
            return added is not None and added[0] == name.id and current is name \
                and isinstance(parents.get(subscript), (ast.Assign, ast.AnnAssign))
        slice_ = subscript.slice
        if isinstance(slice_, ast.Constant):
            keys = keys.children.get(slice_.value) if keys is not None else None
        elif keys is not None and any(child is not None for child in keys.children.values()):
            return False  # `d[k]`: any of its nested dicts, which a later change could reach
        else:
            keys = None
        current = subscript
    parent = parents.get(current)
    if current is not name and keys is None:
        return True  # a value read from it that is no tracked dict: changing it changes no keys
    if isinstance(parent, ast.Attribute):
        return parent.attr in _READ_ONLY and isinstance(parent.ctx, ast.Load)
    if isinstance(parent, ast.Call):
        return current is not parent.func and isinstance(parent.func, ast.Name) \
            and parent.func.id in _READING_BUILTINS
    return isinstance(parent, (ast.Compare, ast.BinOp, ast.Expr, ast.FormattedValue)) or (
        isinstance(parent, ast.Subscript) and parent.slice is current)


def _first_missing(statement: ast.stmt, state: Mapping[str, Keys],
                   gets: bool) -> MissingKey | None:
    """The first key read in ``statement`` (where it surely runs) that its holder lacks."""
    for node in _surely_run(statement):
        if isinstance(node, ast.Subscript) and (
                isinstance(node.ctx, ast.Load) or (isinstance(statement, ast.AugAssign)
                                                  and node is statement.target)):
            found = _lookup(node, state)
            if found:
                return found
        elif gets and isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) \
                and node.func.attr == "get" and len(node.args) == 1 and not node.keywords \
                and isinstance(node.args[0], ast.Constant):
            holder = _resolve(node.func.value, state)
            key = node.args[0].value
            if holder is not None and key not in holder.children:
                return MissingKey(ast.unparse(node), ast.unparse(node.func.value), key, holder,
                                  by_get=True)
    return None


def _lookup(node: ast.Subscript, state: Mapping[str, Keys]) -> MissingKey | None:
    """``node``'s key, when the value it is read from is known to lack it."""
    if not isinstance(node.slice, ast.Constant):
        return None
    holder = _resolve(node.value, state)
    if holder is None or node.slice.value in holder.children:
        return None
    return MissingKey(ast.unparse(node), ast.unparse(node.value), node.slice.value, holder)


def _resolve(expression: ast.expr, state: Mapping[str, Keys]) -> Keys | None:
    """The keys of ``name[k1][k2]…`` (constant keys all present), or None: not known."""
    if isinstance(expression, ast.Name):
        return state.get(expression.id)
    if isinstance(expression, ast.Subscript) and isinstance(expression.slice, ast.Constant):
        outer = _resolve(expression.value, state)
        if outer is not None and not outer.columns:
            return outer.children.get(expression.slice.value)
    return None


def _surely_run(node: ast.AST) -> list[ast.AST]:
    """``node`` and the parts of it that run whenever it does: not the branches of ``a if c
    else b``, the operands of ``and``/``or`` after the first, or the bodies of comprehensions
    and lambdas."""
    if isinstance(node, (ast.Lambda, ast.ListComp, ast.SetComp, ast.DictComp,
                         ast.GeneratorExp)):
        return [node]
    if isinstance(node, ast.IfExp):
        children: list[ast.AST] = [node.test]
    elif isinstance(node, ast.BoolOp):
        children = list(node.values[:1])
    else:
        children = list(ast.iter_child_nodes(node))
    return [node] + [part for child in children for part in _surely_run(child)]


__all__ = ["DeadBranch", "Keys", "MissingKey", "dead_branch", "missing_key"]
