"""Reading an object's type and attributes without running any of its code.

``obj.attr``, ``hasattr``, ``isinstance`` and ``repr`` can all run code the user wrote: a
property, ``__getattr__``, a ``__class__`` property (which ``isinstance`` consults), a
metaclass's attribute hooks, ``__repr__``. Everything here goes through ``type``'s own C-level
descriptors and plain dictionary lookups instead, so describing a value never runs user code
— the same rule ``inspect.getattr_static`` follows, kept stricter: that function reads an
instance's ``__dict__`` with ``object.__getattribute__``, which runs a ``__dict__`` property.
"""

from __future__ import annotations

import sys
import sysconfig
import types
from collections.abc import Mapping
from pathlib import Path
from typing import Any

# type's own slots, read through its descriptors: a metaclass cannot intercept these.
_MRO = type.__dict__["__mro__"]
_CLASS_DICT = type.__dict__["__dict__"]
_NAME = type.__dict__["__name__"]
_MODULE = type.__dict__["__module__"]
#: A ``__dict__`` of these types is CPython's own slot; any other (a property, say) is code.
_C_DESCRIPTORS = (types.GetSetDescriptorType, types.MemberDescriptorType)
#: What a lookup returns for a name that is not there (None may be a stored value).
MISSING: Any = object()


def mro(cls: type) -> tuple[type, ...]:
    return tuple(_MRO.__get__(cls, type))


def class_dict(cls: type) -> Mapping[str, Any]:
    return _CLASS_DICT.__get__(cls, type)


def type_name(cls: type) -> str:
    """``Order`` (its ``__name__``: a class made in a function is still called by it)."""
    name = _NAME.__get__(cls, type)
    return name if type(name) is str else "object"


def from_package(cls: type, package: str) -> bool:
    """Whether ``cls`` is defined in ``package`` (pandas 3 says "pandas" for its public types)."""
    module = type_module(cls)
    return module == package or module.startswith(package + ".")


def type_module(cls: type) -> str:
    module = _MODULE.__get__(cls, type)
    return module if type(module) is str else ""


def is_type(value: Any, *candidates: type) -> bool:
    """``type(value)`` is one of ``candidates``, by identity: ``type(value) in (...)`` would
    compare with ``==``, which a metaclass may define."""
    kind = type(value)
    return any(kind is candidate for candidate in candidates)


def is_class(value: Any) -> bool:
    return issubclass(type(value), type)  # the real type: isinstance would ask __class__


def instance_dict(value: Any) -> dict[str, Any] | None:
    """``value.__dict__`` when it is CPython's own slot (instances, modules); else None."""
    for klass in mro(type(value)):
        descriptor = class_dict(klass).get("__dict__", MISSING)
        if descriptor is MISSING:
            continue
        if not is_type(descriptor, *_C_DESCRIPTORS):
            return None  # a __dict__ written in Python: running it would run user code
        try:
            found = descriptor.__get__(value, type(value))
        except Exception:
            return None
        return found if type(found) is dict else None
    return None


def class_lookup(cls: type, name: str) -> Any:
    """What ``cls.name`` is stored as (a function, a property, a classmethod…), or MISSING."""
    for klass in mro(cls):
        found = class_dict(klass).get(name, MISSING)
        if found is not MISSING:
            return found
    return MISSING


def is_module(value: Any) -> bool:
    return issubclass(type(value), types.ModuleType)


def lookup(value: Any, name: str) -> Any:
    """An attribute of a module or a class as stored, never evaluated; MISSING when absent
    (or when ``value`` is neither: an instance's attributes may be computed by its code)."""
    if is_module(value):
        return (instance_dict(value) or {}).get(name, MISSING)
    if is_class(value):
        return class_lookup(value, name)
    return MISSING


_library_types: dict[tuple[str, str], tuple[Any, Any]] = {}


def library_type(module: str, name: str) -> Any:
    """``module.name`` if that module has been imported (never imports it); else MISSING.

    Remembered while the module stays the same object: every value is checked against a
    dozen of these.
    """
    loaded = sys.modules.get(module)
    if loaded is None:
        return MISSING
    remembered = _library_types.get((module, name))
    if remembered is not None and remembered[0] is loaded:
        return remembered[1]
    found = lookup(loaded, name)
    _library_types[(module, name)] = (loaded, found)
    return found


def module_name(module: types.ModuleType) -> str:
    name = (instance_dict(module) or {}).get("__name__")
    return name if type(name) is str else "module"


# -- where code comes from -------------------------------------------------------------------

def _library_roots() -> tuple[str, ...]:
    paths = sysconfig.get_paths()
    roots = {paths[key] for key in ("stdlib", "platstdlib", "purelib", "platlib") if key in paths}
    return tuple(str(Path(root).resolve()) + "/" for root in roots)


_LIBRARY_ROOTS = _library_roots()
_library_cache: dict[str, bool] = {}


def is_library(module: str) -> bool:
    """Whether ``module`` is the standard library or an installed package (the model knows
    those); a module of the user's own (a file beside the notebook) is not.

    Remembered per module name: modules do not move while a kernel runs.
    """
    top = module.split(".", 1)[0]
    if top in ("__main__", ""):
        return False  # the notebook itself (in a kernel, __main__ is ipykernel's launcher)
    if top in _library_cache:
        return _library_cache[top]
    if top in sys.builtin_module_names or top in getattr(sys, "stdlib_module_names", ()):
        known = True
    else:
        loaded = sys.modules.get(top)
        if loaded is None:
            return False  # not imported (yet): nothing to remember
        file = (instance_dict(loaded) or {}).get("__file__")
        known = type(file) is str and str(Path(file).resolve()).startswith(_LIBRARY_ROOTS)
    _library_cache[top] = known
    return known
