"""The ``examples`` section: how many of the examples people write ``--check`` finds.

``--check`` can only check what it finds in a request. The corpus (data/docstrings.jsonl,
described in data/README.md) holds real docstrings from public code with the examples a
person reads in them, written down by hand. Each docstring goes through
:func:`~qwen_magic.checking.examples.extract_examples` as a user would paste it, and every
example found is compared with the person's:

* **recall**: the person's examples that were found / all the person's examples;
* **precision**: the examples found that the person reads too / all examples found. An
  example the person does not read (a type signature taken for a call, a recurrence taken
  for a value) makes correct code fail, so a false example costs more than a missed one.

An example found matches the person's when the calls are the same expression (keyword
arguments bound to the documented function's parameters) and the expected values are the
same Python value (``6.00`` is ``6.0``; a traceback compares its exception line). Nothing
here runs: both sides are only parsed. The section needs no model.
"""

from __future__ import annotations

import ast
import json
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from importlib import resources
from typing import Any

from ..checking.examples import Example, extract_examples

Progress = Callable[[str], None]
Extract = Callable[[str], list[Example]]

CORPUS = "data/docstrings.jsonl"


@dataclass(frozen=True)
class Read:
    """One example as a person reads it: a call (or a doctest statement) and what it gives."""

    call: str
    expected: str
    mutates: bool = False  # the expected value is the argument after the call, not the result


@dataclass(frozen=True)
class Docstring:
    id: str
    repo: str
    path: str
    function: str
    text: str
    forms: tuple[str, ...]
    examples: tuple[Read, ...]


def load_corpus() -> list[Docstring]:
    """The corpus, in file order."""
    text = resources.files(__package__).joinpath(CORPUS).read_text("utf-8")
    corpus = []
    for line in text.splitlines():
        entry = json.loads(line)
        corpus.append(Docstring(
            id=entry["id"], repo=entry["repo"], path=entry["path"], function=entry["function"],
            text=entry["text"], forms=tuple(entry["forms"]),
            examples=tuple(Read(e["call"], e["expected"], bool(e.get("mutates")))
                           for e in entry["examples"])))
    return corpus


# -- reading an extracted example the way the corpus is written ---------------------------


def as_read(example: Example) -> Read:
    """The call and expected value a person would read in ``example``."""
    if example.expected is not None:
        return Read(example.source, example.expected)
    try:
        statement = ast.parse(example.source).body[0]
    except (SyntaxError, ValueError, IndexError):
        return Read(example.source, "True")
    if not isinstance(statement, ast.Assert):
        return Read(example.source, "True")
    test = statement.test
    if isinstance(test, ast.Compare) and len(test.ops) == 1 and isinstance(test.ops[0], (ast.Eq, ast.Is)):
        return Read(ast.unparse(test.left), ast.unparse(test.comparators[0]))
    if isinstance(test, ast.UnaryOp) and isinstance(test.op, ast.Not):
        return Read(ast.unparse(test.operand), "False")
    return Read(ast.unparse(test), "True")


def parameters(text: str) -> dict[str, list[str]]:
    """The parameter names of every function ``text`` defines (``self`` left out)."""
    found: dict[str, list[str]] = {}
    for match in re.finditer(r"^\s*def\s+(\w+)\s*\(([^)]*)\)", text, re.MULTILINE):
        names = [part.split(":")[0].split("=")[0].strip().lstrip("*")
                 for part in match.group(2).split(",")]
        found[match.group(1)] = [name for name in names if name and name != "self"]
    return found


def call_key(call: str, params: dict[str, list[str]]) -> str:
    """A normal form of ``call``: its AST, keyword arguments bound to their positions."""
    try:
        tree = ast.parse(call.strip())
    except (SyntaxError, ValueError):
        return " ".join(call.split())
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and node.keywords:
            func = node.func
            name = func.id if isinstance(func, ast.Name) else getattr(func, "attr", "")
            names = params.get(name)
            given = {k.arg: k.value for k in node.keywords if k.arg is not None}
            if names and len(given) == len(node.keywords) and set(given) <= set(names):
                node.args = [*node.args, *(given[name] for name in names if name in given)]
                node.keywords = []
    return ast.dump(tree)


