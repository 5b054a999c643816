"""A key a cell reads that its dict — or DataFrame column — certainly lacks: a KeyError (or a
``None`` from ``.get``) waiting, found from the cell's text and what its variables hold.

After a KeyError the 0.5B's corrected cell often reads a key that is not there either:
``settings["port_number"]`` for ``settings["port"]`` when the port is under ``"db"``,
``user.get("Email")`` (which gives None) for ``user["Email"]`` when the key is ``"email"``.
Whether a key is there is certain only where the dict's keys are known at that point: a
kernel variable's (:meth:`Keys.of`, read by the caller from the kernel's namespace) or a dict
display (``{"db": {...}}``) or ``pd.DataFrame({...})`` the cell binds; ``x[k] = v`` adds a
key as the cell goes. The same keys settle a guard before it runs: ``if "Email" in user:``
never takes its body when ``user`` has no such key (:func:`dead_branch`).

A verdict here sends a correct fix back to the model, so everything uncertain is "not
known", never a verdict:

* Only top-level simple statements are judged, in order, and only their parts that surely
  run (:func:`~qwen_magic.cell_edits.surely_run`). Any other statement forgets every known
  name it mentions or binds (it may or may not run, or may change them).
* A call of anything but a builtin that only reads (``print``, ``len``, … — not one the
  notebook or the cell redefines), a read-only method of a known dict (``get``, ``keys``, …),
  a method of a module, of a literal or of a value read from a known dict, or the
  ``DataFrame({...})`` constructor, forgets everything: it may change any global. So do a
  class, a decorator and ``from m import *``.
* A known name used any other way than reading constant keys, calling a read-only method or
  being handed to a builtin that only reads it is forgotten after that statement, and not
  judged in it: another name may now hold it, or a nested dict of it.
* The kernel's values are known only when no two of the names a cell uses hold the same
  dict, or a dict nested in another (the caller checks, :func:`shared`).

Plain functions on Python source, as :mod:`.cell_edits`; nothing here runs the cell.
"""

from __future__ import annotations

import ast
from collections.abc import Collection, Hashable, Iterator, Mapping
from dataclasses import dataclass, field

from .cell_edits import SIMPLE_STATEMENTS, surely_run

# Builtins that only read their arguments: a known dict handed to them stays as it was.
_READING_BUILTINS = frozenset({
    "print", "len", "sorted", "list", "tuple", "set", "frozenset", "dict", "str", "repr",
    "iter", "any", "all", "sum", "min", "max", "enumerate", "zip", "reversed", "bool",
    "isinstance", "type", "id", "hash", "format"})
# Attributes of a dict or DataFrame whose reading changes nothing.
_READ_ONLY = frozenset({"get", "keys", "values", "items", "copy", "head", "tail", "columns",
                        "shape", "dtypes", "index", "describe", "info"})
