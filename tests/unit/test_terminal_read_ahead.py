"""The terminal's read-ahead: each change to the prompt's text hands the text before the
cursor to the model's prefill (a fake prefill here; prompt_toolkit's real Buffer)."""

from __future__ import annotations

from types import SimpleNamespace

from prompt_toolkit.buffer import Buffer
from prompt_toolkit.key_binding import KeyBindings

from qwen_magic.notebook.terminal_completer import TerminalCompleter


def test_typing_hands_the_text_before_the_cursor_to_read_ahead():
    seen: list[tuple[tuple[str, ...], str]] = []
    buffer = Buffer()
    shell = SimpleNamespace(pt_app=SimpleNamespace(key_bindings=KeyBindings(), default_buffer=buffer),
                            user_ns={"In": ["", "import math", "  ", "r = 2"]})
    completer = TerminalCompleter(shell, complete=None,  # type: ignore[arg-type]
                                  read_ahead=lambda cells, prefix: seen.append((cells, prefix)))
    assert completer.install()
    buffer.insert_text("area = math.")
    buffer.insert_text("pi", move_cursor=False)  # typed after the cursor: not before it
    assert seen == [(("import math", "r = 2"), "area = math."),
                    (("import math", "r = 2"), "area = math.")]
    completer.uninstall()
    buffer.insert_text("x")
    assert len(seen) == 2  # taken down with the extension
