"""Restart & Run All gives the same answers: one notebook, two fresh kernels, the real model.

By default the promise is about a *sequence* of requests (docs/reproducibility.md): the same
cells in the same order give the same texts, at temperature 0 or with a seed. The texts are
compared with each other on this machine, never with a text written into the test.
"""

from __future__ import annotations

import json

import pytest
from nbformat.v4 import new_code_cell, new_notebook
from run_notebook import StreamingNotebookClient

pytestmark = [pytest.mark.model, pytest.mark.notebook]

CELLS = [
    "%load_ext qwen_magic",
    "%%qwen -t 0 -n 40 -o first write a function that adds two numbers",
    "numbers = [3, 1, 2]",
    "%%qwen -t 0.8 --seed 5 -n 40 -o second write a function that reverses a string",
    "%%qwen -t 0 -n 40 --context -o third sort {numbers} with the function you would write",
    "import json\nprint(json.dumps([r.text for r in (first, second, third)]))",
]


def run_in_a_fresh_kernel(tmp_path, model_path) -> list[str]:
    nb = new_notebook(cells=[new_code_cell(source) for source in CELLS])
    client = StreamingNotebookClient(nb, timeout=600, kernel_name="python3",
                                     resources={"metadata": {"path": str(tmp_path)}})
    client.execute()
    errors = [o for c in nb.cells for o in c.outputs if o.output_type == "error"]
    assert not errors, errors
    return json.loads(nb.cells[-1].outputs[0]["text"])


def test_run_all_twice_gives_the_same_answers(tmp_path, model_path, monkeypatch):
    monkeypatch.setenv("QWEN_MAGIC_MODEL", str(model_path))
    first_run = run_in_a_fresh_kernel(tmp_path, model_path)
    assert all(text.strip() for text in first_run), first_run
    assert run_in_a_fresh_kernel(tmp_path, model_path) == first_run
