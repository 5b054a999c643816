"""The live-data describer and the names the cells use (qwen_magic.livedata).

No model and no provider: these are plain functions of a namespace and cell sources. The
objects that must not run are instrumented — every property, ``__repr__``, ``__getattr__``,
``__hash__`` and ``__class__`` here appends to ``calls`` — and each test asserts that
describing left ``calls`` empty.
"""

from __future__ import annotations

import collections
import enum
import functools
import json
import os
import subprocess
import sys
import time
import types
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from qwen_magic.livedata import describe, names_used
from qwen_magic.livedata import values as values_module
from qwen_magic.livedata.cells import cell_names
from qwen_magic.livedata.values import describe_value

pytestmark = pytest.mark.timeout(60)

WIDTH = 160


@pytest.fixture
def calls() -> list[str]:
    return []


def line(name: str, value: Any) -> str:
    text = describe_value(name, value, WIDTH)
    assert text is not None
    return text


# -- pandas and numpy ------------------------------------------------------------------------

def test_a_dataframe_shows_its_columns_and_dtypes():
    df = pd.DataFrame({"price": [1.5, 2.0, 3.25], "city": ["Oslo", "Rome", "Lima"],
                       "sold": [True, False, True]})
    text = df["city"].dtype  # object before pandas 3, str since
    assert line("df", df) == f"df: DataFrame  # 3 rows × 3 columns: price: float64, city: {text}, sold: bool"


def test_a_dataframe_with_labelled_rows_shows_its_index():
    df = pd.DataFrame({"total": [3.0, 4.0]}, index=pd.Index(["DE", "FR"], name="country"))
    assert line("df", df).endswith("total: float64; index country: 'DE', 'FR'")
    dated = pd.DataFrame({"v": [1, 2]}, index=pd.to_datetime(["2024-01-01", "2024-01-02"]))
    assert line("dated", dated).endswith(f"v: int64; index: {dated.index.dtype}")


def test_a_series_shows_its_length_dtype_name_and_labels():
    s = pd.Series([1.0, 2.0, 3.0], index=["Berlin", "Paris", "Rome"], name="price")
    assert line("s", s) == ("s: Series  # 3 values, dtype float64, name price; "
                            "index: 'Berlin', 'Paris', 'Rome'")
    assert line("n", pd.Series(range(4))) == "n: Series  # 4 values, dtype int64"


def test_a_pandas_index_shows_its_labels():
    assert line("cols", pd.Index(["a", "b"])).startswith("cols: Index  # 2 labels")


def test_numpy_arrays_show_shape_and_dtype_and_record_fields():
    assert line("a", np.zeros((100, 3))) == "a: ndarray  # shape (100, 3), dtype float64"
    table = np.zeros(4, dtype=[("station", "U4"), ("temp_celsius", "f8")])
    described = line("table", table)
    assert "station" in described and "temp_celsius" in described
    assert line("x", np.float64(2.5)) == "x: float64 = 2.5"
    assert line("m", np.ma.array([1, 2])) == "m: MaskedArray  # shape (2,), dtype int64"


def test_odd_frames_still_read_as_frames():
    assert line("empty", pd.DataFrame()) == "empty: DataFrame  # 0 rows × 0 columns"
    multi = pd.DataFrame(np.zeros((1, 2)), columns=pd.MultiIndex.from_tuples([("a", "x"), ("a", "y")]))
    assert line("multi", multi) == ("multi: DataFrame  # 1 row × 2 columns: "
                                    "('a', 'x'): float64, ('a', 'y'): float64")
    assert line("c", pd.DataFrame({"c": pd.Categorical(["u"])})) == \
        "c: DataFrame  # 1 row × 1 column: c: category"


def test_a_huge_dataframe_is_capped_and_quick():
    wide = pd.DataFrame(np.zeros((3, 10_000)), columns=[f"c{i}" for i in range(10_000)])
    described = line("wide", wide)
    assert described.startswith("wide: DataFrame  # 3 rows × 10,000 columns: c0: float64, c1:")
    assert described.endswith("…") and len(described) <= WIDTH
    assert best_of_three(lambda: describe_value("wide", wide, WIDTH)) < 0.05


