"""Putting generated code into the notebook as a new cell — as text, never executed.

Each front end has its own way: a Jupyter kernel sends the ``set_next_input`` payload
(JupyterLab, Notebook 7 and VS Code open a new cell below the running one), terminal IPython
puts the code at the next prompt for editing. From the panel, which runs outside any cell's
execution, JupyterLab's own commands are driven through ipylab (see qwen_magic.widgets.frontend).
"""

from __future__ import annotations

from typing import Any


def insert_code_cell(shell: Any, code: str) -> bool:
    """Offer ``code`` as the next cell. Returns False when there is nothing to insert."""
    if not code.strip():
        return False
    # replace=False: a new cell below; the cell that asked keeps its prompt.
    shell.set_next_input(code.rstrip("\n"), replace=False)
    return True


def is_terminal(shell: Any) -> bool:
    """Terminal IPython has no kernel and cannot update an output in place."""
    return getattr(shell, "kernel", None) is None and type(shell).__name__ == "TerminalInteractiveShell"
