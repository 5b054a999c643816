"""Shared fixtures. The real-model tests never skip: `make test` fetches the model first."""

from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
MODEL = ROOT / "models" / "qwen2.5-coder-0.5b-instruct-q4_k_m.gguf"


@pytest.fixture(scope="session")
def model_path() -> Path:
    if not MODEL.is_file():
        pytest.fail(f"The real model is missing at {MODEL}: run `make model` (or `make test`).")
    return MODEL


CUT_MARK = "# qwen: cut at max_tokens="


def assert_parses_or_is_marked_cut(code: str, *, cut: bool | None = None) -> None:
    """What holds for any reasonable answer on any CPU: its code parses, or the answer was
    cut at max_tokens and says so (the inserted cell's first line, or ``cut`` given)."""
    import ast

    if cut is None:
        cut = code.startswith(CUT_MARK)
    try:
        ast.parse(code)
    except SyntaxError:
        assert cut, f"the code does not parse and was not cut:\n{code}"