def value_key(expected: str) -> Any:
    """A normal form of an expected value: the Python value, else the words of the text."""
    text = expected.strip()
    if text.startswith("Traceback (most recent call last)"):
        return ("raises", text.splitlines()[-1].strip())
    try:
        value = ast.literal_eval(text)
        return ("value", type(value).__name__, repr(value))
    except (SyntaxError, ValueError, TypeError, MemoryError, RecursionError):
        return ("text", " ".join(text.split()))


# -- the measure --------------------------------------------------------------------------


@dataclass(frozen=True)
class Scored:
    """One docstring: the person's examples found, and the examples found that are false."""

    docstring: Docstring
    found: int  # extracted
    matched: int  # the person's examples found
    false: tuple[str, ...]  # extracted examples the person does not read (described)
    error: str = ""  # the extractor raised (it must not): its exception


def score(docstring: Docstring, extract: Extract = extract_examples) -> Scored:
    try:
        extracted = extract(docstring.text)
    except Exception as exc:  # counted, never raised: the bench must report it
        return Scored(docstring, 0, 0, (), f"{type(exc).__name__}: {exc}")
    unreadable = getattr(extracted, "unreadable", "")  # what extract_examples says, not raises
    if unreadable:
        return Scored(docstring, 0, 0, (), str(unreadable))
    params = parameters(docstring.text)
    wanted = [((call_key(r.call, params), value_key(r.expected)), r) for r in docstring.examples]
    unmatched = list(range(len(wanted)))
    matched, false = 0, []
    for example in extracted:
        read = as_read(example)
        key = (call_key(read.call, params), value_key(read.expected))
        hit = next((i for i in unmatched if wanted[i][0] == key), None)
        if hit is None or wanted[hit][1].mutates:
            false.append(example.describe(100))
            continue
        unmatched.remove(hit)
        matched += 1
    return Scored(docstring, len(extracted), matched, tuple(false))


def summarize(scored: Sequence[Scored]) -> dict[str, Any]:
    read = sum(len(s.docstring.examples) for s in scored)
    found = sum(s.found for s in scored)
    matched = sum(s.matched for s in scored)
    with_examples = [s for s in scored if s.docstring.examples]
    return {
        "docstrings": len(scored),
        "examples_read": read,
        "examples_found": found,
        "examples_matched": matched,
        "false_examples": sum(len(s.false) for s in scored),
        "recall": matched / read if read else None,
        "precision": matched / found if found else None,
        "docstrings_with_examples": len(with_examples),
        "none_found_where_some_read": sum(1 for s in with_examples if s.matched == 0),
        "docstrings_with_a_false_example": sum(1 for s in scored if s.false),
        "extractor_errors": sum(1 for s in scored if s.error),
    }


def measure(corpus: Iterable[Docstring] | None = None, extract: Extract = extract_examples
            ) -> dict[str, Any]:
    """Recall and precision of ``extract`` on the corpus, overall and by source."""
    scored = [score(d, extract) for d in (load_corpus() if corpus is None else corpus)]
    by_repo: dict[str, list[Scored]] = {}
    for s in scored:
        by_repo.setdefault(s.docstring.repo, []).append(s)
    return {
        "all": summarize(scored),
        "sources": {repo: summarize(rows) for repo, rows in by_repo.items()},
        "false": [{"id": s.docstring.id, "examples": list(s.false)} for s in scored if s.false],
        "errors": [{"id": s.docstring.id, "error": s.error} for s in scored if s.error],
    }


def examples_section(bench: Any, progress: Progress) -> dict[str, Any]:
    """The bench section (the model is not used)."""
    result = measure()
    overall = result["all"]
    progress(f"examples: recall {overall['recall']:.2f}, precision {overall['precision']:.2f} "
             f"on {overall['docstrings']} docstrings")
    return result


def main(argv: Sequence[str] = ()) -> int:
    """``qwen-magic bench --only examples [--json]``: the section alone, without the model
    that the other sections load."""
    result = measure()
    if "--json" in argv:
        print(json.dumps(result, indent=2))
        return 0
    for name, row in {**result["sources"], "all": result["all"]}.items():
        print(f"{name:<24} {row['docstrings']:>4} docstrings: recall {row['recall']:.3f} "
              f"({row['examples_matched']}/{row['examples_read']}), precision "
              f"{row['precision'] or 0:.3f} ({row['false_examples']} false)")
    for entry in result["false"]:
        print(f"false in {entry['id']}: " + "; ".join(entry["examples"]))
    return 0


__all__ = ["Docstring", "Read", "as_read", "examples_section", "load_corpus", "main", "measure",
           "score"]

