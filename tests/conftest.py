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
