"""One line of Python about one live value, from an allow-list of types.

What each kind of value shows (``name`` is the variable)::

    df: DataFrame  # 1,000 rows × 3 columns: price: float64, city: object, sold: bool
    s: Series  # 1,000 values, dtype float64, name price; index: 'Berlin', 'Paris', …
    a: ndarray  # shape (100, 3), dtype float64
    config: dict  # 3 keys: 'host': str, 'port': int, 'debug': bool
    rows: list  # 120 items, first {'name': str, 'age': str}
    n: int = 42
    def load(path, *, sep=',', header=True): ...  # Read a table.
    class Order: ...  # Order(sku, qty=1); methods: total, describe
    order: Order  # attributes: sku, qty; methods: total, describe
    import numpy as np
    import shoplib  # names: load_orders(), Order, TAX_RATE

pandas and numpy objects are recognised by their exact type, looked up in ``sys.modules``
(never imported: if pandas is not loaded, no value is a DataFrame), and only their own
accessors run. Builtin containers are read through the builtin type's own methods
(``dict.__len__(value)``), which a subclass cannot override; only the first few items are
looked at, so a dict of a million keys costs what one of ten does. Functions, classes and
modules are read statically (:mod:`.static`, :mod:`.callables`). Nothing else is evaluated:
no property, no ``__getattr__``, no ``__repr__`` of an object this module does not know — an
unknown object shows its type and its attribute names, read from dictionaries.

``prompting.describe_value`` (``%%qwen --context``) is not reused: it calls ``repr`` on
containers and on any other object and ``hasattr`` on anything named DataFrame, and it reads
every column of a wide frame; its output for ``--context`` stays as it is.
"""

from __future__ import annotations

import collections
import itertools
import sys
import types
from collections.abc import Iterable
from typing import Any

from . import static
from .callables import first_doc_line, literal, parameters

ITEMS = 5  # items of a container shown
KEYS = 8  # keys of a dict (or of the first record in a container) shown
COLUMNS = 40  # DataFrame columns looked at (the line's width usually stops earlier)
NAMES = 12  # attributes / methods listed
LABEL_WIDTH = 40

#: Library types whose ``repr`` is the library's own and short: ``start: date = date(2024, 1, 31)``.
_REPR_TYPES = (("datetime", "date"), ("datetime", "datetime"), ("datetime", "time"),
               ("datetime", "timedelta"), ("decimal", "Decimal"), ("fractions", "Fraction"),
               ("pathlib", "PosixPath"), ("pathlib", "WindowsPath"), ("uuid", "UUID"),
               ("re", "Pattern"))
_SEQUENCES: tuple[type, ...] = (list, tuple, set, frozenset, collections.deque)
_FUNCTIONS = (types.FunctionType, types.BuiltinFunctionType)
_METHOD_TYPES = (types.FunctionType, classmethod, staticmethod, types.BuiltinFunctionType,
                 types.MethodDescriptorType)


def describe_value(name: str, value: Any, width: int) -> str | None:
    """The line for ``name``, about ``width`` characters at most; None: nothing to say."""
    for describe in (_scalar, _pandas, _numpy, _container, _callable, _module, _known_repr):
        line = describe(name, value, width)
        if line is not None:
            return line
    return _instance(name, value)


# -- pieces ----------------------------------------------------------------------------------

def label(value: Any, bare: bool = True) -> str:
    """A column label (``bare``: an identifier unquoted, as ``df.price`` writes it) or a key
    (quoted, as ``config['host']`` writes it): its literal, else its type's name."""
    if bare and type(value) is str and value.isidentifier():
        return value
    return literal(value, LABEL_WIDTH) or static.type_name(type(value))


def joined(parts: Iterable[str], room: int, total: int | None = None) -> str:
    """``parts`` joined with ", " as far as ``room`` allows; ``…`` where some were left out."""
    out: list[str] = []
    used = 0
    cut = False
    for part in parts:
        if out and used + len(part) + 2 > room - 3:
            cut = True
            break
        out.append(part)
        used += len(part) + 2
    if cut or (total is not None and total > len(out)):
        out.append("…")
    return ", ".join(out)


def _count(n: int, noun: str) -> str:
    return f"{n:,} {noun}" if n == 1 else f"{n:,} {noun}s"


def _comment(head: str, details: str) -> str:
    return f"{head}  # {details}" if details else head


def _room(head: str, details: str, width: int) -> int:
    """What is left of the line for a list after ``head  # details``."""
    return max(20, width - len(head) - 4 - len(details))


