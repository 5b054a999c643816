"""What the bench measured on this machine, per model file: remembered for ``qwen-magic info``
(which recommends a model by it) and ``qwen-magic models`` (its speed column).

One small JSON file in the user's cache, written by ``qwen-magic bench`` after each run and
read without loading any model. Only the last record of each file is kept: a machine's speed
changes with its load, and the newest figure is the best guess of what the user meets.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from . import settings

#: The decode speed below which a model feels too slow to wait for in a notebook.
USABLE_TOK_S = 10.0


@dataclass(frozen=True)
class SpeedRecord:
    decode_tok_s: float  # the product's decode speed (the API path's median)
    ttft_s: float | None  # time to the first token of a short request
    when: str  # ISO date of the run
    quick: bool  # a ``--quick`` run (fewer, shorter requests)


def records_file() -> Path:
    return settings.cache_dir() / "bench-records.json"


def read_records() -> dict[str, SpeedRecord]:
    """The last record of each model file (by file name); {} when there is none or it is
    unreadable (a record is a help, never a reason to fail)."""
    try:
        raw = json.loads(records_file().read_text(encoding="utf-8"))
        return {name: SpeedRecord(**fields) for name, fields in raw.items()}
    except (OSError, ValueError, TypeError):
        return {}


def remember(model_file: str, record: SpeedRecord) -> None:
    """Keep ``record`` as the last of ``model_file`` (written atomically)."""
    records = {name: asdict(known) for name, known in read_records().items()}
    records[Path(model_file).name] = asdict(record)
    folder = records_file().parent
    folder.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=folder, prefix=".bench-records-")
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            json.dump(records, out, indent=1)
        os.replace(temporary, records_file())
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)


def today() -> str:
    return time.strftime("%Y-%m-%d")


__all__ = ["USABLE_TOK_S", "SpeedRecord", "read_records", "records_file", "remember", "today"]
