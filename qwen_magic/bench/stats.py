"""The summary every figure of the report is given in: min, median and max over trials."""

from __future__ import annotations

import statistics
from collections.abc import Sequence


def stats(values: Sequence[float | None]) -> dict[str, float | int | None]:
    """``{"min", "median", "max", "n"}`` of the values that were measured (``None``: not)."""
    kept = [v for v in values if v is not None]
    if not kept:
        return {"min": None, "median": None, "max": None, "n": 0}
    return {"min": min(kept), "median": statistics.median(kept), "max": max(kept), "n": len(kept)}


def ratio(a: float | None, b: float | None) -> float | None:
    """``a / b``, or None when either was not measured (or is zero)."""
    return a / b if a and b else None
