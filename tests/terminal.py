"""Terminal IPython in a real pseudo-terminal (pexpect), for the real-model tests."""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import pexpect


def spawn_ipython(model_path: Path, tmp_path: Path) -> pexpect.spawn:
    """``python -m IPython`` with only this test's qwen-magic settings (none another test or
    the shell set), its own IPython directory, and a plain terminal; at its first prompt."""
    env = {name: value for name, value in os.environ.items()
           if not name.startswith(("QWEN_MAGIC_", "OPENAI_"))}
    env.update(QWEN_MAGIC_MODEL=str(model_path), TERM="xterm", PROMPT_TOOLKIT_NO_CPR="1",
               IPYTHONDIR=str(tmp_path / "ipython"))
    child = pexpect.spawn(
        sys.executable, ["-m", "IPython", "--no-banner", "--colors=nocolor", "--no-confirm-exit"],
        env=env, encoding="utf-8", timeout=120, dimensions=(40, 200),
    )
    child.expect(r"In \[1\]:")
    return child


def type_keys(child: pexpect.spawn, text: str) -> None:
    """Type ``text`` as a person does, a key at a time (escape sequences: ``child.send``).

    Keys written all at once reach prompt_toolkit in one read; then, with any extension's
    background threads busy, an Enter can be held until the next key comes, or a cell runs
    with sys.stdout left on a closed patch_stdout proxy so that nothing it prints shows.
    Those are races of the terminal under a key-blasting harness (they happen with the
    extension of the previous release too), not what these tests are about.
    """
    for key in text:
        child.send(key)
        time.sleep(0.3 if key == "\r" else 0.02)


def close(child: pexpect.spawn) -> None:
    child.send("exit\r")
    child.expect(pexpect.EOF, timeout=30)
