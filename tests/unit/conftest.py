"""Fixtures for the unit tests. Everything here uses a FAKE provider: no model, no llama.cpp."""

from __future__ import annotations

from typing import Any

import pytest
from IPython.core.displaypub import CapturingDisplayPublisher
from IPython.core.interactiveshell import InteractiveShell

from qwen_magic import api
from tests.fakes import FakeProvider

CODE_REPLY = ["Here:\n", "```python\n", "def add(a, b):\n", "    return a + b\n", "```\n", "Done."]


@pytest.fixture
def shell(monkeypatch: pytest.MonkeyPatch) -> Any:
    """A real IPython shell with the extension loaded and a FAKE provider behind every request.

    Outputs are captured in ``shell.display_pub.outputs``, inserted cells in ``shell.inserted``,
    and ``shell.fake_provider`` can be swapped by a test.
    """
    ip = InteractiveShell.instance()
    ip.fake_provider = FakeProvider(CODE_REPLY)
    monkeypatch.setattr(api, "get_provider", lambda *a, **k: ip.fake_provider)
    ip.display_pub = CapturingDisplayPublisher()
    ip.inserted = []
    monkeypatch.setattr(ip, "set_next_input", lambda text, replace=False: ip.inserted.append(text))
    ip.run_line_magic("load_ext", "qwen_magic")
    yield ip
    ip.run_line_magic("unload_ext", "qwen_magic")
    ip.user_ns.pop("_qwen", None)
    InteractiveShell.clear_instance()