def best_of_three(work: Any) -> float:
    """Seconds of the fastest of three runs: on a shared machine, the others include waits."""
    times = []
    for _ in range(3):
        started = time.perf_counter()
        work()
        times.append(time.perf_counter() - started)
    return min(times)


def test_an_object_that_only_looks_like_a_dataframe_is_not_read_as_one(calls):
    class DataFrame:  # not pandas's: its properties are the user's code
        @property
        def dtypes(self) -> Any:
            calls.append("dtypes")
            return {}

        @property
        def shape(self) -> Any:
            calls.append("shape")
            return (1, 1)

    assert line("df", DataFrame()) == "df: DataFrame  # attributes: dtypes, shape"
    assert calls == []


# -- builtin containers and scalars ----------------------------------------------------------

def test_a_dict_shows_its_keys_quoted_with_their_value_types():
    config = {"host": "localhost", "port": 5432, "debug": False}
    assert line("config", config) == "config: dict  # 3 keys: 'host': str, 'port': int, 'debug': bool"
    assert line("empty", {}) == "empty: dict  # empty"


def test_a_dict_of_records_shows_the_first_records_keys():
    by_name = {"Ada": {"home_town": "London", "born": 1815}, "Alan": {"home_town": "London"}}
    assert line("by_name", by_name).endswith("first value {'home_town': str, 'born': int}")


def test_lists_show_their_items_or_their_first_record():
    assert line("names", ["ann", "bob"]) == "names: list = ['ann', 'bob']"
    assert line("many", list(range(100))) == "many: list  # 100 items: 0, 1, 2, 3, 4, …"
    rows = [{"name": "a", "age": 3}] * 50
    assert line("rows", rows) == "rows: list  # 50 items, first {'name': str, 'age': int}"
    Point = collections.namedtuple("Point", "x y")
    assert line("points", [Point(1, 2)] * 3) == "points: list  # 3 items, first Point(x=1, y=2)"


def test_scalars_show_their_value():
    assert line("n", 42) == "n: int = 42"
    assert line("s", "hello") == "s: str = 'hello'"
    assert line("nothing", None) == "nothing = None"
    assert line("blob", b"\0" * 2048) == "blob: bytes  # 2,048 bytes"
    long_text = line("text", "x" * 1000)
    assert len(long_text) <= WIDTH and long_text.endswith("…'")


def test_named_tuples_and_simple_namespaces_show_their_fields():
    Point = collections.namedtuple("Point", "x y")
    assert line("p", Point(1.5, "a")) == "p: Point  # fields: x=1.5, y='a'"
    assert line("ns", types.SimpleNamespace(db_host="h", db_port=1)) == \
        "ns: types.SimpleNamespace  # attributes: db_host, db_port"


def test_huge_containers_are_capped_and_quick(calls):
    class Item:
        def __repr__(self) -> str:
            calls.append("repr")
            return "Item()"

    huge_dict = {i: i for i in range(1_000_000)}
    huge_list = [Item() for _ in range(100_000)]
    huge_set = set(range(1_000_000))
    assert line("d", huge_dict).startswith("d: dict  # 1,000,000 keys: 0: int, 1: int")
    assert line("items", huge_list) == "items: list  # 100,000 items, first Item()"
    assert line("s", huge_set).startswith("s: set  # 1,000,000 items: 0, 1, 2")
    for value in (huge_dict, huge_list, huge_set):
        assert best_of_three(lambda value=value: describe_value("v", value, WIDTH)) < 0.01
    assert calls == []


def test_a_dict_subclass_is_read_through_dict_itself(calls):
    class Tracking(dict):
        def __len__(self) -> int:
            calls.append("len")
            return 0

        def keys(self) -> Any:
            calls.append("keys")
            return []

        def __iter__(self) -> Any:
            calls.append("iter")
            return iter(())

    assert line("t", Tracking(a=1)) == "t: Tracking  # 1 key: 'a': int"
    assert calls == []


def test_keys_are_never_hashed_or_repred(calls):
    class Key:
        def __hash__(self) -> int:
            calls.append("hash")
            return 1

        def __repr__(self) -> str:
            calls.append("repr")
            return "Key()"

    table = {Key(): {"inner": 1}}
    calls.clear()  # building the dict hashed the key once
    assert line("table", table) == "table: dict  # 1 key: Key: dict; first value {'inner': int}"
    assert calls == []


