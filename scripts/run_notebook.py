"""Execute a notebook in a real kernel, streaming its outputs to the terminal as they arrive.

`make demo` runs the quickstart through this; the notebook tests use the same client to
count the live updates and collect the `set_next_input` payloads of each cell.
"""

from __future__ import annotations

import argparse
import sys
from collections import defaultdict
from pathlib import Path
from typing import Any

import nbformat
from nbclient import NotebookClient

CURSOR = "▌"


class StreamingNotebookClient(NotebookClient):
    """An nbclient that also records, per cell, live updates and inserted-cell payloads."""

    def __init__(self, nb: Any, echo: bool = False, **kwargs: Any) -> None:
        super().__init__(nb, **kwargs)
        self.echo = echo
        self.updates: dict[int, int] = defaultdict(int)
        self.payloads: dict[int, list[dict[str, Any]]] = defaultdict(list)
        self._shown: dict[str, str] = {}
        self.on_cell_start = self._cell_started
        self.on_cell_executed = self._cell_executed

    def _cell_started(self, cell: Any, cell_index: int) -> None:
        if self.echo and cell.cell_type == "code":
            print(f"\n\x1b[1mIn [{cell_index}]:\x1b[0m {cell.source}", flush=True)

    def _cell_executed(self, cell: Any, cell_index: int, execute_reply: dict[str, Any]) -> None:
        self.payloads[cell_index] = list(execute_reply["content"].get("payload", []))
        if self.echo:
            for payload in self.payloads[cell_index]:
                if payload.get("source") == "set_next_input":
                    print("\n\x1b[2m[inserted as the next cell, not run]\x1b[0m", flush=True)

    def process_message(self, msg: dict[str, Any], cell: Any, cell_index: int) -> Any:
        kind = msg["msg_type"]
        if kind == "update_display_data":
            self.updates[cell_index] += 1
        if self.echo:
            self._echo(kind, msg["content"])
        return super().process_message(msg, cell, cell_index)

    def _echo(self, kind: str, content: dict[str, Any]) -> None:
        if kind == "stream":
            print(content["text"], end="", flush=True)
        elif kind in ("display_data", "update_display_data", "execute_result"):
            text = content.get("data", {}).get("text/plain", "")
            key = content.get("transient", {}).get("display_id") or id(content)
            before = self._shown.get(key, "")
            text = text.removesuffix(CURSOR)
            print(text[len(before):] if text.startswith(before) else "\n" + text, end="", flush=True)
            self._shown[key] = text
        elif kind == "error":
            print("\n" + "\n".join(content.get("traceback", [])), flush=True)


def run(path: Path, out: Path | None, timeout: int = 600, echo: bool = True) -> StreamingNotebookClient:
    nb = nbformat.read(path, as_version=4)
    client = StreamingNotebookClient(
        nb, echo=echo, timeout=timeout, kernel_name="python3",
        resources={"metadata": {"path": str(path.parent)}},
    )
    client.execute()
    if out:
        nbformat.write(nb, out)
    return client


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("notebook", type=Path)
    parser.add_argument("--out", type=Path, help="where to write the executed notebook")
    args = parser.parse_args()
    out = args.out or args.notebook.with_suffix(".executed.ipynb")
    run(args.notebook, out)
    print(f"\n\nExecuted notebook written to {out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
