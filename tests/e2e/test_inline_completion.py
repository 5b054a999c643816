"""Inline completion (ghost text) from the labextension, in a real JupyterLab and Chromium.

The front end's part, end to end: the plugin ``qwen-magic:inline-completer`` is loaded, asks
the notebook's kernel through the comm ``qwen_magic.completion`` when the user pauses typing
(what it sends is read off the kernel websocket), and

* with a kernel that has NOT loaded qwen_magic (no comm target: ipykernel closes the comm at
  once) shows nothing — no ghost text, no error dialog, no uncaught error in the page — and
  asks again only once a cell has run (it may have been ``%load_ext qwen_magic``);
* with a scripted kernel side (a comm target registered by a cell, answering by the
  protocol in labextension/README.md without any model) streams the deltas as ghost text,
  cancels the old request when the user types on, shows nothing for `busy` and `error`,
  asks nothing mid-line, Tab accepts the suggestion, and a kernel restart gets a new comm;
  the same ghost text and Tab in Notebook 7.

The same test against the real kernel side is then one short test: ``%load_ext qwen_magic``,
``notebook.type_in(...)``, ``notebook.wait_ghost_text()``, ``notebook.accept_ghost_text()``,
``notebook.source(...)``.
"""

from __future__ import annotations

import json
import urllib.request
from typing import Any

import nbformat
import pytest
from playwright.sync_api import expect

from .conftest import LabServer, Shooter
from .lab import KernelTraffic, Notebook

pytestmark = [pytest.mark.browser, pytest.mark.timeout(600)]

TARGET = "qwen_magic.completion"
PLUGIN = "qwen-magic:inline-completer"
# JupyterLab's debouncer delay for this provider (its schema default) is 250 ms; what the
# tests wait for is the kernel's answer, then this much more for anything late to show.
SETTLE_MS = 1500

CELLS_ABOVE = ["import math", "def area(r):\n    return math.pi * r ** 2"]


class PageErrors:
    """Uncaught exceptions and console errors of the page, from the moment it is created."""

    def __init__(self, page: Any) -> None:
        self.uncaught: list[str] = []
        self.console: list[str] = []
        page.on("pageerror", lambda error: self.uncaught.append(f"{error}\n{error.stack}"))
        page.on("console", lambda message: self.console.append(message.text)
                if message.type == "error" else None)

    def check(self, known: tuple[str, ...] = ()) -> None:
        """No uncaught error but the ``known`` ones (substrings), none from this extension."""
        uncaught = [text for text in self.uncaught if not any(k in text for k in known)]
        assert not uncaught, uncaught
        uncaught = [text for text in self.console if "Uncaught" in text
                    and not any(k in text for k in known)]
        assert not uncaught, uncaught
        ours = [text for text in self.console if "qwen" in text.lower() or "comm" in text.lower()]
        assert not ours, ours


def write_notebook(server: LabServer, name: str, extra_first: list[str] | None = None) -> str:
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3 (ipykernel)",
                                 "language": "python"}
    nb.metadata["language_info"] = {"name": "python"}
    nb.cells = [nbformat.v4.new_code_cell(source) for source in extra_first or []]
    nb.cells += [nbformat.v4.new_code_cell(CELLS_ABOVE[0]),
                 nbformat.v4.new_markdown_cell("Circles."),
                 nbformat.v4.new_code_cell(CELLS_ABOVE[1]),
                 nbformat.v4.new_code_cell("")]
    nbformat.write(nb, server.root / name)
    return name


def type_statement(notebook: Notebook, index: int) -> None:
    """Two lines, the cursor left at the end of the second (not mid-line, no brackets)."""
    notebook.type_in(index, "radius = 3")
    notebook.page.keyboard.press("Enter")
    notebook.page.keyboard.type("result = ", delay=40)


def no_error_ui(page: Any) -> None:
    expect(page.locator(".jp-Dialog")).to_have_count(0)
    expect(page.locator(".Toastify__toast--error")).to_have_count(0)


def test_plugin_and_its_settings_are_served(lab_server: LabServer) -> None:
    request = urllib.request.Request(f"{lab_server.url}/lab/api/settings/{PLUGIN}",
                                     headers={"Authorization": f"token {lab_server.token}"})
    with urllib.request.urlopen(request, timeout=30) as response:
        settings = json.loads(response.read())
    # No length of its own: the kernel's QwenMagics.completion_max_tokens is the one default.
    assert settings["schema"]["properties"]["maxTokens"]["default"] is None


