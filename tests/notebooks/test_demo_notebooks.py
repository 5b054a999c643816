"""Every demo notebook, executed headless in a real ipykernel with the real model."""

from __future__ import annotations

import re
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell
from run_notebook import StreamingNotebookClient

from tests.conftest import assert_parses_or_is_marked_cut

pytestmark = [pytest.mark.model, pytest.mark.notebook]
NOTEBOOKS = sorted(
    p for p in (Path(__file__).resolve().parents[2] / "demo_notebooks").glob("*.ipynb")
    if not p.name.endswith(".executed.ipynb")
)


def inserted_code(payloads):
    return [p["text"] for p in payloads if p.get("source") == "set_next_input"]


def test_demo_notebooks_are_committed_without_outputs():
    assert NOTEBOOKS, "no demo notebooks found"
    for path in NOTEBOOKS:
        nb = nbformat.read(path, as_version=4)
        for cell in nb.cells:
            if cell.cell_type == "code":
                assert not cell.outputs and cell.execution_count is None, path.name


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_runs_streams_and_inserts_compilable_code(path, model_path, monkeypatch):
    monkeypatch.setenv("QWEN_MAGIC_MODEL", str(model_path))
    nb = nbformat.read(path, as_version=4)
    nb.cells.append(new_code_cell("from qwen_magic.providers.local import models\n"
                                  "print('load_count', models.load_count)"))
    client = StreamingNotebookClient(nb, timeout=900, kernel_name="python3",
                                     resources={"metadata": {"path": str(path.parent)}})
    client.execute()

    # Only a cell tagged to fail (fix_and_check's NameError, for %qwen fix) may, and must.
    errors = [(i, o) for i, c in enumerate(nb.cells) if c.cell_type == "code"
              for o in c.outputs if o.output_type == "error"
              if "raises-exception" not in c.metadata.get("tags", [])]
    assert not errors, errors
    for cell in nb.cells:
        if "raises-exception" in cell.metadata.get("tags", []):
            assert any(o.output_type == "error" for o in cell.outputs), cell.source
    qwen_cells = [i for i, c in enumerate(nb.cells) if c.cell_type == "code"
                  and c.source.startswith(("%%qwen", "%qwen fix"))]
    for index in qwen_cells:
        cell = nb.cells[index]
        # status line → growing answer → final answer: updated in place several times.
        assert client.updates[index] >= 2, f"cell {index} was not streamed"
        final = [o for o in cell.outputs if o.output_type == "display_data"][-1]
        assert "tok/s" in final["data"]["text/markdown"]
        assert final["metadata"]["qwen_magic"]["model"].endswith(".gguf")
        codes = inserted_code(client.payloads[index])
        first_line = cell.source.splitlines()[0]
        if first_line.startswith("%qwen fix") and "--check" in first_line:
            # How the corrected cell's run ended, whatever the answer (any CPU's wording).
            assert re.search(r"checked: the corrected cell runs cleanly|not verified: |not checked: ",
                             final["data"]["text/markdown"])
        elif "--check" in first_line:
            # The footer says how the check ended, whatever the answer (any CPU's wording).
            assert re.search(r"checked: \d/\d examples pass|\d/\d pass — best attempt",
                             final["data"]["text/markdown"])
        if "--no-insert" in cell.source.splitlines()[0]:
            assert codes == []
        else:
            assert len(codes) == 1
            # The inserted cell holds code that parses, or says in its first line that the
            # answer was cut at max_tokens (another CPU may word a longer answer).
            assert_parses_or_is_marked_cut(codes[0])
    # The model was loaded once for the whole notebook, however many %%qwen cells it has.
    assert nb.cells[-1].outputs[0]["text"].strip() == "load_count 1"
