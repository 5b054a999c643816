"""A key a corrected cell reads that its dict (or DataFrame) certainly lacks
(qwen_magic/missing_keys.py), and ``%qwen fix``'s rule built on it (notebook/cell_python.py).

Text and real values only: no model, nothing run. The kernel's namespace is a plain dict of
real values (a dict, a pandas DataFrame), as ``shell.user_ns`` is.
"""

from __future__ import annotations

from collections import defaultdict

import pandas as pd
import pytest

from qwen_magic.fixing import Failure
from qwen_magic.missing_keys import Kernel, Keys, dead_branch, missing_key
from qwen_magic.notebook.cell_python import fix_problem

SETTINGS = 'settings = {"db": {"host": "localhost", "port": 5432}}\n'
STOCK = 'stock = {"apples": 3}\n'
FRAME = 'import pandas as pd\ndf = pd.DataFrame({"a": [1, 2, 3], "b": [4, 5, 6]})\n'


def kernel(values: dict[str, object] | None = None) -> Kernel:
    keys = {name: Keys.of(value) for name, value in (values or {}).items()}
    return Kernel(keys={name: known for name, known in keys.items() if known is not None},
                  defined=set(values or {}))


def problem(source: str, values: dict[str, object] | None = None,
            failed_key: object = None) -> str | None:
    found = missing_key(source, kernel(values), failed_key=failed_key)
    return found.problem() if found else None


@pytest.mark.parametrize(("source", "expected"), [
    (SETTINGS + 'print(settings["port_number"])',
     "it reads `settings['port_number']`, and `settings` has no key 'port_number' "
     "(its keys: 'db'): KeyError"),
    (SETTINGS + 'print(settings["db"]["port_number"])',
     "it reads `settings['db']['port_number']`, and `settings['db']` has no key "
     "'port_number' (its keys: 'host', 'port'): KeyError"),
    (FRAME + 'df["c"] = df["a"] + df["B"]\nprint(df["c"].tolist())',
     "it reads `df['B']`, and `df` has no column 'B' (its columns: 'a', 'b'): KeyError"),
    ('counts = {}\ncounts["the"] += 1', "it reads `counts['the']`, and `counts` has no key "
     "'the' (it has no keys): KeyError"),
])
def test_a_key_the_cells_own_dict_lacks_is_found(source: str, expected: str) -> None:
    assert problem(source) == expected


@pytest.mark.parametrize("source", [
    SETTINGS + 'print(settings["db"]["port"])',  # there
    FRAME + 'df["c"] = df["a"] + df["b"]\nprint(df["c"].tolist())',  # set, then read
    STOCK + 'stock["bananas"] = 0\nprint(stock["bananas"])',
    STOCK + 'stock.update(bananas=0)\nprint(stock["bananas"])',  # changed by a method
    STOCK + 'fill(stock)\nprint(stock["bananas"])',  # handed to a function of the user's
    STOCK + 'load()\nprint(stock["bananas"])',  # which may change any global
    STOCK + 'if ready:\n    stock["bananas"] = 1\nprint(stock["bananas"])',  # a branch
    STOCK + 'print(stock["bananas"] if "bananas" in stock else 0)',  # not surely run
    STOCK + 'print("bananas" in stock and stock["bananas"])',
    STOCK + 'other = stock\nother["bananas"] = 1\nprint(stock["bananas"])',  # an alias
    'nested = {"a": {"b": 1}}\ninner = nested["a"]\ninner["c"] = 2\nprint(nested["a"]["c"])',
    'nested = {"a": {"b": 1}}\ninner = nested[k]\ninner["c"] = 2\nprint(nested["a"]["c"])',
    STOCK + 'stock = load()\nprint(stock["bananas"])',  # bound afresh
    STOCK + 'print(stock[name])',  # not a constant key
    'print(stock["bananas"])',  # nothing known of stock
    'print(stock["bananas"]',  # does not parse
])
def test_nothing_is_said_where_the_key_may_be_there(source: str) -> None:
    assert problem(source) is None


def test_kernel_values_give_the_keys_a_dict_and_a_dataframe_have() -> None:
    user = {"name": "Ada", "email": "ada@example.com"}
    frame = pd.DataFrame({"a": [1], "b": [2]})
    assert problem('print(user["Email"])', {"user": user}) == (
        "it reads `user['Email']`, and `user` has no key 'Email' (its keys: 'name', 'email'): "
        "KeyError")
    assert problem('print(user["email"])', {"user": user}) is None
    assert problem('print(df["B"].sum())', {"df": frame}) == (
        "it reads `df['B']`, and `df` has no column 'B' (its columns: 'a', 'b'): KeyError")
    assert problem('df.columns = ["A", "B"]\nprint(df["B"])', {"df": frame}) is None
    assert problem('df = df.rename(columns=str.upper)\nprint(df["B"])', {"df": frame}) is None