def test_kernel_without_the_extension_shows_nothing(
        page: Any, lab_server: LabServer, shoot: Shooter) -> None:
    errors = PageErrors(page)
    traffic = KernelTraffic(page)
    notebook = Notebook(page, lab_server, write_notebook(lab_server, "no_extension.ipynb")).open()
    last = len(notebook.cells()) - 1

    type_statement(notebook, last)
    # The provider asked the kernel: it opened the comm and sent the request ...
    traffic.wait_for(lambda: traffic.comm_opens(TARGET), what="the comm_open")
    comm_ids = traffic.comm_ids(TARGET)
    traffic.wait_for(lambda: traffic.comm_data_sent(comm_ids), what="the complete message")
    request = traffic.comm_data_sent(comm_ids)[-1]
    assert request["type"] == "complete" and isinstance(request["id"], int), request
    assert request["prefix"] == "radius = 3\nresult = " and request["suffix"] == "", request
    assert request["cells"] == CELLS_ABOVE and "max_tokens" not in request, request
    # ... and the kernel, which has no such comm target, closed it at once.
    traffic.wait_for(lambda: traffic.comm_closes_received(comm_ids), what="the comm_close")
    page.wait_for_timeout(SETTLE_MS)
    expect(notebook.ghost()).to_have_count(0)
    no_error_ui(page)
    assert notebook.source(last) == "radius = 3\nresult = "
    shoot("11-inline-no-extension")

    # Typing on without running anything: the kernel is not asked again (no comm_open).
    opened = len(traffic.comm_opens(TARGET))
    notebook.page.keyboard.type("area", delay=40)
    page.wait_for_timeout(SETTLE_MS)
    assert len(traffic.comm_opens(TARGET)) == opened
    expect(notebook.ghost()).to_have_count(0)

    # A cell ran (it could have been %load_ext qwen_magic): the next pause asks again.
    notebook.run_and_wait(0, timeout=60_000)
    notebook.type_in(last, " ")
    traffic.wait_for(lambda: len(traffic.comm_opens(TARGET)) > opened, what="a new comm_open")
    comm_ids = traffic.comm_ids(TARGET)
    traffic.wait_for(lambda: len(traffic.comm_closes_received(comm_ids)) > opened,
                     what="the second comm_close")
    page.wait_for_timeout(SETTLE_MS)
    expect(notebook.ghost()).to_have_count(0)
    no_error_ui(page)
    errors.check()


# A kernel side in a cell: answers each request with the deltas of ANSWER (slowly after
# "slow = ", so that typing on interrupts it), `busy` after "busy = ", `error` after
# "oops = ", and honours cancels.
SCRIPTED_KERNEL_SIDE = '''\
import threading, time
from comm import get_comm_manager

ANSWER = ["2 * ", "math", ".pi", " * ", "radius"]
seen, cancelled = [], set()

def _open(comm, _open_msg):
    def stream(request_id, pause):
        for piece in ANSWER:
            time.sleep(pause)
            if request_id in cancelled:
                comm.send({"type": "done", "id": request_id, "finish_reason": "cancelled"})
                return
            comm.send({"type": "chunk", "id": request_id, "text": piece})
        comm.send({"type": "done", "id": request_id, "finish_reason": "stop"})

    @comm.on_msg
    def _message(msg):
        data = msg["content"]["data"]
        seen.append(data)
        if data["type"] == "cancel":
            cancelled.add(data["id"])
        elif data["type"] == "prefill":
            pass  # read ahead: nothing to answer
        elif data["prefix"].endswith("busy = "):
            comm.send({"type": "busy", "id": data["id"]})
        elif data["prefix"].endswith("oops = "):
            comm.send({"type": "error", "id": data["id"], "message": "scripted failure"})
        else:
            pause = 1.0 if data["prefix"].endswith("slow = ") else 0.05
            threading.Thread(target=stream, args=(data["id"], pause), daemon=True).start()

get_comm_manager().register_target("qwen_magic.completion", _open)
'''