# -- objects that must not run ---------------------------------------------------------------

def make_trap_class(calls: list[str]) -> type:
    class Meta(type):
        def __getattr__(cls, name: str) -> Any:
            calls.append(f"meta getattr {name}")
            raise AttributeError(name)

        def __repr__(cls) -> str:
            calls.append("meta repr")
            return "Meta"

        def __eq__(cls, other: object) -> bool:  # `type(x) in (...)` would ask this
            calls.append("meta eq")
            return False

        __hash__ = type.__hash__

    class Trap(metaclass=Meta):
        """A class whose every hook records that it ran."""

        level = 3

        def __init__(self, depth: int, *, mode: str = "fast") -> None:
            self.depth = depth
            self._hidden = 1

        @property
        def expensive(self) -> int:
            calls.append("property")
            return 1

        @property  # type: ignore[misc]
        def __class__(self) -> type:  # isinstance() asks this
            calls.append("__class__")
            return dict

        def __getattr__(self, name: str) -> Any:
            calls.append(f"getattr {name}")
            raise AttributeError(name)

        def __getattribute__(self, name: str) -> Any:
            calls.append(f"getattribute {name}")
            return object.__getattribute__(self, name)

        def __repr__(self) -> str:
            calls.append("repr")
            raise RuntimeError("repr must not run")

        def __len__(self) -> int:
            calls.append("len")
            return 0

        def train(self, epochs: int = 1) -> None:
            """Fit the model."""

        def predict(self, x: Any) -> Any:
            return x

    return Trap


def test_an_objects_properties_getattr_and_repr_are_not_run(calls):
    Trap = make_trap_class(calls)
    trap = Trap(2)
    calls.clear()
    assert line("trap", trap) == ("trap: Trap  # attributes: depth, level, expensive; "
                                  "methods: train, predict")
    assert line("Trap", Trap) == ("class Trap: ...  # Trap(depth, *, mode='fast'); "
                                  "methods: train, predict; A class whose every hook records "
                                  "that it ran.")
    assert calls == []


def test_a_dict_property_is_not_run(calls):
    class Sneaky:
        @property  # type: ignore[misc]
        def __dict__(self) -> dict[str, Any]:
            calls.append("__dict__")
            return {"x": 1}

        def method(self) -> None: ...

    assert line("s", Sneaky()) == "s: Sneaky  # methods: method"
    assert calls == []


def test_a_slots_object_lists_its_slots_unread(calls):
    class Slotted:
        __slots__ = ("alpha", "beta")

        def __init__(self) -> None:
            self.alpha = 1

    assert line("s", Slotted()) == "s: Slotted  # attributes: alpha, beta"


# -- functions, classes, modules -------------------------------------------------------------

def test_a_functions_signature_and_doc_line_without_running_its_defaults(calls):
    class Default:
        def __repr__(self) -> str:
            calls.append("default repr")
            return "Default()"

    def load(path, /, sep=",", *rest, header=True, marker=Default(), **options):  # noqa: B008
        """Read a table.

        More about it."""

    assert line("load", load) == ("def load(path, /, sep=',', *rest, header=True, marker=..., "
                                  "**options): ...  # Read a table.")
    assert calls == []


def test_a_signature_a_function_claims_is_not_trusted(calls):
    class Claim:
        @property
        def parameters(self) -> Any:
            calls.append("signature")
            return {}

    def f(a, b=2): ...

    f.__signature__ = Claim()  # type: ignore[attr-defined]
    assert line("f", f) == "def f(...): ..."
    assert calls == []


def test_a_wrapped_function_shows_the_wrapped_signature():
    def inner(x, *, scale=1.0): ...

    @functools.wraps(inner)
    def outer(*args, **kwargs): ...

    assert line("outer", outer) == "def outer(x, *, scale=1.0): ..."


def test_library_functions_and_classes_say_where_they_come_from():
    assert line("loads", json.loads) == "from json import loads"
    assert line("jl", json.loads) == "from json import loads as jl"
    assert line("Counter", collections.Counter) == "from collections import Counter"
    read_csv = line("read_csv", pd.read_csv)
    assert read_csv.startswith("from pandas") and read_csv.endswith(" import read_csv")


