"""Driving one JupyterLab notebook the way a person does: click, type, Shift+Enter, menus.

Everything waits on a state of the page (a prompt number, a button becoming enabled), never
on a fixed sleep. Text is read with ``textContent`` rather than ``innerText``: cells scrolled
out of view are skipped by layout (``content-visibility``) and ``innerText`` of CodeMirror's
empty lines adds newlines that are not in the cell.
"""

from __future__ import annotations

import json
import re
import time
from typing import Any

from playwright.sync_api import Locator, Page, expect

from .conftest import GENERATION_TIMEOUT_MS, UI_TIMEOUT_MS, LabServer

NOTEBOOK = ".jp-NotebookPanel:not(.lm-mod-hidden) .jp-Notebook"

_CELL_INFO_JS = """(selector) => [...document.querySelectorAll(selector)].map(cell => ({
    type: cell.classList.contains('jp-CodeCell') ? 'code'
        : cell.classList.contains('jp-MarkdownCell') ? 'markdown' : 'raw',
    source: [...cell.querySelectorAll('.jp-InputArea-editor .cm-line')]
        .map(line => line.textContent).join('\\n'),
    prompt: (cell.querySelector('.jp-InputPrompt') || {}).textContent || '',
    output: (cell.querySelector('.jp-OutputArea') || {}).textContent || '',
    outputs: cell.querySelectorAll('.jp-OutputArea-child').length,
}))"""

# Records every distinct text of an element as it changes, inside the page, so that no
# intermediate state is missed between two polls from Python.
_OBSERVE_JS = """(element, key) => {
    window.__qwenStates = window.__qwenStates || {};
    const seen = window.__qwenStates[key] = [];
    const record = () => {
        const text = element.textContent;
        if (seen[seen.length - 1] !== text) seen.push(text);
    };
    record();
    new MutationObserver(record).observe(element,
        {subtree: true, childList: true, characterData: true});
}"""

_GHOST_TEXT_JS = """(selector) => [...document.querySelectorAll(selector)].map(ghost => {
    const copy = ghost.cloneNode(true);
    copy.querySelectorAll('.jp-GhostText-streamingIndicator, .jp-GhostText-errorIndicator')
        .forEach(element => element.remove());
    return copy.textContent;
}).join('')"""

EXECUTED = re.compile(r"^\[\d+\]:$")


class Notebook:
    def __init__(self, page: Page, server: LabServer, name: str) -> None:
        self.page, self.server, self.name = page, server, name

    def open(self) -> Notebook:
        self.page.goto(self.server.notebook_url(self.name))
        self.page.locator(f"{NOTEBOOK} .jp-Cell").first.wait_for()
        # The kernel is up when the front end says so; running a cell earlier would queue it
        # behind the kernel start anyway, but the screenshots would show "Connecting".
        if self.server.app == "notebook":  # Notebook 7 has no status bar, only the toolbar
            expect(self.page.locator(".jp-NotebookPanel-toolbar")).to_contain_text(
                "Python 3", timeout=UI_TIMEOUT_MS)
            self.wait_idle(UI_TIMEOUT_MS)
        else:
            expect(self.page.locator("#jp-main-statusbar")).to_contain_text(
                "Idle", timeout=UI_TIMEOUT_MS)
        return self

    # -- reading --------------------------------------------------------------------------

    def cells(self) -> list[dict[str, Any]]:
        return self.page.evaluate(_CELL_INFO_JS, f"{NOTEBOOK} .jp-Cell")

    def cell(self, index: int) -> Locator:
        return self.page.locator(f"{NOTEBOOK} .jp-Cell").nth(index)

    def index_of(self, prefix: str) -> int:
        for index, cell in enumerate(self.cells()):
            if cell["source"].startswith(prefix):
                return index
        raise AssertionError(f"no cell starts with {prefix!r}")

    # -- acting ---------------------------------------------------------------------------

    def run(self, index: int) -> None:
        """Click into the cell and press Shift+Enter, as a person runs a cell."""
        cell = self.cell(index)
        cell.scroll_into_view_if_needed()
        cell.locator(".jp-InputArea-editor").click()
        self.page.keyboard.press("Shift+Enter")

    def wait_executed(self, index: int, timeout: float = GENERATION_TIMEOUT_MS) -> str:
        expect(self.cell(index).locator(".jp-InputPrompt")).to_have_text(EXECUTED, timeout=timeout)
        return self.cells()[index]["prompt"]

    def run_and_wait(self, index: int, timeout: float = GENERATION_TIMEOUT_MS) -> str:
        self.run(index)
        return self.wait_executed(index, timeout)

    def menu(self, menu: str, item: str) -> None:
        self.page.locator(".lm-MenuBar-item", has_text=re.compile(f"^{re.escape(menu)}$")).click()
        self.page.locator(".lm-Menu-item:not(.lm-mod-disabled) .lm-Menu-itemLabel",
                          has_text=re.compile(f"^{re.escape(item)}$")).click()

    def wait_idle(self, timeout: float = GENERATION_TIMEOUT_MS) -> None:
        expect(self.page.locator(".jp-Notebook-ExecutionIndicator")).to_have_attribute(
            "data-status", "idle", timeout=timeout)

    # -- watching -------------------------------------------------------------------------

    def observe(self, element: Locator, key: str) -> None:
        element.evaluate(_OBSERVE_JS, key)

    def states(self, key: str) -> list[str]:
        return self.page.evaluate("(key) => (window.__qwenStates || {})[key] || []", key)

    def wait_states(self, key: str, marker: str, count: int,
                    timeout: float = GENERATION_TIMEOUT_MS) -> None:
        """Wait until ``count`` distinct recorded states contain ``marker``."""
        self.page.wait_for_function(
            """([key, marker, count]) => ((window.__qwenStates || {})[key] || [])
                   .filter(text => text.includes(marker)).length >= count""",
            arg=[key, marker, count], timeout=timeout)

    # -- inline completion (ghost text) ---------------------------------------------------

    def type_in(self, index: int, text: str, delay_ms: float = 40) -> None:
        """Click into a cell, go to the end of its text and type, key by key, as a person."""
        cell = self.cell(index)
        cell.scroll_into_view_if_needed()
        cell.locator(".jp-InputArea-editor").click()
        self.page.keyboard.press("Control+End")
        self.page.keyboard.type(text, delay=delay_ms)

    def ghost(self) -> Locator:
        """The inline completer's suggestion shown in the editor (JupyterLab's ghost text)."""
        return self.page.locator(f"{NOTEBOOK} .jp-GhostText")

    def ghost_text(self) -> str:
        """The suggestion's text without the streaming/error indicators; '' when none."""
        return self.page.evaluate(_GHOST_TEXT_JS, f"{NOTEBOOK} .jp-GhostText")

    def wait_ghost_text(self, timeout: float = GENERATION_TIMEOUT_MS,
                        finished: bool = True) -> str:
        """Wait for a suggestion (and, with ``finished``, for its streaming to end)."""
        expect(self.ghost().first).to_be_visible(timeout=timeout)
        if finished:
            expect(self.page.locator(f"{NOTEBOOK} .jp-GhostText-streamingIndicator")
                   ).to_have_count(0, timeout=timeout)
        return self.ghost_text()

    def accept_ghost_text(self) -> None:
        """Tab accepts the suggestion (JupyterLab's `inline-completer:accept`)."""
        self.page.keyboard.press("Tab")
        expect(self.ghost()).to_have_count(0)

    def source(self, index: int) -> str:
        return self.cells()[index]["source"]