def test_values_whose_keys_are_not_certain_are_not_known() -> None:
    assert Keys.of(defaultdict(int)) is None  # has every key
    assert Keys.of(pd.DataFrame([[1]], columns=pd.MultiIndex.from_tuples([("a", "x")]))) is None
    assert Keys.of({str(n): n for n in range(5000)}) is None  # too big to read at once
    assert Keys.of([1, 2]) is None


def test_a_get_of_the_key_the_error_named_counts_only_used_as_the_value() -> None:
    user = {"name": "Ada", "email": "ada@example.com"}
    assert problem('print(user.get("Email"))', {"user": user}) is None
    assert problem('print(user.get("Email"))', {"user": user}, failed_key="Email") == (
        "it reads `user.get('Email')`, which is None: `user` has no key 'Email' "
        "(its keys: 'name', 'email')")
    assert problem('mail = user.get("Email")', {"user": user}, failed_key="Email")
    assert problem('print(user.get("Email", ""))', {"user": user}, failed_key="Email") is None
    assert problem('print(user.get("nick"))', {"user": user}, failed_key="Email") is None
    # Idioms that handle the None: not judged.
    assert problem('print(user.get("Email") or user["email"])', {"user": user},
                   failed_key="Email") is None
    assert problem('print(user.get("Email") is None)', {"user": user},
                   failed_key="Email") is None
    assert problem(STOCK + 'print(stock.get("bananas", 0))', failed_key="bananas") is None


def test_fix_problem_reads_the_keys_from_the_kernels_namespace() -> None:
    failure = Failure(source='print(user["Email"])', error="KeyError: 'Email'", raised_at=1)
    namespace = {"user": {"name": "Ada", "email": "ada@example.com"}}
    assert "no key 'EMAIL'" in (fix_problem(failure, 'print(user["EMAIL"])', namespace) or "")
    assert "which is None" in (fix_problem(failure, 'print(user.get("Email"))', namespace) or "")
    assert fix_problem(failure, 'print(user["email"])', namespace) is None
    # Names only (no values): nothing known of the kernel's dict.
    assert fix_problem(failure, 'print(user["EMAIL"])', set(namespace)) is None
    # After another error, a .get of a missing key may be what the fix means.
    other = Failure(source='print(user.name)', error="AttributeError: 'dict' object has no "
                    "attribute 'name'", raised_at=1)
    assert fix_problem(other, 'print(user.get("Email"))', namespace) is None
    assert failure.missing_key == "Email" and other.missing_key is None


@pytest.mark.parametrize(("source", "dead", "reason"), [
    (SETTINGS + 'if "port" in settings:\n    print(settings["port"])\nelse:\n    print("no")',
     {3}, "`settings` has no key 'port' (its keys: 'db')"),
    (SETTINGS + 'if "port" not in settings:\n    print("no")\nelse:\n    print(1)', {5},
     "`settings` has no key 'port' (its keys: 'db')"),
    (SETTINGS + 'if "db" in settings:\n    print(1)\nelse:\n    print("no")\n    print(2)',
     {5, 6}, "`settings` has the key 'db'"),
    (SETTINGS + 'if "port" in settings["db"]:\n    print(1)\nelse:\n    print(2)', {5},
     "`settings['db']` has the key 'port'"),
])
def test_a_test_the_known_keys_settle_has_a_dead_branch(source: str, dead: set[int],
                                                        reason: str) -> None:
    branch = dead_branch(source)
    assert branch is not None and branch.lines == dead and branch.reason == reason


@pytest.mark.parametrize("source", [
    SETTINGS + 'settings.update(port=1)\nif "port" in settings:\n    print(1)',  # changed
    'if "port" in settings:\n    print(1)',  # nothing known
    SETTINGS + 'if "port" in settings and ready:\n    print(1)',  # not the whole test
    SETTINGS + 'if "db" in settings:\n    print(1)',  # true, and no else to be dead
])
def test_a_test_not_settled_has_no_dead_branch(source: str) -> None:
    assert dead_branch(source) is None


def test_fix_problem_refuses_a_guard_that_settles_before_it_runs() -> None:
    failure = Failure(source='print(user["Email"])', error="KeyError: 'Email'", raised_at=1)
    namespace = {"user": {"name": "Ada", "email": "ada@example.com"}}
    guarded = 'if "Email" in user:\n    print(user["Email"])\nelse:\n    print("No email.")'
    assert fix_problem(failure, guarded, namespace) == (
        "its new line 1 (`if \"Email\" in user:`) decides before it runs — `user` has no key "
        "'Email' (its keys: 'name', 'email') — so the cell's own line 2 "
        "(`print(user[\"Email\"])`) never runs")
    assert fix_problem(failure, guarded.replace('"Email"', '"email"'), namespace) is None


