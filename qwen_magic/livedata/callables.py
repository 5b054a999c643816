"""The call signature and first docstring line of a function or class, read without calling.

``inspect.signature`` is not used: it honours a ``__signature__`` or ``__text_signature__``
the object itself supplies (any object, any code), follows ``__wrapped__`` to whatever it
names, evaluates a builtin's default expressions in its module, renders defaults and
annotations with ``repr``, and on Python 3.14 evaluates deferred annotations. Here a plain
function's parameters come from its code object and defaults — exactly what ``inspect`` reads
for one — a builtin's from CPython's own ``__text_signature__`` text, and defaults are shown
only when they are literals of builtin types (``...`` otherwise).
"""

from __future__ import annotations

import re
import types
from typing import Any

from . import static

_CO_VARARGS, _CO_VARKEYWORDS = 0x04, 0x08
_TEXT_SIGNATURE = type.__dict__["__text_signature__"]
#: Attributes by which a function asks ``inspect`` to describe it otherwise: not trusted.
_SIGNATURE_OVERRIDES = ("__signature__", "__text_signature__", "_partialmethod",
                        "__partialmethod__")
_WRAPPED_DEPTH = 4
_BOUND_MARKER = re.compile(r"^\(\$\w+(?:,\s*)?(?:/(?:,\s*)?)?")  # "($self, /, " → "("
_SAFE_SCALARS = (int, float, complex, bool, str, bytes, type(None), type(Ellipsis))


def literal(value: Any, width: int = 40) -> str | None:
    """``repr`` of a literal of a builtin type (its exact type: a subclass may override it)."""
    if static.is_type(value, *_SAFE_SCALARS):
        text = repr(value)
        if len(text) > width:  # str / bytes: cut inside the quotes, so it still reads as one
            text = text[: width - 4] + "…" + text[-1]
        return text
    if static.is_type(value, tuple, list) and len(value) <= 4:
        items = [literal(item, width // 2) for item in value]
        if all(item is not None for item in items):
            inner = ", ".join(items)  # type: ignore[arg-type]
            if type(value) is tuple:
                return f"({inner},)" if len(items) == 1 else f"({inner})"
            return f"[{inner}]"
    return None


def _unwrapped(func: types.FunctionType) -> types.FunctionType:
    """Through ``functools.wraps`` layers, as long as each one is a plain function."""
    for _ in range(_WRAPPED_DEPTH):
        inner = (static.instance_dict(func) or {}).get("__wrapped__")
        if type(inner) is not types.FunctionType:
            break
        func = inner
    return func


def function_parameters(func: types.FunctionType, skip_first: bool = False) -> str | None:
    """``"(path, *, sep=',', header=True)"``: a Python function's parameters."""
    func = _unwrapped(func)
    own = static.instance_dict(func) or {}
    if any(name in own for name in _SIGNATURE_OVERRIDES):
        return None
    code = func.__code__  # these are CPython's slots of a function: no user code runs
    defaults = func.__defaults__ or ()
    kwdefaults = func.__kwdefaults__ or {}
    if type(code) is not types.CodeType or type(defaults) is not tuple or type(kwdefaults) is not dict:
        return None
    names = code.co_varnames
    n_pos, n_posonly, n_kwonly = code.co_argcount, code.co_posonlyargcount, code.co_kwonlyargcount
    first_default = n_pos - len(defaults)
    parts: list[str] = []
    for i, name in enumerate(names[:n_pos]):
        parts.append(_with_default(name, defaults[i - first_default] if i >= first_default else
                                   static.MISSING))
        if n_posonly and i == n_posonly - 1:
            parts.append("/")
    at = n_pos + n_kwonly
    if code.co_flags & _CO_VARARGS:
        parts.append("*" + names[at])
        at += 1
    elif n_kwonly:
        parts.append("*")
    for name in names[n_pos:n_pos + n_kwonly]:
        parts.append(_with_default(name, kwdefaults.get(name, static.MISSING)))
    if code.co_flags & _CO_VARKEYWORDS:
        parts.append("**" + names[at])
    if skip_first and parts and parts[0] not in ("/", "*") and not parts[0].startswith("*"):
        parts = parts[1:]
        if parts and parts[0] == "/":
            parts = parts[1:]
    return "(" + ", ".join(parts) + ")"


def _with_default(name: str, default: Any) -> str:
    if default is static.MISSING:
        return name
    return f"{name}={literal(default) or '...'}"


def _text_signature(text: Any) -> str | None:
    """CPython's own text (``"($module, x, /)"``) without its bound first parameter (and
    without the ``/`` right after it, which then marks nothing)."""
    if type(text) is not str or not text.startswith("("):
        return None
    return _BOUND_MARKER.sub("(", text)


def class_parameters(cls: type) -> str | None:
    """How to call a class: its ``__init__`` (or ``__new__``) without the first parameter."""
    init, new = static.class_lookup(cls, "__init__"), static.class_lookup(cls, "__new__")
    if type(new) is staticmethod:
        new = new.__func__
    for found in (init, new):
        if type(found) is types.FunctionType:
            return function_parameters(found, skip_first=True)
    if init is object.__init__ and new is object.__new__:
        return "()"
    return _text_signature(_TEXT_SIGNATURE.__get__(cls, type))


def parameters(func: Any, skip_first: bool = False) -> str | None:
    """The parameters of a function (``skip_first``: as a classmethod's, without ``cls``),
    bound method, builtin or class; None when unknown."""
    kind = type(func)
    if kind is types.FunctionType:
        return function_parameters(func, skip_first)
    if kind is types.MethodType and type(func.__func__) is types.FunctionType:
        return function_parameters(func.__func__, skip_first=True)
    if kind is types.BuiltinFunctionType:
        return _text_signature(func.__text_signature__)
    if static.is_class(func):
        return class_parameters(func)
    return None


def first_doc_line(func: Any, width: int = 72) -> str:
    """The first line of a function's or class's own docstring ("" when it has none)."""
    if static.is_type(func, types.FunctionType, types.BuiltinFunctionType):
        doc = func.__doc__
    elif type(func) is types.MethodType and type(func.__func__) is types.FunctionType:
        doc = func.__func__.__doc__
    elif static.is_class(func):
        doc = static.class_dict(func).get("__doc__")
    else:
        return ""
    if type(doc) is not str:
        return ""
    line = next((line.strip() for line in doc.splitlines() if line.strip()), "")
    return line if len(line) <= width else line[: width - 1] + "…"
