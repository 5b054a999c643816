"""Completion as you type with the real model: the engine, prefill, cancel, and terminal IPython.

Properties any reasonable completion has are asserted (indented, parses or was cut, does not
repeat the code after the cursor); exact texts only as "the same on this machine".
"""

from __future__ import annotations

import ast
import threading

import pytest

import qwen_magic
from qwen_magic import api
from qwen_magic.completion import prefill_text
from qwen_magic.providers.local import models
from tests.terminal import close, spawn_ipython, type_keys

pytestmark = pytest.mark.model

CELLS = ("import math", "def area(r):\n    return math.pi * r ** 2",
         "radii = [1, 2, 3]") * 6


@pytest.fixture(autouse=True)
def default_model(model_path, monkeypatch):
    monkeypatch.setenv("QWEN_MAGIC_MODEL", str(model_path))


def test_a_function_body_is_indented_and_parses():
    prefix = "def fibonacci(n):\n    "
    result = qwen_magic.complete(prefix, context_cells=CELLS)
    assert result.text.strip() and result.finish_reason in ("stop", "length")
    assert not result.text.startswith((" ", "\t"))  # the typed indentation is not repeated
    for line in (prefix + result.text).splitlines()[1:]:
        assert not line.strip() or line.startswith("    "), line  # the body stays in the body
    if result.finish_reason == "stop":
        ast.parse(prefix + result.text)


def test_code_after_the_cursor_is_not_written_again():
    prefix = "def total(values):\n    result = 0\n    "
    suffix = "\n    return result\n"
    result = qwen_magic.complete(prefix, suffix, context_cells=CELLS)
    assert result.text.strip()
    assert "return result" not in result.text


def test_the_same_text_gives_the_same_suggestion_and_reuses_the_context():
    first = qwen_magic.complete("circle = area(", context_cells=CELLS)
    again = qwen_magic.complete("circle = area(", context_cells=CELLS)
    assert again.text == first.text  # greedy: the same on this machine
    assert "\n" not in first.text  # a line being written is completed to its end only
    assert again.reused_tokens >= again.prompt_tokens - 8


def test_prefill_reads_the_context_before_the_completion_asks():
    provider = api.get_provider()
    models.unload()
    provider.prefill(prefill_text(CELLS, 6000), threading.Event())
    result = qwen_magic.complete("total = sum(", context_cells=CELLS)
    tail = result.prompt_tokens - result.reused_tokens
    assert tail <= 16, (result.prompt_tokens, result.reused_tokens)  # only the cursor's line


def test_reading_ahead_as_the_user_types_leaves_the_request_its_markers():
    provider = api.get_provider()
    typed = "ring = area(radii[0]) - area(r"
    for end in range(1, len(typed) + 1):  # one prefill per key press, as JupyterLab sends
        provider.prefill(prefill_text(CELLS, 6000, typed[:end]), threading.Event())
    result = qwen_magic.complete(typed, context_cells=CELLS)
    # Left to read: the FIM markers (and the last typed token, should it merge with them).
    assert result.prompt_tokens - result.reused_tokens <= 3, result


def test_cancel_stops_within_a_token_and_the_model_stays_usable():
    cancel = threading.Event()
    pieces: list[str] = []

    def on_text(delta: str) -> None:
        pieces.append(delta)
        cancel.set()

    result = qwen_magic.complete("def long_function():\n    ", max_tokens=200,
                                 cancel=cancel, on_text=on_text)
    assert result.finish_reason == "cancelled" and result.completion_tokens <= 8
    assert qwen_magic.complete("x = math.", context_cells=CELLS).finish_reason != "cancelled"


def test_stream_completion_yields_the_pieces():
    pieces = list(qwen_magic.stream_completion("def square(x):\n    ", context_cells=CELLS))
    assert pieces and "".join(pieces) == qwen_magic.complete(
        "def square(x):\n    ", context_cells=CELLS).text


def test_terminal_ipython_ctrl_q_suggests_and_right_arrow_accepts(model_path, tmp_path):
    child = spawn_ipython(model_path, tmp_path)
    try:
        type_keys(child, "%load_ext qwen_magic\r")
        child.expect(r"In \[2\]:")
        type_keys(child, "def double(x):\r")  # IPython indents the body
        child.expect(r"\.\.\.:")
        child.send("\x11")  # Ctrl-Q: ask the model
        child.expect("return", timeout=180)  # the suggestion is drawn after the cursor
        child.send("\x1b[C")  # → accepts it (an escape sequence: one write)
        type_keys(child, "\r\r")  # run the cell the user now has
        child.expect(r"In \[3\]:", timeout=60)
        type_keys(child, "print('SOURCE', repr(_ih[2]))\r")
        child.expect(r"SOURCE '(.*)'\r?\n")
        source = child.match.group(1)
        assert source.startswith("def double(x):\\n") and "return" in source, source
    finally:
        close(child)
