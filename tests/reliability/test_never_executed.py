"""Generated code is text: it is shown and offered as a new cell, never run.

The code here would leave traces if anything executed it: files on disk, a variable in
the user's namespace, a shell command. Every path that produces code — the cell magic, the
line magic, the API, the panel and ``%qwen insert`` — is checked for those traces, and
outputs are checked to be only Markdown and plain text (no HTML or JavaScript to render).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.reliability.conftest import shown_text
from tests.reliability.kernel import Execution, Kernel

pytestmark = [pytest.mark.model, pytest.mark.notebook, pytest.mark.timeout(300)]

SAFE_MIME = {"text/markdown", "text/plain"}

FAKE = """\
import threading
from qwen_magic.providers.base import Finished, PromptRead, TextDelta

class SideEffects:
    '''Answers every request with code that would write files and a variable if run.'''
    name = "fake"
    def __init__(self, code):
        self.answer = "Here you go:\\n```python\\n" + code + "\\n```\\nRun it when ready."
    def stream(self, request, cancel):
        yield PromptRead(10)
        for piece in self.answer.split(" "):
            yield TextDelta(piece + " ")
        yield Finished("stop", 1)
    def describe(self):
        return {{"provider": self.name}}

DANGEROUS = {code!r}
fake = SideEffects(DANGEROUS)
_real_get_provider = qwen_magic.api.get_provider
qwen_magic.api.get_provider = lambda *a, **k: fake
"""


def dangerous_code(folder: Path) -> str:
    return (
        "import os, pathlib\n"
        f"pathlib.Path({str(folder / 'written.txt')!r}).write_text('ran')\n"
        f"os.system('touch {folder / 'shell.txt'}')\n"
        "globals()['pwned'] = True"
    )


def traces(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


def assert_no_trace(kernel: Kernel, folder: Path) -> None:
    assert traces(folder) == [], "generated code was executed"
    assert kernel.eval("'pwned' in globals()") is False


def assert_safe_outputs(done: Execution) -> None:
    for bundle in done.displays:
        assert set(bundle) <= SAFE_MIME, set(bundle)


@pytest.fixture
def fake(kernel: Kernel, tmp_path: Path) -> Iterator[Path]:
    folder = tmp_path / "traces"
    folder.mkdir()
    kernel.ok(FAKE.format(code=dangerous_code(folder)))
    yield folder
    kernel.ok("qwen_magic.api.get_provider = _real_get_provider")


def test_cell_magic_inserts_code_as_text(kernel: Kernel, fake: Path) -> None:
    for cell in ("%%qwen\nwrite the files", "%qwen write the files", "%%qwen --format code\nx"):
        done = kernel.run(cell)
        assert done.status == "ok", done.error_lines
        code = kernel.eval("_qwen.code")
        assert done.inserted == [code.rstrip("\n")]  # offered verbatim as the next cell
        assert "write_text('ran')" in done.inserted[0]
        assert_safe_outputs(done)
        assert_no_trace(kernel, fake)


def test_api_returns_code_as_text(kernel: Kernel, fake: Path) -> None:
    done = kernel.run("result = qwen_magic.generate('write the files', provider=fake)\n"
                      "chunks = list(qwen_magic.stream('write the files', provider=fake))")
    assert done.status == "ok", done.error_lines
    assert not done.inserted  # the API returns text; it inserts nothing either
    assert "os.system" in kernel.eval("result.code")
    assert_no_trace(kernel, fake)


def test_panel_and_insert_command_keep_code_as_text(kernel: Kernel, fake: Path) -> None:
    kernel.ok("panel = qwen_magic.panel(provider=fake)\n"
              "panel.generate('write the files')\n"
              "assert panel.wait(60)")
    assert "os.system" in kernel.eval("panel.result.code")
    assert_no_trace(kernel, fake)
    done = kernel.run("%qwen insert")
    assert done.status == "ok", done.error_lines
    assert len(done.inserted) == 1 and "os.system" in done.inserted[0]
    assert_no_trace(kernel, fake)


def test_braces_in_a_prompt_are_never_evaluated(kernel: Kernel, fake: Path) -> None:
    marker = fake / "braces.txt"
    for cell in (f"%%qwen --no-insert\nuse {{__import__('pathlib').Path({str(marker)!r}).touch()}}",
                 f"%%qwen --no-insert use {{__import__('pathlib').Path({str(marker)!r}).touch()}}",
                 f"%%qwen --no-insert use $(touch {marker}) and `touch {marker}`"):
        assert kernel.run(cell).status == "ok"
    assert_no_trace(kernel, fake)


def test_real_model_code_with_side_effects_is_not_run(kernel: Kernel, tmp_path: Path) -> None:
    target = tmp_path / "report.txt"
    done = kernel.run(
        "%%qwen -t 0 --seed 1 -n 96\n"
        f"Write Python code that creates the file {target} and writes the word done into it, "
        "then deletes every file in the current folder with os.remove.")
    assert done.status == "ok", done.error_lines
    assert_safe_outputs(done)
    assert done.inserted, shown_text(done)
    code = done.inserted[0]
    assert "open(" in code or "write" in code, code  # it is code that would write the file
    assert not target.exists(), "the generated code ran"
    assert kernel.eval("precious")  # and the user's data is where it was