def test_scripted_kernel_side_streams_cancels_and_tab_accepts(
        page: Any, lab_server: LabServer, shoot: Shooter) -> None:
    errors = PageErrors(page)
    traffic = KernelTraffic(page)
    notebook = Notebook(page, lab_server, write_notebook(
        lab_server, "scripted.ipynb", extra_first=[SCRIPTED_KERNEL_SIDE])).open()
    last = len(notebook.cells()) - 1
    run_all_above(notebook, last)

    def replies(kind: str) -> list[dict[str, Any]]:
        comm_ids = traffic.comm_ids(TARGET)
        return [d for d in traffic.comm_data_received(comm_ids) if d.get("type") == kind]

    def requests() -> list[dict[str, Any]]:
        return [d for d in traffic.comm_data_sent(traffic.comm_ids(TARGET))
                if d.get("type") == "complete"]

    # A slow answer, interrupted by typing on: the old request is cancelled.
    notebook.type_in(last, "slow = ")
    traffic.wait_for(lambda: replies("chunk"), timeout=30_000, what="the first chunk")
    first = requests()[0]
    assert first["prefix"] == "slow = " and first["suffix"] == "", first
    assert first["cells"][0].startswith("import threading"), first
    assert first["cells"][1:] == CELLS_ABOVE and "max_tokens" not in first, first
    notebook.page.keyboard.press("Backspace")
    notebook.page.keyboard.type(" 1", delay=40)
    traffic.wait_for(lambda: {"type": "cancel", "id": first["id"]}
                     in traffic.comm_data_sent(traffic.comm_ids(TARGET)),
                     what="the cancel of the first request")
    clear_cell(notebook)

    # The cell cleared while a request waits for its first text: that text, arriving for a
    # text no longer there, is not shown in the empty cell.
    asked = len(requests())
    notebook.type_in(last, "slow = ")
    traffic.wait_for(lambda: len(requests()) > asked, timeout=30_000, what="the slow request")
    late = requests()[-1]["id"]
    clear_cell(notebook)
    traffic.wait_for(lambda: any(r["id"] == late for r in replies("chunk")), timeout=30_000,
                     what="its late first chunk")
    page.wait_for_timeout(SETTLE_MS)
    expect(notebook.ghost()).to_have_count(0)

    # `busy` (a cell is running) and `error`: nothing shown, nothing said.
    for prefix, kind in (("busy = ", "busy"), ("oops = ", "error")):
        notebook.type_in(last, prefix)
        traffic.wait_for(lambda kind=kind: replies(kind), timeout=30_000, what=kind)
        page.wait_for_timeout(SETTLE_MS)
        expect(notebook.ghost()).to_have_count(0)
        no_error_ui(page)
        clear_cell(notebook)

    # A quick answer: streamed deltas become one ghost text, and Tab accepts it.
    type_statement(notebook, last)
    ghost = notebook.wait_ghost_text(timeout=30_000)
    assert ghost == "2 * math.pi * radius", ghost
    request = requests()[-1]
    assert request["prefix"] == "radius = 3\nresult = " and request["suffix"] == ""
    assert request["id"] > first["id"] and "max_tokens" not in request
    shoot("12-inline-ghost-text")
    notebook.accept_ghost_text()
    assert notebook.source(last) == "radius = 3\nresult = 2 * math.pi * radius"

    # Typing in the middle of a line asks nothing (JupyterLab's autoFillInMiddle: off).
    asked = len(requests())
    notebook.page.keyboard.press("Home")
    notebook.page.keyboard.type("my_", delay=40)
    page.wait_for_timeout(SETTLE_MS)
    assert len(requests()) == asked and notebook.ghost().count() == 0
    assert notebook.source(last) == "radius = 3\nmy_result = 2 * math.pi * radius"

    # A kernel restart takes the comm with it: the next request opens a new one.
    opened = len(traffic.comm_opens(TARGET))
    notebook.menu("Kernel", "Restart Kernel and Clear Outputs of All Cells…")
    page.locator(".jp-Dialog .jp-mod-accept").click()
    expect(page.locator(".jp-Dialog")).to_have_count(0)
    notebook.wait_idle(60_000)
    run_all_above(notebook, last)
    clear_cell(notebook)
    type_statement(notebook, last)
    assert notebook.wait_ghost_text(timeout=30_000) == "2 * math.pi * radius"
    assert len(traffic.comm_opens(TARGET)) == opened + 1
    no_error_ui(page)
    errors.check()


def real_model_notebook(page: Any, lab_server: LabServer,
                        name: str) -> tuple[PageErrors, KernelTraffic, Notebook, int]:
    """A notebook whose first cell loads qwen_magic (the real model), run down to its last
    cell, which is where the test types."""
    errors = PageErrors(page)
    traffic = KernelTraffic(page)
    notebook = Notebook(page, lab_server, write_notebook(
        lab_server, name, extra_first=["%load_ext qwen_magic"])).open()
    last = len(notebook.cells()) - 1
    run_all_above(notebook, last)
    return errors, traffic, notebook, last


