"""The bench's ``examples`` section: the corpus of real docstrings and the measure over it.

No model: the section only parses. The extractors passed in by some tests are stand-ins
(said where they are); the others run the real ``extract_examples``.
"""

from __future__ import annotations

import json
import re

from qwen_magic.bench.extraction import (
    Docstring,
    Read,
    as_read,
    examples_section,
    load_corpus,
    main,
    measure,
    score,
)
from qwen_magic.bench.report import format_table
from qwen_magic.bench.scenarios import SCENARIOS
from qwen_magic.checking import Example


def test_the_corpus_has_100_cited_docstrings_with_and_without_examples():
    corpus = load_corpus()
    assert len(corpus) >= 100
    assert len({d.id for d in corpus}) == len(corpus)
    for d in corpus:
        assert re.fullmatch(r"[\w.-]+/[\w.-]+", d.repo), d.id
        assert d.path and d.function and d.text.strip(), d.id
    assert sum(1 for d in corpus if not d.examples) >= 10  # prose only: precision shows
    assert sum(len(d.examples) for d in corpus) >= 300
    forms = {form for d in corpus for form in d.forms}
    assert {"doctest", "==>", "➞", "=>", "->", "==", "=", "should-return", "input-output",
            "prose"} <= forms


def test_the_corpus_quotes_only_permissively_licensed_sources():
    # Each entry quotes third-party text: only from a repository under a permissive licence
    # (data/README.md names each source and its licence). A source with none stays out.
    from importlib import resources

    from qwen_magic.bench import extraction

    text = resources.files(extraction.__package__).joinpath(extraction.CORPUS).read_text("utf-8")
    sources = {(entry["repo"], entry["license"]) for entry in map(json.loads, text.splitlines())}
    assert sources == {("openai/human-eval", "MIT"), ("TheAlgorithms/Python", "MIT"),
                       ("psf/requests", "Apache-2.0")}


def test_each_example_is_written_where_the_text_shows_it():
    # Hand-written reading, so check it against the text: the called function's name (or
    # the doctest statement's first name) appears in the docstring it came from.
    for d in load_corpus():
        for example in d.examples:
            name = re.match(r"\s*(?:\w+\(\)\.)?(\w+)", example.call)
            assert name, (d.id, example)
            assert name.group(1) in d.text or name.group(1) in d.function, (d.id, example)


def test_an_extracted_example_is_read_as_call_and_value():
    assert as_read(Example("f(2)", "4")) == Read("f(2)", "4")
    assert as_read(Example("assert f(2) == [1, 2]", None)) == Read("f(2)", "[1, 2]")
    assert as_read(Example("assert f(2) is None", None)) == Read("f(2)", "None")
    assert as_read(Example("assert not f(2)", None)) == Read("f(2)", "False")
    assert as_read(Example("assert f(2)", None)) == Read("f(2)", "True")


def docstring(text: str, *examples: Read) -> Docstring:
    return Docstring("t", "o/r", "p.py", "f", text, ("test",), examples)


def test_matching_binds_keywords_and_compares_values_not_spelling():
    text = "def maximum(arr, k):\n    '''Input: arr = [1, 2], k = 1\n    Output: [2]'''\n"
    d = docstring(text, Read("maximum(arr=[1, 2], k=1)", "[2]"), Read("maximum([3], 1)", "6.00"))

    def stand_in(_: str) -> list[Example]:  # a stand-in extractor: positional, other spelling
        return [Example("assert maximum([1,2], 1) == [ 2 ]", None), Example("maximum([3], 1)", "6.0")]

    result = score(d, stand_in)
    assert (result.found, result.matched, result.false) == (2, 2, ())


def test_a_false_example_an_in_place_output_and_an_extractor_error_are_counted():
    d = docstring("def f(x): ...", Read("f(1)", "2"), Read("g([2, 1])", "[1, 2]", mutates=True))
    found = [Example("assert f(1) == 3", None), Example("assert g([2, 1]) == [1, 2]", None)]
    result = score(d, lambda _: found)  # a stand-in extractor
    assert (result.matched, len(result.false)) == (0, 2)

    def broken(_: str) -> list[Example]:
        raise MemoryError

    assert score(d, broken).error == "MemoryError: "
    assert measure([d], broken)["all"]["extractor_errors"] == 1


def test_the_section_runs_without_a_model_and_reports_both_figures():
    lines: list[str] = []
    assert SCENARIOS["examples"] is examples_section
    result = examples_section(None, lines.append)
    overall = result["all"]
    assert overall["docstrings"] == len(load_corpus())
    assert overall["extractor_errors"] == 0
    assert 0 <= overall["recall"] <= 1 and 0 <= overall["precision"] <= 1
    assert lines and "recall" in lines[0]
    assert set(result["sources"]) >= {"openai/human-eval", "TheAlgorithms/Python"}
    table = format_table({"machine": {"cpu": "c", "physical_cores": 1, "logical_cpus": 1,
                                      "loadavg_start": 0, "versions": {"llama_cpp_python": "x",
                                                                        "ipython": "y"},
                                      "python": "3"},
                          "settings": {"model": "m.gguf", "n_ctx": 1, "n_threads": 1, "n_batch": 1},
                          "examples": result})
    assert "recall" in table and "precision" in table


def test_the_section_runs_alone_and_the_finder_keeps_its_measured_quality(capsys):
    import argparse

    from qwen_magic.bench import add_arguments
    from qwen_magic.bench import main as bench_main

    assert main() == 0
    out = capsys.readouterr().out
    assert "all" in out and "recall" in out
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    # `qwen-magic bench --only examples --json`: no model is looked for (there is none here).
    assert bench_main(parser.parse_args(["--only", "examples", "--json", "--model", "/nonexistent"])) == 0
    assert json.loads(capsys.readouterr().out)["all"]["docstrings"] == len(load_corpus())
    overall = measure()["all"]
    # docs/performance.md: recall 0.88, precision 0.996 (was 0.29 and 0.88) on the 111
    # docstrings. A change to the finder that loses either shows here.
    assert overall["recall"] >= 0.85 and overall["precision"] >= 0.99
