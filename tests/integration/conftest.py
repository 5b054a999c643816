"""The real-model tests' shared IPython shell."""

from __future__ import annotations

import pytest
from IPython.core.displaypub import CapturingDisplayPublisher
from IPython.core.interactiveshell import InteractiveShell


@pytest.fixture
def shell(model_path, monkeypatch):
    """A real IPython shell with the extension and the real model; inserted cells are kept
    in ``shell.inserted`` (never run), outputs in ``shell.display_pub.outputs``."""
    monkeypatch.setenv("QWEN_MAGIC_MODEL", str(model_path))
    ip = InteractiveShell.instance()
    ip.display_pub = CapturingDisplayPublisher()
    ip.inserted = []
    monkeypatch.setattr(ip, "set_next_input", lambda text, replace=False: ip.inserted.append(text))
    ip.run_line_magic("load_ext", "qwen_magic")
    try:
        yield ip
    finally:
        ip.run_line_magic("unload_ext", "qwen_magic")
        InteractiveShell.clear_instance()