def qualified(cls: type) -> str:
    """``Order`` for the user's own class; ``csv.DictReader`` for a library's."""
    module, name = static.type_module(cls), static.type_name(cls)
    if module == "builtins" or not static.is_library(module):
        return name
    parts = module.split(".")
    if parts[0].startswith("_") and parts[0][1:] in sys.modules:
        parts[0] = parts[0][1:]  # _io.TextIOWrapper is io.TextIOWrapper to its users
    # csv.DictReader, urllib.parse.SplitResult; pandas.DataFrameGroupBy, not its long home
    return ".".join(parts if len(parts) <= 2 else parts[:1]) + f".{name}"


def _brief(value: Any) -> str:
    """An item inside a container: a record's keys or fields, a literal, else its type."""
    if issubclass(type(value), dict):
        size = dict.__len__(value)
        # Items, not lookups by key: a lookup would hash the key, and __hash__ may be the user's.
        keys = [f"{label(k, bare=False)}: {static.type_name(type(v))}"
                for k, v in itertools.islice(dict.items(value), KEYS)]
        return "{" + ", ".join(keys) + (", …" if size > KEYS else "") + "}"
    fields = _fields(type(value))
    pairs: Iterable[tuple[str, Any]]
    if fields is not None:
        pairs = zip(fields, tuple.__iter__(value))
    elif not static.is_library(static.type_module(type(value))):
        # An object of the user's own class: its attributes (as ``obj.`` would list them).
        pairs = ((key, item) for key, item in (static.instance_dict(value) or {}).items()
                 if type(key) is str and not key.startswith("_"))
    else:
        return literal(value, LABEL_WIDTH) or static.type_name(type(value))
    shown = [f"{key}={literal(item, LABEL_WIDTH) or static.type_name(type(item))}"
             for key, item in itertools.islice(pairs, KEYS)]
    return f"{static.type_name(type(value))}({', '.join(shown)})"


def _fields(kind: type) -> tuple[str, ...] | None:
    """A named tuple's field names (from its class's dictionary), else None."""
    if not issubclass(kind, tuple):
        return None
    fields = static.class_lookup(kind, "_fields")
    if type(fields) is tuple and all(type(field) is str for field in fields):
        return fields
    return None


# -- the allow-list --------------------------------------------------------------------------

def _scalar(name: str, value: Any, width: int) -> str | None:
    if value is None:
        return f"{name} = None"
    if static.is_type(value, bytes, bytearray):
        return f"{name}: {type(value).__name__}  # {len(value):,} bytes"
    text = literal(value, max(20, width - len(name) - 10))
    return None if text is None else f"{name}: {type(value).__name__} = {text}"


def _known_repr(name: str, value: Any, width: int) -> str | None:
    for module, type_name in _REPR_TYPES:
        if type(value) is static.library_type(module, type_name):
            text = repr(value)
            room = max(20, width - len(name) - len(type_name) - 6)
            return f"{name}: {type_name} = {text if len(text) <= room else text[: room - 1] + '…'}"
    return None


def _pandas(name: str, value: Any, width: int) -> str | None:
    kind = type(value)
    if kind is static.library_type("pandas", "DataFrame"):
        rows, n_columns = value.shape
        head = f"{name}: DataFrame"
        about = f"{_count(rows, 'row')} × {_count(n_columns, 'column')}"
        about += ": " if n_columns else ""
        index = _index_note(value.index)
        shown = value if n_columns <= COLUMNS else value.iloc[:, :COLUMNS]
        columns = (f"{label(c)}: {d}" for c, d in zip(shown.columns, shown.dtypes))
        return _comment(head, about + joined(columns, _room(head, about + index, width),
                                             n_columns) + index)
    if kind is static.library_type("pandas", "Series"):
        head = f"{name}: Series"
        about = f"{len(value):,} values, dtype {value.dtype}"
        if value.name is not None:
            about += f", name {label(value.name)}"
        return _comment(head, about + _index_note(value.index, _room(head, about, width)))
    index_type = static.library_type("pandas", "Index")
    if static.is_class(index_type) and issubclass(kind, index_type) \
            and static.from_package(kind, "pandas"):
        head = f"{name}: {static.type_name(kind)}"
        about = f"{len(value):,} labels, dtype {value.dtype}: "
        return _comment(head, about + joined((label(v) for v in value[:ITEMS]),
                                             _room(head, about, width), len(value)))
    return None


