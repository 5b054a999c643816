"""Completion that knows the notebook's live values, with the real model: a DataFrame read from
a CSV the test writes (no cell spells out its columns), completed at ``df[df["``.

Membership is asserted, never wording: with the feature on the suggestion names one of the
columns; with it off it names none of them (the model can only guess).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("pandas", reason="the DataFrame case needs pandas installed")

pytestmark = pytest.mark.model

COLUMNS = ("unit_price_eur", "ship_country", "qty_ordered")
CSV = "unit_price_eur,ship_country,qty_ordered\n12.5,DE,3\n7.25,FR,10\n19.0,DE,1\n"


def suggest(shell: Any, prefix: str, number: int) -> str:
    """One ``complete`` message as JupyterLab sends it; the text the kernel answered."""
    sent: list[dict[str, Any]] = []
    ends = shell.magics_manager.registry["QwenMagics"].completion_front_ends
    cells = ["import pandas as pd", "df = pd.read_csv(PATH)"]
    ends.service.handle({"type": "complete", "id": number, "prefix": prefix,
                         "suffix": "] > 0]", "cells": cells}, sent.append)
    assert ends.service.wait_until_idle(240), "no answer within 240 s"
    done = [m for m in sent if m["type"] == "done"]
    assert done and done[0]["finish_reason"] in ("stop", "length"), sent
    return "".join(m["text"] for m in sent if m["type"] == "chunk")


def test_a_dataframe_read_from_a_file_has_its_columns_suggested_only_with_the_feature(
        shell, tmp_path: Path):
    path = tmp_path / "orders.csv"
    path.write_text(CSV, encoding="utf-8")
    shell.user_ns["PATH"] = str(path)
    assert shell.run_cell("import pandas as pd", store_history=True).success
    assert shell.run_cell("df = pd.read_csv(PATH)", store_history=True).success
    ends = shell.magics_manager.registry["QwenMagics"].completion_front_ends
    assert "unit_price_eur" in ends.live_data  # described after the cell ran (local: on)

    on = suggest(shell, 'df[df["', 1)
    assert any(column in on for column in COLUMNS), on

    shell.run_line_magic("config", "QwenMagics.completion_variables = False")
    off = suggest(shell, 'df[df["', 2)
    assert not any(column in off for column in COLUMNS), off
