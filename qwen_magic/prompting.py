"""Turning a cell into a prompt: ``{variable}`` interpolation and notebook context.

Plain Python (no IPython import): the magics pass in the user's namespace and the source of
earlier cells, and the unit tests drive these functions directly.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from .checking.examples import Examples, extract_examples
from .options import CHARS_PER_TOKEN, CONTEXT_TOKENS

# {{name}} is an escaped literal {name}; {name} names a variable; any other brace — dict
# literals, f-string bodies with expressions, unbalanced braces — is left exactly as written.
_PLACEHOLDER = re.compile(r"\{\{([A-Za-z_][A-Za-z0-9_]*)\}\}|\{([A-Za-z_][A-Za-z0-9_]*)\}")


def interpolate(
    prompt: str, namespace: Mapping[str, Any], notice: Callable[[str], object] | None = None
) -> str:
    """Replace ``{name}`` with ``str(namespace[name])``; unknown names stay, with a notice."""
    missing: list[str] = []

    def replace(match: re.Match[str]) -> str:
        escaped, name = match.group(1), match.group(2)
        if escaped:
            return "{" + escaped + "}"
        if name in namespace:
            return str(namespace[name])
        missing.append(name)
        return match.group(0)

    result = _PLACEHOLDER.sub(replace, prompt)
    if missing and notice:
        names = ", ".join("{" + n + "}" for n in dict.fromkeys(missing))
        notice(f"qwen: {names} is not a variable in this notebook; left as written "
               "(write {{name}} to mean a literal brace).")
    return result


def written_examples(prompt: str, namespace: Mapping[str, Any], *, literal: bool = False
                     ) -> Examples:
    """``--check``'s examples: those in ``prompt`` as the user wrote it, before interpolation.

    A variable's text goes to the model, never into the examples that run: ``>>> …`` lines
    inside a pasted document must not run as the user's own. ``{{name}}`` is read as the
    ``{name}`` it means; an example that uses a ``{name}`` placeholder of a variable is left
    out, since its value lives in the kernel, not in the check's process. A ``literal``
    prompt (not interpolated) is read as it is.
    """
    if literal:
        return extract_examples(prompt)
    found = extract_examples(_PLACEHOLDER.sub(lambda m: "{" + m.group(1) + "}" if m.group(1)
                                              else m.group(0), prompt))
    placeholders = {m.group(0) for m in _PLACEHOLDER.finditer(prompt)
                    if m.group(2) and m.group(2) in namespace}
    kept = [example for example in found
            if not any(p in example.source or p in (example.expected or "") for p in placeholders)]
    return Examples(kept, found.unreadable)


# -- notebook context ------------------------------------------------------------------------

_SKIP_TYPES = ("module", "function", "builtin_function_or_method", "type", "method")
_MAGIC_PREFIXES = ("%%qwen", "%qwen", "%load_ext", "%reload_ext", "%unload_ext", "%config")


def describe_value(value: Any, width: int = 80) -> str:
    """One line about a variable: its type and what matters for writing code against it."""
    kind = type(value).__name__
    module = type(value).__module__.split(".")[0]
    shape = getattr(value, "shape", None)
    if kind == "DataFrame" and hasattr(value, "dtypes"):
        columns = ", ".join(f"{c}: {t}" for c, t in list(value.dtypes.items())[:30])
        more = " …" if len(value.columns) > 30 else ""
        return f"pandas DataFrame, shape {tuple(shape or ())}, columns [{columns}{more}]"
    if kind == "Series" and hasattr(value, "dtype"):
        return f"pandas Series {getattr(value, 'name', None)!r}, length {len(value)}, dtype {value.dtype}"
    if shape is not None and hasattr(value, "dtype"):
        return f"{module}.{kind}, shape {tuple(shape)}, dtype {value.dtype}"
    if isinstance(value, (list, tuple, set, frozenset, dict)):
        sample = repr(value)
        sample = sample if len(sample) <= width else sample[: width - 1] + "…"
        return f"{kind} of {len(value)} items: {sample}"
    text = repr(value)
    text = text if len(text) <= width else text[: width - 1] + "…"
    return f"{kind}: {text}"


def describe_variables(namespace: Mapping[str, Any], hidden: Iterable[str] = ()) -> list[str]:
    hidden = set(hidden)
    lines = []
    for name, value in namespace.items():
        if name.startswith("_") or name in hidden or type(value).__name__ in _SKIP_TYPES:
            continue
        if name in {"In", "Out", "exit", "quit", "get_ipython"}:
            continue
        try:
            lines.append(f"{name}: {describe_value(value)}")
        except Exception:  # a broken __repr__ must not break the prompt
            lines.append(f"{name}: {type(value).__name__}")
    return lines


def build_context(
    cells: Iterable[str],
    namespace: Mapping[str, Any],
    *,
    hidden: Iterable[str] = (),
    budget_chars: int = CONTEXT_TOKENS.default * CHARS_PER_TOKEN,
) -> str:
    """The notebook so far, for ``--context``: earlier cells' code, then the variables.

    Cells come oldest first and variables last, so the next cell's prompt shares the longest
    possible prefix with this one and llama.cpp reuses its KV cache. The budget keeps the
    newest cells: the ones the request most likely refers to.
    """
    sources = [c.strip() for c in cells if c and c.strip() and not c.lstrip().startswith(_MAGIC_PREFIXES)]
    variables = describe_variables(namespace, hidden)
    var_text = "\n".join(variables[:50])
    remaining = max(0, budget_chars - len(var_text))
    kept: list[str] = []
    for source in reversed(sources):
        if len(source) + 10 > remaining:
            break
        kept.append(source)
        remaining -= len(source) + 10
    parts = []
    if kept:
        parts.append("Code already run in this notebook:\n```python\n"
                     + "\n\n".join(reversed(kept)) + "\n```")
    if var_text:
        parts.append("Variables defined now:\n" + var_text)
    return "\n\n".join(parts)


def compose_prompt(request: str, context: str | None) -> str:
    if not context:
        return request
    return f"{context}\n\nRequest: {request}"
