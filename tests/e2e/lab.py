"""Driving one JupyterLab notebook the way a person does: click, type, Shift+Enter, menus.

Everything waits on a state of the page (a prompt number, a button becoming enabled), never
on a fixed sleep. Text is read with ``textContent`` rather than ``innerText``: cells scrolled
out of view are skipped by layout (``content-visibility``) and ``innerText`` of CodeMirror's
empty lines adds newlines that are not in the cell.
"""

from __future__ import annotations

import re
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