def _kernel_with_helpers() -> dict[str, object]:
    """A notebook whose functions, decorators and objects change its dicts behind the
    cell's back: every verdict on a cell that uses them must be "not known"."""
    namespace: dict[str, object] = {}
    exec(  # noqa: S102 — the test builds a real namespace, as a kernel's would be
        "d = {}\nalias = d\nS = {}\nREG = {}\nREG2 = {}\ndb = {}\ncfg = {'db': db}\n"
        "nested = {'db': {}}\nother = {'x': 1}\n"
        "def fill():\n    S['port'] = 1\n"
        "def fill2(_):\n    S['port'] = 1\n"
        "def register(f):\n    REG[f.__name__] = f\n    return f\n"
        "class Plugin:\n    def __init_subclass__(cls):\n        REG2[cls.__name__] = cls\n"
        "class App:\n    def __init__(self, c):\n        self.c = c\n"
        "    def configure(self):\n        self.c['lr'] = 1\n"
        "app = App(d)\n"
        "def format(x):\n    x['done'] = True\n", namespace)
    return namespace


@pytest.mark.parametrize("cell", [
    'alias["x"] = 1\nprint(d["x"])',  # two kernel names, one dict
    'db["port"] = 1\nprint(cfg["db"]["port"])',  # a dict nested in another
    'nested.get("db")["port"] = 5\nprint(nested["db"]["port"])',  # handed out by .get
    'x = nested.get("db")\nx["port"] = 5\nprint(nested["db"]["port"])',
    'list(nested.values())[0]["port"] = 5\nprint(nested["db"]["port"])',
    'e = nested.copy()\ne["db"]["port"] = 5\nprint(nested["db"]["port"])',
    'e = dict(nested)\ne["db"]["port"] = 5\nprint(nested["db"]["port"])',
    'if True:\n    fill()\nprint(S["port"])',  # a call inside a branch
    'for _ in range(1):\n    fill()\nprint(S["port"])',  # a call inside a loop
    '@register\ndef hello():\n    return 1\nprint(REG["hello"]())',  # a decorator runs
    'class Foo(Plugin):\n    pass\nprint(REG2["Foo"])',  # __init_subclass__ runs
    'app.configure()\nprint(d["lr"])',  # a method of the user's object
    'list(map(fill2, [0]))\nprint(S["port"])',  # the user's function as a value
    'exec("d[\'x\'] = 1")\nprint(d["x"])',
    'globals()["d"]["x"] = 1\nprint(d["x"])',
    'format(d)\nprint(d["done"])',  # a builtin the notebook redefined
    'match other:\n    case d:\n        pass\nprint(d["x"])',  # bound by a pattern
    'print(0 > 1 < d["x"])',  # a chain that stops early
])
def test_nothing_is_said_where_the_notebook_may_change_the_dict(cell: str) -> None:
    namespace = _kernel_with_helpers()
    failure = Failure(source='print(d["x"])', error="KeyError: 'x'", raised_at=1)
    assert fix_problem(failure, cell, namespace) is None
    exec(cell, namespace)  # noqa: S102 — and the cell does run


def test_a_line_magic_may_change_anything() -> None:
    frame = pd.DataFrame({"a": [1], "b": [2]})
    failure = Failure(source='print(df["Total"].sum())', error="KeyError: 'Total'", raised_at=1)
    cell = '%time df["total"] = df.a + df.b\nprint(df["total"].sum())'
    assert fix_problem(failure, cell, {"df": frame}) is None


def test_frames_whose_labels_match_more_than_themselves_are_not_known() -> None:
    dated = pd.DataFrame([[1]], columns=pd.DatetimeIndex(["2020-01-01"]))
    assert Keys.of(dated) is None  # df["2020-01-01"] selects it
    assert Keys.of(pd.DataFrame([[1]], columns=[1])) is None  # True in df is False
    assert Keys.of(pd.DataFrame([[1]], columns=pd.Index([[1, 2]], dtype=object,
                                                         tupleize_cols=False))) is None


def test_odd_kernel_values_are_not_known_and_never_raise() -> None:
    class LoudKey:
        def __repr__(self) -> str:
            raise RuntimeError("no repr")

        def __hash__(self) -> int:
            return hash("x")

        def __eq__(self, other: object) -> bool:
            raise RuntimeError("no eq")

    class DataFrame:  # pretends, with no module
        __module__ = None  # type: ignore[assignment]

    assert Keys.of({LoudKey(): 1}) is None
    assert Keys.of(DataFrame()) is None
    assert missing_key("x = 0" + " + 1" * 2000 + '\nprint(d["x"])',
                       kernel({"d": {}})) is not None  # a long line is no recursion limit