def _index_note(index: Any, room: int = 60) -> str:
    """The row labels, unless they are just 0…n-1: what ``.loc[`` and ``[`` take."""
    if static.type_name(type(index)) == "RangeIndex":
        return ""
    named = f" {label(index.name)}" if index.name is not None else ""
    if str(index.dtype) in ("object", "string", "category", "str"):
        labels = joined((label(v, bare=False) for v in index[:ITEMS]), room, len(index))
        return f"; index{named}: {labels}"
    return f"; index{named}: {index.dtype}"


def _numpy(name: str, value: Any, width: int) -> str | None:
    kind = type(value)
    ndarray = static.library_type("numpy", "ndarray")
    if kind is ndarray or (static.is_class(ndarray) and issubclass(kind, ndarray)
                           and static.from_package(kind, "numpy")):  # numpy's own: ma, matrix
        head = f"{name}: {static.type_name(kind)}"
        about = f"shape {tuple(value.shape)}, dtype "
        fields = value.dtype.names
        if not fields:
            return _comment(head, about + str(value.dtype))
        # A record array: its fields are what ``table["`` takes.
        parts = (f"{label(f)}: {value.dtype.fields[f][0]}" for f in fields[:COLUMNS])
        return _comment(head, about + "records: " + joined(
            parts, _room(head, about + "records: ", width), len(fields)))
    generic = static.library_type("numpy", "generic")
    if static.is_class(generic) and issubclass(kind, generic) and static.from_package(kind, "numpy"):
        return f"{name}: {static.type_name(kind)} = {str(value)[:LABEL_WIDTH]}"
    return None


def _container(name: str, value: Any, width: int) -> str | None:
    kind = type(value)
    if issubclass(kind, dict):
        return _dict(name, value, width)
    base: Any = next((b for b in _SEQUENCES if issubclass(kind, b)), None)
    if base is None:
        return None
    head = f"{name}: {qualified(kind)}"
    fields = _fields(kind)
    if fields is not None:
        parts = (f"{field}={literal(item, LABEL_WIDTH) or static.type_name(type(item))}"
                 for field, item in zip(fields, tuple.__iter__(value)))
        return _comment(head, "fields: " + joined(parts, _room(head, "fields: ", width)))
    size = base.__len__(value)
    if not size:
        return _comment(head, "empty")
    first = list(itertools.islice(base.__iter__(value), ITEMS))
    shown = [literal(item, LABEL_WIDTH) for item in first]
    about = f"{size:,} items" if size != 1 else "1 item"
    if all(text is not None for text in shown):
        return _comment(head, about + ": " + joined(
            shown, _room(head, about, width), size))  # type: ignore[arg-type]
    return _comment(head, f"{about}, first {_brief(first[0])}")


def _dict(name: str, value: dict[Any, Any], width: int) -> str:
    head = f"{name}: {static.type_name(type(value))}"
    size = dict.__len__(value)
    if not size:
        return _comment(head, "empty")
    about = f"{size:,} keys: " if size != 1 else "1 key: "
    items = list(itertools.islice(dict.items(value), KEYS))
    # Records keyed by name ({'Ada': {...}, ...}): the first one's keys are what comes next.
    first = items[0][1]
    record = f"; first value {_brief(first)}" if issubclass(type(first), dict) \
        or _fields(type(first)) is not None else ""
    keys = (f"{label(k, bare=False)}: {static.type_name(type(v))}" for k, v in items)
    return _comment(head, about + joined(keys, _room(head, about + record, width), size) + record)


# -- functions, classes, modules -------------------------------------------------------------

def _callable(name: str, value: Any, width: int) -> str | None:
    value = unwrapped(value)
    is_class = static.is_class(value)
    if not is_class and not static.is_type(value, *_FUNCTIONS, types.MethodType):
        return None
    if type(value) is not types.MethodType and is_library_callable(value):
        module = static.type_module(value) if is_class else function_module(value)
        own_name = static.type_name(value) if is_class else _function_name(value)
        alias = "" if own_name == name else f" as {name}"
        return f"from {module} import {own_name}{alias}"
    call, notes = call_and_notes(value)
    if not is_class:
        return _comment(f"def {name}{call or '(...)'}: ...", notes)
    if static.class_lookup(value, "_member_names_") is not static.MISSING:
        call = None  # an enum: its members say more than EnumType's (*args, **kwds)
    return _comment(f"class {name}: ...", "; ".join(
        note for note in (f"{name}{call}" if call else "", notes) if note))


def unwrapped(value: Any) -> Any:
    """The function a decorator object wraps (``functools.lru_cache``, ``functools.wraps``
    style: ``__wrapped__`` in its own dictionary), else ``value``."""
    for _ in range(4):
        if static.is_class(value) or static.is_type(value, *_FUNCTIONS):
            break
        inner = (static.instance_dict(value) or {}).get("__wrapped__", static.MISSING)
        if inner is static.MISSING:
            break
        value = inner
    return value