def test_enums_show_members():
    class Color(enum.Enum):
        RED = 1
        GREEN = 2

    assert line("Color", Color) == "class Color: ...  # members: RED, GREEN"
    assert line("c", Color.RED) == "c: Color = Color.RED"


def test_modules_are_imports_and_a_users_module_lists_its_names(tmp_path, monkeypatch):
    assert line("np", np) == "import numpy as np"
    assert line("json", json) == "import json"
    assert line("path", os.path).startswith("from ") or line("path", os.path).startswith("import ")
    module = user_module(tmp_path, monkeypatch)
    assert line("shoplib", module) == ("import shoplib  # names: RATE, load_orders(), Basket")


def user_module(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> types.ModuleType:
    (tmp_path / "shoplib.py").write_text(
        "import json\n"
        "_calls = []\n"
        "def __getattr__(name):  # a module's own attribute hook (PEP 562): must not run\n"
        "    _calls.append(name)\n"
        "    raise AttributeError(name)\n"
        "from collections import Counter\n"
        "RATE = 0.19\n"
        "def load_orders(path, *, convert_to='EUR', at_least=0.0):\n"
        "    '''Read the orders file.'''\n"
        "class Basket:\n"
        "    def __init__(self, owner):\n"
        "        self.owner = owner\n"
        "    def gross_total(self):\n"
        "        return 0\n"
        "    @classmethod\n"
        "    def empty(cls, *, owner='me'):\n"
        "        return cls(owner)\n", encoding="utf-8")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setitem(sys.modules, "shoplib", None)  # restored (removed) after the test
    del sys.modules["shoplib"]
    import shoplib  # type: ignore[import-not-found]

    return shoplib  # type: ignore[no-any-return]


def test_a_chain_into_the_users_module_shows_the_signature(tmp_path, monkeypatch):
    module = user_module(tmp_path, monkeypatch)
    namespace = {"sl": module, "json": json}
    text = describe(namespace, ["sl.load_orders", "sl.Basket.empty", "sl.Basket", "sl.missing",
                                "sl.RATE", "json.loads", "sl"])
    assert vars(module)["_calls"] == []
    assert text.splitlines() == [
        "# sl.load_orders(path, *, convert_to='EUR', at_least=0.0): Read the orders file.",
        "# sl.Basket.empty(*, owner='me')",
        "# sl.Basket(owner); methods: gross_total, empty",
        "import shoplib as sl  # names: RATE, load_orders(), Basket",
    ]


def test_a_users_module_is_followed_by_its_functions_with_the_room_left(tmp_path, monkeypatch):
    namespace = {"sl": user_module(tmp_path, monkeypatch), "n": 1}
    assert describe(namespace, ["sl", "n"]).splitlines() == [
        "import shoplib as sl  # names: RATE, load_orders(), Basket",
        "# sl.load_orders(path, *, convert_to='EUR', at_least=0.0): Read the orders file.",
        "# sl.Basket(owner); methods: gross_total, empty",
        "n: int = 1",  # last in the text, but given its room before the members are
    ]
    short = describe(namespace, ["sl", "n"], budget_chars=80)
    assert short.splitlines() == ["import shoplib as sl  # names: RATE, load_orders(), Basket",
                                  "n: int = 1"]


# -- describe: names, budget, order ----------------------------------------------------------

def test_names_not_in_the_namespace_private_or_the_kernels_give_nothing():
    namespace = {"_hidden": 1, "In": [""], "get_ipython": print, "x": 1}
    assert describe(namespace, ["missing", "_hidden", "In", "get_ipython", "missing.attr"]) == ""
    assert describe(namespace, ["x"]) == "x: int = 1"
    # Names that are not live (builtins, locals) do not use up the names looked at.
    assert describe(namespace, [f"local_{i}" for i in range(150)] + ["x"]) == "x: int = 1"


def test_lines_come_newest_first_and_stay_within_the_budget():
    namespace = {f"v{i}": {f"key_{j}": j for j in range(50)} for i in range(40)}
    order = [f"v{i}" for i in reversed(range(40))]
    text = describe(namespace, order, budget_chars=600, line_chars=120)
    lines = text.splitlines()
    assert len(text) <= 600 and all(len(line) <= 120 for line in lines)
    assert [line.split(":")[0] for line in lines] == order[: len(lines)]
    assert len(lines) >= 4


def test_a_long_line_left_out_does_not_stop_shorter_later_ones():
    namespace = {"wide": {f"k{i}": i for i in range(100)}, "n": 1}
    assert describe(namespace, ["wide", "n"], budget_chars=40) == "n: int = 1"


def test_a_value_whose_description_fails_is_left_out(monkeypatch):
    real = values_module.describe_value

    def flaky(name: str, value: Any, width: int) -> str | None:
        if name == "bad":
            raise ValueError("a library rejected it")
        return real(name, value, width)

    monkeypatch.setattr("qwen_magic.livedata.description.describe_value", flaky)
    assert describe({"bad": 1, "good": 2}, ["bad", "good"]) == "good: int = 2"


# -- names the cells use ---------------------------------------------------------------------

def test_names_come_from_the_newest_cell_first_and_the_last_use_first():
    cells = ["import pandas as pd\ndf = pd.read_csv('a.csv')",
             "from shoplib import load_orders as lo\nconfig = {}\nrows = lo('x')",
             "total = df.price.sum()"]
    # Within a line, a name bound there first (it is bound after the rest is read), then the
    # later column first; a chain before its root; each name once.
    assert names_used(cells) == ["total", "df.price.sum", "df.price", "df", "rows", "lo",
                                 "config", "pd.read_csv", "pd"]


def test_an_unfinished_cell_is_scanned_for_names():
    names = names_used(["x = 1", "expensive = orders[orders[\"", ])
    assert names[:3] == ["orders", "expensive", "x"]
    assert names_used(["y = geo.nearest(52.5, 13.4, =3)"])[:3] == ["geo.nearest", "geo", "y"]
    assert "if" not in names_used(["if flags[\""])


def test_ipython_syntax_is_read_through_the_front_ends_transform():
    from IPython.core.inputtransformer2 import TransformerManager

    transform = TransformerManager().transform_cell
    cells = ["%time result = model.fit(data)\n!ls\nsummary = result.describe()"]
    names = names_used(cells, transform)
    assert names[:3] == ["summary", "result.describe", "result"]
    assert names[3:] == ["get_ipython", "data", "model.fit", "model"]  # %time's code, read too


def test_each_cell_is_read_once():
    seen: list[str] = []

    def transform(source: str) -> str:
        seen.append(source)
        return source

    cell_names.cache_clear()
    cells = ["a = 1", "b = a + 1"]
    names_used(cells, transform)
    names_used([*cells, "c = b"], transform)
    assert seen == ["b = a + 1", "a = 1", "c = b"]


def test_the_package_imports_neither_ipython_nor_pandas_nor_numpy():
    code = ("import sys, qwen_magic.livedata as l\n"
            "l.describe({'x': 1}, l.names_used(['x = 1']))\n"
            "print(sorted(m for m in ('IPython', 'pandas', 'numpy') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60,
                         check=True)
    assert out.stdout.strip() == "[]"


def test_a_real_ipython_namespace_after_cells_ran():
    from IPython.core.interactiveshell import InteractiveShell

    shell = InteractiveShell.instance()
    try:
        cells = ["import json\nimport pandas as pd",
                 "def load(path, *, sep=','):\n    '''Read a table.'''\n    return path",
                 "class Model:\n    def fit(self, x): ...",
                 "df = pd.DataFrame({'price': [1.0]})\nm = Model()\n%time n = len(df)",
                 "m.fit(df)"]
        for cell in cells:
            assert shell.run_cell(cell).success
        names = names_used(cells, shell.transform_cell)
        text = describe(shell.user_ns, names)
        assert text.splitlines() == [
            "df: DataFrame  # 1 row × 1 column: price: float64",  # (m.fit(df): df is later)
            "m: Model  # methods: fit",
            "n: int = 1",
            "class Model: ...  # Model(); methods: fit",
            "import pandas as pd",
            "def load(path, *, sep=','): ...  # Read a table.",
            "import json",
        ]
        # In, Out, _, _i… are the kernel's; a name the cells never use is not described.
        assert describe(shell.user_ns, ["In", "Out", "_", "_i1", "_oh", "exit"]) == ""
    finally:
        InteractiveShell.clear_instance()
