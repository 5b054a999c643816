"""Interrupts at every stage, and two generations at once, in a real kernel.

Kernel → Interrupt is a SIGINT to the kernel process. Whether it lands while llama.cpp
loads, while it decodes, or twice in a row, the cell must end with one line, the kernel
must live, and the model must answer the next cell exactly as before the interrupt.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import pytest

from tests.reliability.conftest import PRECIOUS, assert_healthy, load_count, shown_text
from tests.reliability.kernel import Execution, Kernel, one_clear_line

pytestmark = [pytest.mark.model, pytest.mark.notebook, pytest.mark.timeout(300)]

KERNEL_OPTIONS = {"preload": True}

# A fixed greedy request: its answer before and after each interrupt must be identical,
# which shows the interrupted generation left no state behind in the llama context.
REFERENCE = "%%qwen --no-insert --no-footer -t 0 --seed 5 -n 24\nwrite a function that adds two numbers"
LONG = "%%qwen -t 0 --seed 2 -n 400\nwrite a long, detailed tutorial about Python decorators"

# Loading the model takes about a second; slowing it down by a fixed delay makes "during
# the load" a window an interrupt can be aimed at. The real llama.cpp load still follows.
SLOW_LOAD = """\
import time as _time
_real_create = qwen_magic.providers.local.models._create_llama
def _slow_create(path, config):
    _time.sleep({delay})
    return _real_create(path, config)
qwen_magic.providers.local.models._create_llama = _slow_create
qwen_magic.providers.local.models.unload()
"""
RESTORE_LOAD = "qwen_magic.providers.local.models._create_llama = _real_create"


@pytest.fixture(scope="module")
def reference(kernel: Kernel) -> str:
    done = kernel.run(REFERENCE)
    assert done.status == "ok", done.error_lines
    return shown_text(done)


def interrupt_when(kernel: Kernel, cell: str, seen: Callable[[str], bool], times: int = 1,
                   gap: float = 0.0) -> tuple[Execution, list[str]]:
    """Run ``cell`` and interrupt it ``times`` times once an output update matches ``seen``."""
    updates: list[str] = []
    fired: list[bool] = []

    def watch(msg: dict[str, Any]) -> None:
        if msg["msg_type"] in ("display_data", "update_display_data"):
            data = msg["content"]["data"]
            # The Markdown view carries the typing cursor; the plain text does not.
            text = str(data.get("text/markdown", data.get("text/plain", "")))
            updates.append(text)
            if not fired and seen(text):
                fired.append(True)
                for n in range(times):
                    if n:
                        time.sleep(gap)
                    kernel.interrupt()

    done = kernel.collect(kernel.submit(cell), timeout=120, on_message=watch)
    assert fired, f"never saw the moment to interrupt; updates: {updates[-3:]}"
    return done, updates


def streaming(text: str) -> bool:
    return "▌" in text and len(text) > 20


def assert_same_answer(kernel: Kernel, reference: str) -> None:
    done = kernel.run(REFERENCE)
    assert done.status == "ok", done.error_lines
    assert shown_text(done) == reference


def test_interrupt_during_generation(kernel: Kernel, reference: str) -> None:
    loads = load_count(kernel)
    done, _ = interrupt_when(kernel, LONG, streaming)
    line = one_clear_line(done)
    assert line.startswith("GenerationCancelled: ") and "nothing was inserted" in line, line
    assert "⏹ interrupted" in shown_text(done)  # the partial answer stays, marked as such
    assert not done.inserted
    assert kernel.eval("_qwen.finish_reason") == "cancelled"
    assert len(kernel.eval("_qwen.text")) > 20
    assert_same_answer(kernel, reference)
    assert_healthy(kernel, loads=loads)


def test_interrupt_twice_during_generation(kernel: Kernel, reference: str) -> None:
    loads = load_count(kernel)
    done, _ = interrupt_when(kernel, LONG, streaming, times=2)
    line = one_clear_line(done)
    assert line.startswith("GenerationCancelled: "), line
    # A third interrupt while the kernel is idle must not hurt either.
    kernel.interrupt()
    time.sleep(0.5)
    assert_same_answer(kernel, reference)
    assert_healthy(kernel, loads=loads)


def test_interrupt_twice_with_a_gap(kernel: Kernel, reference: str) -> None:
    # The second SIGINT arrives while the cell is already winding down from the first.
    done, _ = interrupt_when(kernel, LONG, streaming, times=2, gap=0.05)
    assert one_clear_line(done).startswith("GenerationCancelled: ")
    assert_same_answer(kernel, reference)


def test_interrupt_api_generation(kernel: Kernel, reference: str) -> None:
    # The Python API re-raises KeyboardInterrupt, as any Python call does on Ctrl-C; the
    # partial answer is kept in qwen_magic.api.last_result.
    loads = load_count(kernel)
    kernel.ok("from qwen_magic.streaming import BaseSink\n"
              "class Ticks(BaseSink):\n"
              "    def on_text(self, delta, text):\n"
              "        print('.', end='', flush=True)  # lets the test see tokens arrive")
    fired: list[bool] = []

    def watch(msg: dict[str, Any]) -> None:
        if msg["msg_type"] == "stream" and not fired:
            fired.append(True)
            kernel.interrupt()

    done = kernel.collect(kernel.submit(
        "qwen_magic.generate('write a long tutorial about Python decorators', "
        "max_tokens=400, temperature=0, provider=api_provider, sinks=[Ticks()])"),
        on_message=watch)
    assert fired
    assert done.status == "error" and done.error is not None
    assert done.error["ename"] == "KeyboardInterrupt"
    assert kernel.eval("qwen_magic.api.last_result.finish_reason") == "cancelled"
    assert_same_answer(kernel, reference)
    assert_healthy(kernel, loads=loads)


def test_interrupt_while_the_cell_waits_for_the_background_load(
    kernel: Kernel, reference: str
) -> None:
    loads = load_count(kernel)
    kernel.ok(SLOW_LOAD.format(delay=3))
    try:
        kernel.ok("%reload_ext qwen_magic")  # starts the background load again
        done, _ = interrupt_when(kernel, "%%qwen -n 8\nsay hi",
                                 lambda text: "loading the model" in text)
        line = one_clear_line(done)
        assert line.startswith("GenerationCancelled: ") and "run the cell again" in line, line
        assert "⏳" not in shown_text(done), "a stale 'loading' line would never go away"
        assert kernel.eval("precious") == PRECIOUS
    finally:
        kernel.ok(RESTORE_LOAD)
    # The load went on in the background: the next cell uses it without loading again.
    assert_same_answer(kernel, reference)
    assert load_count(kernel) == loads + 1


@pytest.mark.parametrize("times", [1, 2])
def test_interrupt_while_the_cell_itself_loads(kernel: Kernel, reference: str, times: int) -> None:
    loads = load_count(kernel)
    kernel.ok(SLOW_LOAD.format(delay=2))
    try:
        done, _ = interrupt_when(kernel, "%%qwen -n 8\nsay hi",
                                 lambda text: "loading the model" in text, times=times)
        line = one_clear_line(done)
        assert line.startswith("GenerationCancelled: "), line
        assert not done.inserted
    finally:
        kernel.ok(RESTORE_LOAD)
    assert_same_answer(kernel, reference)
    assert load_count(kernel) == loads + 1  # the interrupted load was kept, not repeated


TWO_THREADS = """\
import threading
answers = {}
def ask(name, prompt):
    answers[name] = qwen_magic.generate(prompt, temperature=0, seed=1, max_tokens=24,
                                        provider=api_provider).text