class KernelTraffic:
    """Every kernel message the page sends and receives, decoded from its kernel websockets.

    Start it before the notebook opens. Both of JupyterLab's wire formats are read: the
    binary ``v1.kernel.websocket.jupyter.org`` one (JupyterLab 4's default) and JSON text.
    Playwright delivers the frames while the page is being waited on, so ``wait_for``
    polls through ``page.wait_for_timeout``.
    """

    def __init__(self, page: Page) -> None:
        self.page = page
        self.sent: list[dict[str, Any]] = []
        self.received: list[dict[str, Any]] = []
        page.on("websocket", self._on_socket)

    def _on_socket(self, socket: Any) -> None:
        if "/api/kernels/" not in socket.url:
            return
        socket.on("framesent", lambda payload: self._add(self.sent, payload))
        socket.on("framereceived", lambda payload: self._add(self.received, payload))

    @staticmethod
    def _add(into: list[dict[str, Any]], payload: str | bytes) -> None:
        message = decode_kernel_frame(payload)
        if message is not None:
            into.append(message)

    def comm_opens(self, target: str) -> list[dict[str, Any]]:
        return [m for m in self.sent if m["header"].get("msg_type") == "comm_open"
                and m["content"].get("target_name") == target]

    def comm_ids(self, target: str) -> set[str]:
        """The ids of every comm the page opened to ``target``."""
        return {m["content"]["comm_id"] for m in self.comm_opens(target)}

    def comm_data_sent(self, comm_ids: set[str] | None = None) -> list[dict[str, Any]]:
        """The ``data`` of the comm messages the page sent (to ``comm_ids`` if given)."""
        return [m["content"].get("data", {}) for m in self.sent
                if m["header"].get("msg_type") == "comm_msg"
                and (comm_ids is None or m["content"].get("comm_id") in comm_ids)]

    def comm_data_received(self, comm_ids: set[str]) -> list[dict[str, Any]]:
        return [m["content"].get("data", {}) for m in self.received
                if m["header"].get("msg_type") == "comm_msg"
                and m["content"].get("comm_id") in comm_ids]

    def comm_closes_received(self, comm_ids: set[str]) -> list[dict[str, Any]]:
        return [m for m in self.received if m["header"].get("msg_type") == "comm_close"
                and m["content"].get("comm_id") in comm_ids]

    def wait_for(self, condition: Any, timeout: float = UI_TIMEOUT_MS,
                 what: str = "kernel traffic") -> None:
        deadline = time.monotonic() + timeout / 1000
        while not condition():
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out waiting for {what}")
            self.page.wait_for_timeout(100)


def decode_kernel_frame(payload: str | bytes) -> dict[str, Any] | None:
    """One websocket frame as a Jupyter message: channel, header, parent_header, content."""
    try:
        if isinstance(payload, str):
            message = json.loads(payload)
            return message if isinstance(message, dict) and "header" in message else None
        count = int.from_bytes(payload[0:8], "little")
        offsets = [int.from_bytes(payload[8 * (i + 1):8 * (i + 2)], "little")
                   for i in range(count)]
        parts = [payload[offsets[i]:offsets[i + 1]] for i in range(min(count - 1, 5))]
        channel, header, parent, metadata, content = (
            parts[0].decode(), *(json.loads(part) for part in parts[1:5]))
        return {"channel": channel, "header": header, "parent_header": parent,
                "metadata": metadata, "content": content}
    except (ValueError, IndexError, UnicodeDecodeError):
        return None
