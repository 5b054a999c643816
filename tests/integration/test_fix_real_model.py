"""%qwen fix and a %%qwen -c follow-up with the real model, in an IPython shell."""

from __future__ import annotations

import ast

import pytest
from IPython.core.displaypub import CapturingDisplayPublisher
from IPython.core.interactiveshell import InteractiveShell

pytestmark = pytest.mark.model


def test_fix_inserts_a_corrected_cell_and_a_follow_up_sees_it(model_path, monkeypatch):
    monkeypatch.setenv("QWEN_MAGIC_MODEL", str(model_path))
    ip = InteractiveShell.instance()
    ip.display_pub = CapturingDisplayPublisher()
    inserted: list[str] = []
    monkeypatch.setattr(ip, "set_next_input", lambda text, replace=False: inserted.append(text))
    try:
        ip.run_line_magic("load_ext", "qwen_magic")
        ip.run_line_magic("config", "QwenMagics.max_tokens = 200")
        ip.run_line_magic("config", "QwenMagics.temperature = 0.0")
        failed = ip.run_cell("numbers = [3, 1, 2]\nprint(sorted(numbrs))\n", store_history=True)
        assert not failed.success
        assert ip.run_cell("%qwen fix", store_history=True).success
        assert len(inserted) == 1
        ast.parse(inserted[0])  # the corrected cell parses
        assert "numbers" in inserted[0]
        assert ip.history_manager.input_hist_raw[1].startswith("numbers = [3, 1, 2]")  # untouched
        answer = ip.user_ns["_qwen"].text
        assert ip.run_cell("%%qwen -c -n 120\nnow sort in descending order", store_history=True).success
        request_text = ip.user_ns["_qwen"].text
        assert request_text and request_text != answer
    finally:
        ip.run_line_magic("unload_ext", "qwen_magic")
        InteractiveShell.clear_instance()
