"""The failed cells of one shell, recorded as they fail, for ``%qwen fix`` / ``explain``.

``sys.last_value`` is set only on some paths (an exception inside a magic sets it too, and a
kernel's own errors may), and ``shell.last_execution_result`` is only the very last cell —
``%qwen fix`` itself. So a ``post_run_cell`` hook looks at every cell's ExecutionResult,
which is the same in a kernel and a plain InteractiveShell: ``error_before_exec`` (a
SyntaxError) or ``error_in_exec``. Cells running ``%qwen``/``%%qwen`` are not recorded: a
failure in the assistant is not code to fix.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from ..fixing import Failure, raising_line, trim_traceback

if TYPE_CHECKING:
    from IPython.core.interactiveshell import InteractiveShell

_INPUT_FILE = re.compile(r"<ipython-input-(\d+)-[0-9a-f]+>")
_KEEP = 20  # failures remembered for `%qwen explain N`


class FailureLog:
    """Records each failed cell of ``shell``; :attr:`last` is the one ``%qwen fix`` takes."""

    def __init__(self, shell: InteractiveShell) -> None:
        self.shell = shell
        self.by_count: dict[int | None, Failure] = {}
        self.last: Failure | None = None

    def install(self) -> None:
        self.shell.events.register("post_run_cell", self.record)

    def uninstall(self) -> None:
        try:
            self.shell.events.unregister("post_run_cell", self.record)
        except ValueError:
            pass

    def cell_label(self, filename: str) -> str | None:
        """``In[N]`` for a cell's file (a kernel's temp file or ``<ipython-input-N-…>``)."""
        count = getattr(self.shell.compile, "_filename_map", {}).get(filename)
        if count is None:
            match = _INPUT_FILE.fullmatch(filename)
            count = int(match.group(1)) if match else None
        return None if count is None else f"In[{count}]"

    def record(self, result: Any) -> None:
        exc = result.error_before_exec or result.error_in_exec
        source = result.info.raw_cell if result.info is not None else ""
        if exc is None or source.lstrip().startswith(("%qwen", "%%qwen")):
            return
        failure = Failure(source, trim_traceback(exc, self.cell_label), result.execution_count,
                          raising_line(exc, self.cell_label))
        self.last = failure
        self.by_count[result.execution_count] = failure
        while len(self.by_count) > _KEEP:
            self.by_count.pop(next(iter(self.by_count)))


__all__ = ["FailureLog"]