def defined_in(value: Any) -> str:
    """The module a function or class was defined in ("" when unknown)."""
    return static.type_module(value) if static.is_class(value) else function_module(value)


def is_library_callable(value: Any) -> bool:
    """A function or class of the standard library or an installed package."""
    module = defined_in(value)
    return bool(module) and static.is_library(module)


def call_and_notes(value: Any, skip_first: bool = False) -> tuple[str | None, str]:
    """How a function or class is called (``"(path, *, sep=',')"``; None: unknown), and a
    note: a class's methods or an enum's members, then the first docstring line."""
    notes = []
    if static.is_class(value):
        members = static.class_lookup(value, "_member_names_")
        if type(members) is list:
            notes.append("members: " + joined(members, 60, len(members)))
        else:
            methods = _members(value)[1]
            if methods:
                notes.append("methods: " + joined(methods[:NAMES], 60, len(methods)))
    call = parameters(value, skip_first)
    doc = first_doc_line(value)
    if not (static.is_class(value) and doc.startswith(static.type_name(value) + "(")):
        notes.append(doc)  # (a named tuple's docstring only repeats its call)
    return call, "; ".join(note for note in notes if note)


def function_module(func: Any) -> str:
    """A function's or builtin's ``__module__`` (CPython's own slot for both)."""
    if type(func) is types.MethodType:
        func = func.__func__
    module = func.__module__ if static.is_type(func, *_FUNCTIONS) else ""
    return module if type(module) is str else ""


def _function_name(func: Any) -> str:
    found = func.__name__ if static.is_type(func, *_FUNCTIONS) else ""
    return found if type(found) is str else ""


def _module(name: str, value: Any, width: int) -> str | None:
    if not static.is_module(value):
        return None
    module = static.module_name(value)
    package, _, last = module.rpartition(".")
    if name == module:
        head = f"import {module}"
    elif last == name and package:
        head = f"from {package} import {name}"
    else:
        head = f"import {module} as {name}"
    if static.is_library(module):
        return head
    names: list[str] = []
    for key, item in (static.instance_dict(value) or {}).items():
        if len(names) > NAMES * 2:
            break
        if type(key) is not str or key.startswith("_") or static.is_module(item):
            continue
        if static.is_class(item) and static.type_module(item) != module:
            continue  # imported into it, not its own
        if static.is_type(item, *_FUNCTIONS):
            if function_module(item) != module:
                continue
            key += "()"
        names.append(key)
    if not names:
        return head
    return _comment(head, "names: " + joined(names, _room(head, "names: ", width), len(names)))


def _members(cls: type) -> tuple[list[str], list[str]]:
    """Public (attributes, methods) of a class and its user-defined bases, as stored."""
    attributes: list[str] = []
    methods: list[str] = []
    seen: set[str] = set()
    library = static.is_library(static.type_module(cls))
    for klass in static.mro(cls):
        if klass is object or (not library and static.is_library(static.type_module(klass))):
            continue  # a library base's methods: the model knows them
        for key, item in static.class_dict(klass).items():
            if type(key) is not str or key.startswith("_") or key in seen:
                continue
            seen.add(key)
            if static.is_type(item, *_METHOD_TYPES):
                methods.append(key)
            else:  # properties, slots, class constants: read as attributes
                attributes.append(key)
        if library:
            break  # the type's own entries are enough for a library type
    return attributes, methods


def _instance(name: str, value: Any) -> str:
    """Any other object: its type, then its attribute and method names (never their values)."""
    kind = type(value)
    head = f"{name}: {qualified(kind)}"
    own_dict = static.instance_dict(value) or {}
    enum_name = own_dict.get("_name_")
    if type(enum_name) is str and static.class_lookup(kind, "_member_names_") is not static.MISSING:
        return f"{head} = {static.type_name(kind)}.{enum_name}"
    own = [key for key in itertools.islice(own_dict, NAMES * 4)
           if type(key) is str and not key.startswith("_")]
    notes = []
    methods: list[str]
    if static.is_library(static.type_module(kind)):
        # A library's object: the model knows its type's members; the data put on it is new.
        attributes, methods = own, []
    else:
        class_attributes, methods = _members(kind)
        attributes = list(dict.fromkeys(own + class_attributes))
    if attributes:
        notes.append("attributes: " + joined(attributes[:NAMES], 70, len(attributes)))
    if methods:
        notes.append("methods: " + joined(methods[:NAMES], 70, len(methods)))
    return _comment(head, "; ".join(notes))