prompts = {"a": "write a function that reverses a string",
           "b": "write a function that checks whether a number is prime"}
threads = [threading.Thread(target=ask, args=item) for item in prompts.items()]
for t in threads: t.start()
for t in threads: t.join(120)
serial = {name: qwen_magic.generate(p, temperature=0, seed=1, max_tokens=24,
                                    provider=api_provider).text for name, p in prompts.items()}
"""


def test_two_threads_generate_at_once(kernel: Kernel) -> None:
    loads = load_count(kernel)
    kernel.ok(TWO_THREADS, timeout=180)
    answers, serial = kernel.eval("answers"), kernel.eval("serial")
    assert set(answers) == {"a", "b"}
    # Serialised on the model's lock: each answer is exactly what it is alone.
    assert answers == serial
    assert_healthy(kernel, loads=loads)


def test_panel_and_cell_generate_at_once(kernel: Kernel, reference: str) -> None:
    loads = load_count(kernel)
    kernel.ok("panel = qwen_magic.panel(max_tokens=120, temperature=0.0)\n"
              "worker = panel.generate('write a long tutorial about Python generators')\n"
              "import time; time.sleep(1.0)")  # the panel holds the model now
    updates: list[str] = []

    def watch(msg: dict[str, Any]) -> None:
        if msg["msg_type"] in ("display_data", "update_display_data"):
            updates.append(str(msg["content"]["data"].get("text/plain", "")))

    done = kernel.collect(kernel.submit(REFERENCE), timeout=180, on_message=watch)
    assert done.status == "ok", done.error_lines
    assert any("busy" in update for update in updates), updates[:3]  # it said why it waits
    assert shown_text(done) == reference  # and then answered as if alone
    assert kernel.eval("panel.wait(120)") is True
    assert kernel.eval("panel.result.finish_reason") in ("stop", "length")
    assert len(kernel.eval("panel.result.text")) > 20
    assert_healthy(kernel, loads=loads)
