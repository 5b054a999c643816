"""Terminal IPython driven through a real pseudo-terminal (pexpect), with the real model.

prompt_toolkit reads keys from the terminal here exactly as for a person, so what the
continuation prompt does is what a user sees.
"""

from __future__ import annotations

import pytest

from tests.terminal import close, spawn_ipython, type_keys

pytestmark = pytest.mark.model


@pytest.fixture
def ipython(model_path, tmp_path):
    child = spawn_ipython(model_path, tmp_path)
    yield child
    close(child)


def test_options_then_a_body_wait_for_the_body(ipython):
    type_keys(ipython, "%load_ext qwen_magic\r")
    ipython.expect(r"In \[2\]:")
    type_keys(ipython, "%%qwen -t 0 -n 24 --no-insert\r")
    # A continuation prompt, not a run with an empty prompt.
    index = ipython.expect([r"\.\.\.:", "prompt is empty", r"In \[3\]:"])
    assert index == 0, ipython.before
    type_keys(ipython, "write hello world in python\r")
    ipython.expect(r"\.\.\.:")
    type_keys(ipython, "\r\r")  # a blank line ends a cell magic's body
    ipython.expect("tok/s", timeout=180)
    ipython.expect(r"In \[3\]:")
    type_keys(ipython, "print('FINISH', _qwen.finish_reason, _qwen.config.max_tokens)\r")
    ipython.expect(r"FINISH (stop|length) 24")