# Those that hand out the values themselves: a nested dict may change through them.
_HANDS_OUT_VALUES = frozenset({"get", "values", "items", "copy", "dict"})
# Keys whose equality and hash are Python's own: nothing of the user's runs comparing them.
_PLAIN_KEYS = (str, int, float, bool, bytes, type(None))
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
        has every key) with plain keys (strings, numbers), or a pandas DataFrame whose column
        labels are all strings in a plain ``Index`` (dates, periods and intervals match more
        than their labels); None for anything else or anything too big to read at once."""
        try:  # the user's objects: whatever they do, the answer is "not known"
            if type(value) is dict and len(value) <= limit:
                if not all(type(key) in _PLAIN_KEYS for key in value):
                    return None
                return cls({key: cls.of(item, depth - 1, _MAX_NESTED_KEYS) if depth > 1
                            else None for key, item in value.items()})
            kind = type(value)
            if kind.__name__ == "DataFrame" and str(kind.__module__).split(".")[0] == "pandas":
                labels = value.columns  # type: ignore[attr-defined]
                if type(labels).__name__ == "Index" and len(labels) <= limit \
                        and all(type(label) is str for label in labels):
                    return cls(dict.fromkeys(labels), columns=True)
        except Exception:
            return None
        return None

    def nested(self) -> bool:
        """Whether a dict among its values is known too (and could change through another name)."""
        return any(child is not None for child in self.children.values())

    def dicts(self, value: object) -> Iterator[int]:
        """The ids of ``value`` and of the dicts in it that these keys track."""
        yield id(value)
        if type(value) is dict:
            for key, child in self.children.items():
                if child is not None:  # (.get: a thread of the user's may have changed it)
                    yield from child.dicts(value.get(key))

    @property
    def noun(self) -> str:
        """What one of them is called: a "column" of a frame, a "key" of a dict."""
        return "column" if self.columns else "key"

    def describe(self, limit: int = 8) -> str:
        """"its keys: 'name', 'email'" (at most ``limit`` of them)."""
        labels = [repr(key) for key in list(self.children)[:limit]]
        more = ", …" if len(self.children) > limit else ""
        what = f"{self.noun}s"
        return f"its {what}: {', '.join(labels)}{more}" if labels else f"it has no {what}"


def shared(values: Mapping[str, object], keys: Mapping[str, Keys]) -> set[str]:
    """The names among ``keys`` whose dict (or a dict nested in it) another of them holds
    too: a change through one name would go unseen through the other."""
    owners: dict[int, list[str]] = {}
    for name, known in keys.items():
        for identity in known.dicts(values[name]):
            owners.setdefault(identity, []).append(name)
    return {name for names in owners.values() if len(names) > 1 for name in names}


@dataclass(frozen=True)
class Kernel:
    """What the judging needs of the kernel the cell will run in: the keys of the dicts and
    frames it holds (none shared, :func:`shared`), the names it defines (a ``print`` of the
    notebook's own is no builtin) and the names that hold modules (``json.dumps(…)`` runs
    none of the user's code)."""

    keys: Mapping[str, Keys] = field(default_factory=dict)
    defined: Collection[str] = ()
    modules: Collection[str] = ()


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
        lacks = f"`{self.holder}` has no {self.keys.noun} {self.key!r} ({self.keys.describe()})"
        if self.by_get:
            return f"it reads `{self.expression}`, which is None: {lacks}"
        return f"it reads `{self.expression}`, and {lacks}: KeyError"


def missing_key(python_source: str, kernel: Kernel = Kernel(), *,
                failed_key: object = None) -> MissingKey | None:
    """The first read of a key that the value it is read from certainly lacks, in the order
    the cell runs. With ``failed_key`` (the key a KeyError named), ``d.get(failed_key)``
    without a default, used as the value itself (printed, assigned), counts too: it only
    trades the error for a None. None when there is none, or the source does not parse."""
    for statement, state in _known_before(python_source, kernel):
        if isinstance(statement, SIMPLE_STATEMENTS):
            found = _first_missing(statement, state, failed_key)
            if found:
                return found
    return None


@dataclass(frozen=True)
class DeadBranch:
    """A top-level ``if`` whose test is settled by keys known to be there or not: the lines
    of the branch that cannot run, and why."""

    lines: frozenset[int]
    reason: str  # "`user` has no key 'Email' (its keys: 'name', 'email')"


def dead_branch(python_source: str, kernel: Kernel = Kernel()) -> DeadBranch | None:
    """The first top-level ``if key in d:`` (or ``not in``) that the keys of ``d``, known at
    that point, settle: ``if "Email" in user: print(user["Email"]) else: print("no email")``
    never runs its body when ``user`` has no such key. None when there is none."""
    for statement, state in _known_before(python_source, kernel):
        if not isinstance(statement, ast.If) or not _is_membership(statement.test):
            continue
        test: ast.Compare = statement.test  # type: ignore[assignment]
        keys = _resolve(test.comparators[0], state)
        key = test.left.value  # type: ignore[attr-defined]
        if keys is None or (keys.columns and type(key) is not str):
            continue
        holder = ast.unparse(test.comparators[0])
        there = key in keys.children
        test_holds = there == isinstance(test.ops[0], ast.In)
        branch = statement.orelse if test_holds else statement.body
        reason = (f"`{holder}` has the {keys.noun} {key!r}" if there
                  else f"`{holder}` has no {keys.noun} {key!r} ({keys.describe()})")
        lines = frozenset(line for part in branch
                          for line in range(part.lineno, (part.end_lineno or part.lineno) + 1))
        if lines:
            return DeadBranch(lines, reason)
    return None


def _is_membership(test: ast.expr) -> bool:
    """``"key" in d`` or ``"key" not in d``, and nothing more."""
    return isinstance(test, ast.Compare) and len(test.ops) == 1 \
        and isinstance(test.ops[0], (ast.In, ast.NotIn)) and isinstance(test.left, ast.Constant)


def _known_before(python_source: str, kernel: Kernel
                  ) -> Iterator[tuple[ast.stmt, dict[str, Keys]]]:
    """Each top-level statement with the keys known just before it runs (for a simple one,
    only of the names it leaves as they were); nothing when the source does not parse."""
    try:
        tree = ast.parse(python_source)
    except (SyntaxError, ValueError, RecursionError):
        return
    own = set(kernel.defined) | _bound_anywhere(tree)  # names that are not the builtins
    modules = set(kernel.modules) | {
        (alias.asname or alias.name).split(".")[0] for node in tree.body
        if isinstance(node, ast.Import) for alias in node.names}
    state = dict(kernel.keys)
    for statement in tree.body:
        if not isinstance(statement, SIMPLE_STATEMENTS):
            yield statement, dict(state)
            if _may_change_anything(statement, state, own, modules):
                state.clear()
            for name in _mentioned(statement):
                state.pop(name, None)
            continue
        if _may_change_anything(statement, state, own, modules):
            state.clear()
            _set_literal(statement, state)
            continue
        parents = _parents(statement)
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
        _set_literal(statement, state)


def _parents(statement: ast.stmt) -> dict[ast.AST, ast.AST]:
    """Each node of ``statement`` with the node that holds it."""
    return {child: node for node in ast.walk(statement) for child in ast.iter_child_nodes(node)}


def _set_literal(statement: ast.stmt, state: dict[str, Keys]) -> None:
    """``name = {...}`` (or ``pd.DataFrame({...})``): from here on its keys are known."""
    if isinstance(statement, ast.Assign) and len(statement.targets) == 1 \
            and isinstance(statement.targets[0], ast.Name):
        literal = _literal_keys(statement.value)
        if literal is not None:
            state[statement.targets[0].id] = literal


def _bound_anywhere(tree: ast.Module) -> set[str]:
    """Every name the cell binds, anywhere: an assignment, import, definition or pattern."""
    names = {node.id for node in ast.walk(tree)
             if isinstance(node, ast.Name) and not isinstance(node.ctx, ast.Load)}
    for node in ast.walk(tree):
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            names |= {(alias.asname or alias.name).split(".")[0] for alias in node.names}
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, (ast.MatchAs, ast.MatchStar)) and node.name:
            names.add(node.name)
        elif isinstance(node, ast.MatchMapping) and node.rest:
            names.add(node.rest)
        elif isinstance(node, (ast.Global, ast.Nonlocal)):
            names |= set(node.names)
    return names