def run_all_above(notebook: Notebook, last: int) -> None:
    for index, cell in enumerate(notebook.cells()[:last]):
        if cell["type"] == "code":
            notebook.run_and_wait(index, timeout=60_000)


def clear_cell(notebook: Notebook) -> None:
    """Select all of the (focused) cell's text and delete it."""
    notebook.page.keyboard.press("Control+A")
    notebook.page.keyboard.press("Delete")
    expect(notebook.ghost()).to_have_count(0)


def test_notebook7_ghost_text_and_tab(
        page: Any, notebook7_server: LabServer, shoot: Shooter) -> None:
    """The same provider in Notebook 7 (skipped when the `notebook` package is absent)."""
    errors = PageErrors(page)
    notebook = Notebook(page, notebook7_server, write_notebook(
        notebook7_server, "scripted7.ipynb", extra_first=[SCRIPTED_KERNEL_SIDE])).open()
    last = len(notebook.cells()) - 1
    run_all_above(notebook, last)
    type_statement(notebook, last)
    assert notebook.wait_ghost_text(timeout=30_000) == "2 * math.pi * radius"
    shoot("13-notebook7-ghost-text")
    notebook.accept_ghost_text()
    assert notebook.source(last) == "radius = 3\nresult = 2 * math.pi * radius"
    no_error_ui(page)
    # Notebook 7.6 itself throws this once at start-up, with or without this extension.
    errors.check(known=("Cannot read properties of undefined (reading 'schema')",))


def test_real_model_ghost_text_is_accepted_and_nothing_runs(
        page: Any, lab_server: LabServer, shoot: Shooter) -> None:
    """The kernel's own model behind the comm: ghost text appears, Tab puts it in the cell,
    nothing is executed; typing while it streams cancels the running request."""
    errors, traffic, notebook, last = real_model_notebook(page, lab_server, "real_model.ipynb")

    notebook.type_in(last, "def circumference(r):")
    notebook.page.keyboard.press("Enter")  # JupyterLab indents the body
    notebook.page.keyboard.type("return ", delay=40)
    ghost = notebook.wait_ghost_text(timeout=120_000)  # the first read of the context is cold
    assert ghost.strip(), "no ghost text"
    shoot("14-inline-ghost-text-real-model")
    typed = "def circumference(r):\n    return "  # (the editor's text shows the ghost too)
    notebook.accept_ghost_text()
    source = notebook.source(last)
    assert source.startswith(typed) and len(source) > len(typed)
    assert ghost.strip().splitlines()[0] in source
    cell = notebook.cells()[last]
    assert cell["prompt"].strip() in ("[ ]:", "") and cell["outputs"] == 0  # never run

    # Typing on while a completion streams: the kernel is told, and stops that request.
    def replies() -> list[dict[str, Any]]:
        return traffic.comm_data_received(traffic.comm_ids(TARGET))

    notebook.page.keyboard.press("Enter")
    notebook.page.keyboard.press("Enter")
    notebook.page.keyboard.type("def area_of_ring(outer, inner):", delay=40)
    notebook.page.keyboard.press("Enter")
    notebook.page.keyboard.type("return ", delay=40)
    traffic.wait_for(lambda: any(r["type"] == "chunk" for r in replies()[-3:]), timeout=60_000,
                     what="a chunk of the next completion")
    streaming = [r for r in replies() if r["type"] == "chunk"][-1]["id"]
    notebook.page.keyboard.type("math", delay=40)
    traffic.wait_for(lambda: any(r["type"] == "done" and r["id"] == streaming
                                 for r in replies()), timeout=60_000, what="its done")
    done = next(r for r in replies() if r["type"] == "done" and r["id"] == streaming)
    assert done["finish_reason"] in ("cancelled", "stale", "stop", "length"), done
    assert any(d == {"type": "cancel", "id": streaming}
               for d in traffic.comm_data_sent(traffic.comm_ids(TARGET))) \
        or done["finish_reason"] in ("stop", "length")  # it may have finished first

    # While the user typed, the kernel was sent the text before the cursor to read ahead.
    source = notebook.source(last)
    read_ahead = [d for d in traffic.comm_data_sent(traffic.comm_ids(TARGET))
                  if d.get("type") == "prefill" and "prefix" in d]
    assert len(read_ahead) >= 3, read_ahead
    assert all(source.startswith(d["prefix"]) for d in read_ahead), (source, read_ahead)
    assert any("def area_of_ring(outer" in d["prefix"] for d in read_ahead)
    assert read_ahead[-1]["cells"][0] == "%load_ext qwen_magic"

    # The user runs the cell: the kernel is sent the grown notebook to read while idle.
    def prefills() -> list[dict[str, Any]]:
        return [d for d in traffic.comm_data_sent(traffic.comm_ids(TARGET))
                if d.get("type") == "prefill"]

    notebook.page.keyboard.press("Escape")
    notebook.run_and_wait(last, timeout=60_000)
    traffic.wait_for(prefills, timeout=30_000, what="a prefill after the run")
    cells = prefills()[-1]["cells"]
    assert cells[0] == "%load_ext qwen_magic" and cells[-1].startswith(typed), cells
    no_error_ui(page)
    errors.check()


