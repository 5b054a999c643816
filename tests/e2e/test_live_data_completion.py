"""Ghost text that knows the notebook's live data, in a real JupyterLab and Chromium, with the
real model; and the comm opened (and the notebook read) before the first keystroke.

A DataFrame read from a CSV the test writes (no cell spells out its columns): typing
``df[df["`` shows a ghost text naming one of its columns (membership, not wording). Before
any completion is asked, the labextension has opened the comm after ``%load_ext`` ran and
sent the notebook as a prefill; the first suggestion's prompt was then mostly read already
(the kernel's ``done`` says how many of its tokens it reused). The time from the last key
to the first ghost text (JupyterLab's debounce included) is recorded next to the next one's
(test-artifacts/e2e/live_data_first_suggestion.json).
"""

from __future__ import annotations

import json
import time
from typing import Any

import nbformat
import pytest

from .conftest import ARTIFACTS, LabServer, Shooter
from .lab import KernelTraffic, Notebook
from .test_inline_completion import TARGET, PageErrors, no_error_ui, run_all_above

pytestmark = [pytest.mark.browser, pytest.mark.timeout(600)]

COLUMNS = ("unit_price_eur", "ship_country", "qty_ordered")
CSV = "unit_price_eur,ship_country,qty_ordered\n12.5,DE,3\n7.25,FR,10\n19.0,DE,1\n"
CELLS = ["%load_ext qwen_magic", "import pandas as pd", 'df = pd.read_csv("orders.csv")']


def write_notebook(server: LabServer, name: str) -> str:
    (server.root / "orders.csv").write_text(CSV, encoding="utf-8")
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3 (ipykernel)",
                                 "language": "python"}
    nb.metadata["language_info"] = {"name": "python"}
    nb.cells = [nbformat.v4.new_code_cell(source) for source in [*CELLS, ""]]
    nbformat.write(nb, server.root / name)
    return name


def test_ghost_text_names_a_column_of_a_dataframe_read_from_a_file(
        page: Any, lab_server: LabServer, shoot: Shooter) -> None:
    pytest.importorskip("pandas", reason="the DataFrame case needs pandas installed")
    errors = PageErrors(page)
    traffic = KernelTraffic(page)
    notebook = Notebook(page, lab_server, write_notebook(lab_server, "live_data.ipynb")).open()
    last = len(notebook.cells()) - 1
    run_all_above(notebook, last)

    def sent() -> list[dict[str, Any]]:
        return traffic.comm_data_sent(traffic.comm_ids(TARGET))

    def replies() -> list[dict[str, Any]]:
        return traffic.comm_data_received(traffic.comm_ids(TARGET))

    # Before the first keystroke: the comm is open and the notebook went out as a prefill.
    traffic.wait_for(lambda: any(d.get("type") == "prefill" for d in sent()), timeout=60_000,
                     what="a prefill after the cells ran")
    assert not any(d.get("type") == "complete" for d in sent())
    assert sent()[-1]["cells"] == CELLS, sent()[-1]
    page.wait_for_timeout(30_000)  # the user starts typing a while later: the read is done

    started = time.perf_counter()
    notebook.type_in(last, 'big = df[df["', delay_ms=40)
    typed_at = time.perf_counter()
    notebook.wait_ghost_text(timeout=120_000, finished=False)
    first_s = time.perf_counter() - typed_at  # to the first ghost text, not its end
    ghost = notebook.wait_ghost_text(timeout=120_000)
    assert any(column in ghost for column in COLUMNS), ghost
    shoot("15-inline-ghost-text-live-data")
    first = next(r for r in replies() if r["type"] == "done"
                 and r["finish_reason"] in ("stop", "length"))
    # Read ahead: the notebook and its live values were in the cache before the request.
    assert first["prompt_tokens"] - first["reused_tokens"] <= 24, first

    # The next suggestion, for the timing record.
    notebook.page.keyboard.press("Escape")
    notebook.type_in(last, "\nsmall = df[df[", delay_ms=40)
    typed_at = time.perf_counter()
    notebook.wait_ghost_text(timeout=120_000, finished=False)
    next_s = time.perf_counter() - typed_at
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    (ARTIFACTS / "live_data_first_suggestion.json").write_text(json.dumps({
        "first_ghost_text_s": first_s, "next_ghost_text_s": next_s,
        "first_new_prompt_tokens": first["prompt_tokens"] - first["reused_tokens"],
        "typing_s": typed_at - started}, indent=2))
    no_error_ui(page)
    errors.check()