def _mentioned(statement: ast.stmt) -> set[str]:
    """The names a statement reads or binds, in any way."""
    module = ast.Module(body=[statement], type_ignores=[])
    return _bound_anywhere(module) | {node.id for node in ast.walk(statement)
                                      if isinstance(node, ast.Name)}


def _may_change_anything(statement: ast.stmt, state: Mapping[str, Keys],
                         own: Collection[str], modules: Collection[str]) -> bool:
    """Whether running ``statement`` (or defining it) may run code that changes any global:
    a call of anything but the harmless (see the module's docstring), a class (its
    metaclass and ``__init_subclass__`` run), a decorator, a star import."""
    for node in ast.walk(statement):
        if isinstance(node, ast.ClassDef) or getattr(node, "decorator_list", None):
            return True
        if isinstance(node, ast.ImportFrom) and any(alias.name == "*" for alias in node.names):
            return True
        if isinstance(node, ast.Call) and not _harmless_call(node, state, own, modules):
            return True
    return False


def _harmless_call(call: ast.Call, state: Mapping[str, Keys], own: Collection[str],
                   modules: Collection[str]) -> bool:
    """Whether ``call`` surely runs none of the user's code (see the module's docstring)."""
    func = call.func
    if isinstance(func, ast.Name):
        return func.id in _READING_BUILTINS and func.id not in own
    if not isinstance(func, ast.Attribute):
        return False
    if func.attr == "DataFrame" and _literal_keys(call) is not None:
        return True
    owner = func.value
    if isinstance(owner, ast.Constant):  # "a, b".split(","), ", ".join(names)
        return True
    if isinstance(owner, ast.Subscript) and isinstance(owner.value, ast.Name):
        frame = state.get(owner.value.id)
        return frame is not None and frame.columns  # a column's method: df["a"].sum()
    root = owner
    while isinstance(root, ast.Attribute):
        root = root.value
    if not isinstance(root, ast.Name):
        return False
    if owner is root and root.id in state:  # a known dict's (or frame's) own method
        return func.attr in _READ_ONLY
    return root.id in modules and root.id not in state  # json.dumps(…), np.linalg.norm(…)


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
        elif keys is not None and keys.nested():
            return False  # `d[k]`: any of its nested dicts, which a later change could reach
        else:
            keys = None
        current = subscript
    parent = parents.get(current)
    if current is not name and keys is None:
        return True  # a value read from it that is no tracked dict: changing it changes no keys
    # Handing out its values (`d.get("db")`, `dict(d)`, `d | {}`) hands out its nested dicts.
    leaks = keys is not None and keys.nested()
    if isinstance(parent, ast.Attribute):
        return parent.attr in _READ_ONLY and isinstance(parent.ctx, ast.Load) \
            and not (leaks and parent.attr in _HANDS_OUT_VALUES)
    if isinstance(parent, ast.Call):
        return current is not parent.func and isinstance(parent.func, ast.Name) \
            and parent.func.id in _READING_BUILTINS \
            and not (leaks and parent.func.id in _HANDS_OUT_VALUES)
    if isinstance(parent, ast.BinOp):
        return not leaks
    return isinstance(parent, (ast.Compare, ast.Expr, ast.FormattedValue)) or (
        isinstance(parent, ast.Subscript) and parent.slice is current)


