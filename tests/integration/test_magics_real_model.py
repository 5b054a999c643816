"""The magics with the real model: in an IPython shell, and in terminal IPython."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from IPython.core.displaypub import CapturingDisplayPublisher
from IPython.core.interactiveshell import InteractiveShell

from qwen_magic.providers.local import models

pytestmark = pytest.mark.model


def test_reload_ext_keeps_the_loaded_model(model_path, monkeypatch):
    monkeypatch.setenv("QWEN_MAGIC_MODEL", str(model_path))
    ip = InteractiveShell.instance()
    ip.display_pub = CapturingDisplayPublisher()
    inserted = []
    monkeypatch.setattr(ip, "set_next_input", lambda text, replace=False: inserted.append(text))
    try:
        ip.run_line_magic("load_ext", "qwen_magic")
        assert ip.run_cell("%%qwen -t 0 -n 60 write a python function that doubles a number").success
        loads = models.load_count
        ip.run_line_magic("reload_ext", "qwen_magic")
        assert ip.run_cell("%%qwen -t 0 -n 60 write a python function that triples a number").success
        assert models.load_count == loads
        assert len(inserted) == 2 and all("def " in code for code in inserted)
    finally:
        ip.run_line_magic("unload_ext", "qwen_magic")
        InteractiveShell.clear_instance()


def test_terminal_ipython_streams_to_stdout(model_path):
    script = "%load_ext qwen_magic\n%qwen -t 0 -n 40 write hello world in python\n_qwen.finish_reason\n"
    done = subprocess.run(
        [sys.executable, "-m", "IPython", "--simple-prompt", "--no-banner", "--colors=nocolor"],
        input=script, capture_output=True, text=True, timeout=300,
        env=dict(os.environ, QWEN_MAGIC_MODEL=str(model_path)),
    )
    assert "print(" in done.stdout  # the answer, printed as it streamed
    assert "tok/s" in done.stderr  # the footer goes to stderr, like the CLI's stats
    assert "Out[3]: 'stop'" in done.stdout or "Out[3]: 'length'" in done.stdout
    assert "Traceback" not in done.stderr and "Exception ignored" not in done.stderr


def test_once_context_was_used_a_finished_cell_has_the_next_context_prompt_read(shell):
    """After a --context cell, the kernel reads the grown notebook into the model's cache
    while idle: the next --context cell reads little more than its request."""
    ip = shell
    magics = ip.magics_manager.registry["QwenMagics"]
    ip.run_line_magic("config", "QwenMagics.max_tokens = 8")
    ip.run_cell("import math\nradii = [1, 2, 3]", store_history=True)
    assert ip.run_cell("%%qwen --context what is in radii", store_history=True).success
    ip.run_cell("areas = [math.pi * r ** 2 for r in radii]\nlargest = max(areas)",
                store_history=True)
    assert magics.completion_front_ends.service.wait_until_idle(120)
    assert ip.run_cell("%%qwen --context sum the areas", store_history=True).success
    result = ip.user_ns["_qwen"]
    # Left to read: the request and the chat template's end of the turn (~10 tokens); the
    # new cell and its variables (~40) were read in the background.
    assert result.prompt_tokens - result.reused_tokens <= 16, \
        (result.prompt_tokens, result.reused_tokens)