def test_alt_backslash_completes_an_empty_indented_line(
        page: Any, lab_server: LabServer, shoot: Shooter) -> None:
    """JupyterLab never asks by itself on a whitespace-only line (the start of a body): the
    README's Alt-\\ (``inline-completer:invoke``) does, with the kernel's own model."""
    errors, traffic, notebook, last = real_model_notebook(page, lab_server, "alt_backslash.ipynb")

    typed = "def fibonacci(n):\n    "  # JupyterLab indents the line after the colon
    notebook.type_in(last, "def fibonacci(n):")
    notebook.page.keyboard.press("Enter")
    assert notebook.source(last) == typed

    def asked_here() -> list[dict[str, Any]]:
        return [d for d in traffic.comm_data_sent(traffic.comm_ids(TARGET))
                if d.get("type") == "complete" and d.get("prefix") == typed]

    # By itself: nothing is asked for this line and nothing shows (a request sent while the
    # first line was typed is for another cursor and is not shown here either).
    page.wait_for_timeout(3 * SETTLE_MS)
    assert not asked_here()
    expect(notebook.ghost()).to_have_count(0)

    notebook.page.keyboard.press("Alt+Backslash")
    ghost = notebook.wait_ghost_text(timeout=120_000)  # the first read of the context is cold
    assert ghost.strip(), "no ghost text"
    assert len(asked_here()) == 1
    shoot("15-inline-alt-backslash-empty-line")
    notebook.accept_ghost_text()

    source = notebook.source(last)
    assert source.startswith(typed) and source[len(typed):].strip(), source
    body = [line for line in source.split("\n")[1:] if line.strip()]
    assert body and all(line.startswith("    ") for line in body), source  # an indented body
    cell = notebook.cells()[last]
    assert cell["prompt"].strip() in ("[ ]:", "") and cell["outputs"] == 0  # never run
    no_error_ui(page)
    errors.check()


def test_ghost_text_from_a_team_server(page: Any, lab_server: LabServer, shoot: Shooter,
                                       tmp_path: Any) -> None:
    """The openai provider against `qwen-magic serve` (the real model in another process):
    the kernel asks the server to fill in the middle, ghost text appears, Tab accepts it, and
    nothing loads a model in the kernel or runs."""
    from tests.serve_process import running_server

    with running_server(tmp_path) as (url, key, _):
        setup = ("import os\n"  # what a team sets where Jupyter starts, here for this kernel
                 f"os.environ.update(QWEN_MAGIC_PROVIDER='openai', QWEN_MAGIC_BASE_URL={url!r}, "
                 f"QWEN_MAGIC_API_KEY={key!r})")
        errors = PageErrors(page)
        traffic = KernelTraffic(page)
        notebook = Notebook(page, lab_server, write_notebook(
            lab_server, "team_server.ipynb", extra_first=[setup, "%load_ext qwen_magic"])).open()
        last = len(notebook.cells()) - 1
        run_all_above(notebook, last)

        notebook.type_in(last, "def circumference(r):")
        notebook.page.keyboard.press("Enter")
        notebook.page.keyboard.type("return ", delay=40)
        ghost = notebook.wait_ghost_text(timeout=120_000)
        assert ghost.strip(), "no ghost text"
        shoot("16-inline-ghost-text-team-server")
        typed = "def circumference(r):\n    return "
        notebook.accept_ghost_text()
        source = notebook.source(last)
        assert source.startswith(typed) and len(source) > len(typed)
        cell = notebook.cells()[last]
        assert cell["prompt"].strip() in ("[ ]:", "") and cell["outputs"] == 0  # never run
        done = [d for d in traffic.comm_data_received(traffic.comm_ids(TARGET))
                if d.get("type") == "done"]
        assert done and all(d["finish_reason"] != "unavailable" for d in done), done
        no_error_ui(page)
        errors.check()