def _first_missing(statement: ast.stmt, state: Mapping[str, Keys],
                   failed_key: object) -> MissingKey | None:
    """The first key read in ``statement`` (where it surely runs) that its holder lacks."""
    parents = _parents(statement)
    for node in surely_run(statement):
        if isinstance(node, ast.Subscript) and (
                isinstance(node.ctx, ast.Load) or (isinstance(statement, ast.AugAssign)
                                                  and node is statement.target)):
            found = _lookup(node, state)
            if found:
                return found
        elif failed_key is not None and _get_of(node, failed_key) \
                and isinstance(parents.get(node), (ast.Call, ast.Assign, ast.Expr,
                                                   ast.FormattedValue)):
            call: ast.Call = node  # type: ignore[assignment]
            holder_expression = call.func.value  # type: ignore[attr-defined]
            holder = _resolve(holder_expression, state)
            if holder is not None and not holder.columns and failed_key not in holder.children:
                return MissingKey(ast.unparse(call), ast.unparse(holder_expression), failed_key,
                                  holder, by_get=True)
    return None


def _get_of(node: ast.AST, key: object) -> bool:
    """Whether ``node`` is ``….get(key)``, without a default."""
    return isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) \
        and node.func.attr == "get" and len(node.args) == 1 and not node.keywords \
        and isinstance(node.args[0], ast.Constant) and node.args[0].value == key \
        and type(node.args[0].value) is type(key)


def _lookup(node: ast.Subscript, state: Mapping[str, Keys]) -> MissingKey | None:
    """``node``'s key, when the value it is read from is known to lack it."""
    if not isinstance(node.slice, ast.Constant):
        return None
    holder = _resolve(node.value, state)
    if holder is None or node.slice.value in holder.children:
        return None
    if holder.columns and type(node.slice.value) is not str:
        return None  # a frame's labels are known only when they are all strings
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


__all__ = ["DeadBranch", "Kernel", "Keys", "MissingKey", "dead_branch", "missing_key", "shared"]
