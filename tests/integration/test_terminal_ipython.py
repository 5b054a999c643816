"""Terminal IPython driven through a real pseudo-terminal (pexpect), with the real model.

prompt_toolkit reads keys from the terminal here exactly as for a person, so what the
continuation prompt does is what a user sees.
"""

from __future__ import annotations

import os
import sys

import pexpect
import pytest

pytestmark = pytest.mark.model


@pytest.fixture
def ipython(model_path, tmp_path):
    # Only this test's settings: nothing another test (or the shell) set for qwen-magic.
    env = {name: value for name, value in os.environ.items()
           if not name.startswith(("QWEN_MAGIC_", "OPENAI_"))}
    env.update(QWEN_MAGIC_MODEL=str(model_path), TERM="xterm", PROMPT_TOOLKIT_NO_CPR="1",
               IPYTHONDIR=str(tmp_path / "ipython"))
    child = pexpect.spawn(
        sys.executable, ["-m", "IPython", "--no-banner", "--colors=nocolor", "--no-confirm-exit"],
        env=env, encoding="utf-8", timeout=120, dimensions=(40, 200),
    )
    child.expect(r"In \[1\]:")
    yield child
    child.send("exit\r")
    child.expect(pexpect.EOF, timeout=30)


def test_options_then_a_body_wait_for_the_body(ipython):
    ipython.send("%load_ext qwen_magic\r")
    ipython.expect(r"In \[2\]:")
    ipython.send("%%qwen -t 0 -n 24 --no-insert\r")
    # A continuation prompt, not a run with an empty prompt.
    index = ipython.expect([r"\.\.\.:", "prompt is empty", r"In \[3\]:"])
    assert index == 0, ipython.before
    ipython.send("write hello world in python\r")
    ipython.expect(r"\.\.\.:")
    ipython.send("\r\r")  # a blank line ends a cell magic's body
    ipython.expect("tok/s", timeout=180)
    ipython.expect(r"In \[3\]:")
    ipython.send("print('FINISH', _qwen.finish_reason, _qwen.config.max_tokens)\r")
    ipython.expect(r"FINISH (stop|length) 24")
