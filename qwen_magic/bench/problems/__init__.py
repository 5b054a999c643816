"""The check problem set: requests with visible examples, judged by hidden tests.

No public set of this kind ships offline except HumanEval (kept for an independent check),
so the bench's ``check`` section uses this one: one TOML file per category, each problem a
request as a user would type it (2–3 examples shown: doctest lines, ``assert`` lines or a
pasted docstring), the function it asks for, ≥ 5 hidden ``assert`` tests that judge the
answer, and a reference solution that passes them all (checked by the unit tests).

``fix.toml`` beside them is another set, the ``fix`` section's failing cells (``..fix_cases``).
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from importlib import resources

if sys.version_info >= (3, 11):
    import tomllib
else:  # Python 3.10: the same parser, from PyPI (a dependency there only)
    import tomli as tomllib

CATEGORIES = ("strings", "lists", "dicts", "math", "dates", "pandas")


@dataclass(frozen=True)
class Problem:
    id: str
    category: str
    request: str  # what the user asks, examples included
    entry_point: str  # the function the request asks for
    hidden_tests: tuple[str, ...]  # assert statements; never shown to the model
    reference: str  # a solution that passes the examples and the hidden tests


def load_problems(categories: tuple[str, ...] = CATEGORIES) -> list[Problem]:
    """Every problem of ``categories``, in file order."""
    problems: list[Problem] = []
    for category in categories:
        text = resources.files(__package__).joinpath(f"{category}.toml").read_text("utf-8")
        for entry in tomllib.loads(text)["problem"]:
            problems.append(Problem(
                id=entry["id"], category=category, request=entry["request"].strip(),
                entry_point=entry["entry_point"], hidden_tests=tuple(entry["hidden_tests"]),
                reference=entry["reference"].strip() + "\n"))
    return problems


__all__ = ["CATEGORIES", "Problem", "load_problems"]
