"""A real JupyterLab (or Notebook 7) on 127.0.0.1, random port and token; headless Chromium.

Playwright cannot download its own browsers on these machines, so Debian's ``chromium``
is driven through ``executable_path``. The server runs on a temporary copy of the demo
notebooks with its own settings, workspaces and runtime directories, so a run never
restores someone's workspace, never touches the committed notebooks and leaves nothing
behind but the artifacts under ``test-artifacts/e2e``. Without Chromium the browser tests
skip (saying how to install it) unless QWEN_MAGIC_REQUIRE_BROWSER=1, as CI sets.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import secrets
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "test-artifacts" / "e2e"
CHROMIUM_CANDIDATES = ("/usr/bin/chromium", "/usr/bin/chromium-browser", "/usr/bin/google-chrome")
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run",
]
# The CPU is shared with the model (and, on a dev box, with other work): every wait is on
# a state, with timeouts generous enough for a loaded 2-core machine.
SERVER_START_S = 120
UI_TIMEOUT_MS = 60_000
GENERATION_TIMEOUT_MS = 180_000

# Lab settings that keep popups from covering the notebook: no news / update toasts.
LAB_SETTINGS = {
    "@jupyterlab/apputils-extension/notification.jupyterlab-settings": {
        "fetchNews": "false", "checkForUpdates": False,
    },
}


def chromium_path() -> str | None:
    found = os.environ.get("QWEN_MAGIC_CHROMIUM")
    if found:
        return found
    return next((p for p in CHROMIUM_CANDIDATES if Path(p).exists()), None)


def free_port() -> int:
    # Bind to port 0 and let the OS pick; port_retries=0 below makes a lost race an error
    # rather than a silent move to another port.
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class LabServer:
    url: str
    token: str
    root: Path
    process: subprocess.Popen[bytes]
    log: Path
    app: str = "jupyterlab"

    def notebook_url(self, name: str) -> str:
        if self.app == "notebook":
            return f"{self.url}/notebooks/{name}?token={self.token}"
        return f"{self.url}/lab/tree/{name}?token={self.token}&reset"

    def api(self, path: str) -> Any:
        request = urllib.request.Request(f"{self.url}/api/{path}",
                                         headers={"Authorization": f"token {self.token}"})
        with urllib.request.urlopen(request, timeout=10) as response:
            return json.loads(response.read())


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    # A laptop without Chromium skips these tests, saying how to get it; CI sets
    # QWEN_MAGIC_REQUIRE_BROWSER=1 so that a missing browser fails instead of passing quietly.
    # (A missing model fails, as in every real-model test: see tests/conftest.py.)
    if chromium_path() is not None or os.environ.get("QWEN_MAGIC_REQUIRE_BROWSER") == "1":
        return
    skip = pytest.mark.skip(
        reason="no chromium: `apt-get install -y chromium` (or set QWEN_MAGIC_CHROMIUM)")
    for item in items:
        if "browser" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(scope="session")
def artifacts() -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return ARTIFACTS


def _write_settings(settings_dir: Path) -> None:
    for relative, values in LAB_SETTINGS.items():
        path = settings_dir / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(values))


@contextlib.contextmanager
def serve(app: str, base: Path, model_path: Path, log: Path) -> Iterator[LabServer]:
    """Run ``python -m <app>`` (jupyterlab or notebook) on a copy of the demo notebooks."""
    root = base / "notebooks"
    shutil.copytree(ROOT / "demo_notebooks", root,
                    ignore=shutil.ignore_patterns("*.executed.ipynb", ".ipynb_checkpoints"))
    settings_dir = base / "settings"
    _write_settings(settings_dir)
    port, token = free_port(), secrets.token_hex(24)
    env = {
        **os.environ,
        "JUPYTER_CONFIG_DIR": str(base / "config"),
        "JUPYTER_RUNTIME_DIR": str(base / "runtime"),
        "IPYTHONDIR": str(base / "ipython"),
        # The kernel runs in the copied folder; the model is found through the env var.
        "QWEN_MAGIC_MODEL": str(model_path),
        "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
    }
    app_class = {"jupyterlab": "LabApp", "notebook": "JupyterNotebookApp"}[app]
    command = [
        sys.executable, "-m", app, "--no-browser",
        "--ServerApp.ip=127.0.0.1", f"--ServerApp.port={port}", "--ServerApp.port_retries=0",
        f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={root}",
        f"--{app_class}.user_settings_dir={settings_dir}",
        f"--{app_class}.workspaces_dir={base / 'workspaces'}",
        "--MappingKernelManager.cull_idle_timeout=0",
    ]
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        command.append("--allow-root")  # CI containers run as root
    with open(log, "wb") as log_file:
        process = subprocess.Popen(command, cwd=root, env=env, stdout=log_file,
                                   stderr=subprocess.STDOUT)
        server = LabServer(f"http://127.0.0.1:{port}", token, root, process, log, app)
        try:
            _wait_for_server(server)
            yield server
        finally:
            process.terminate()
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=30)


@pytest.fixture(scope="session")
def lab_server(tmp_path_factory: pytest.TempPathFactory, artifacts: Path, model_path: Path
               ) -> Iterator[LabServer]:
    with serve("jupyterlab", tmp_path_factory.mktemp("lab"), model_path,
               artifacts / "jupyterlab.log") as server:
        yield server


@pytest.fixture(scope="session")
def notebook7_server(tmp_path_factory: pytest.TempPathFactory, artifacts: Path,
                     model_path: Path) -> Iterator[LabServer]:
    """Notebook 7, when installed (`pip install 'notebook>=7'`); the same ipylab route."""
    pytest.importorskip("notebook", minversion="7",
                        reason="Notebook 7 is not installed: pip install 'notebook>=7'")
    with serve("notebook", tmp_path_factory.mktemp("nb7"), model_path,
               artifacts / "notebook7.log") as server:
        yield server


def _wait_for_server(server: LabServer) -> None:
    deadline = time.monotonic() + SERVER_START_S
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise RuntimeError(f"{server.app} exited early; see {server.log}")
        try:
            server.api("status")
            return
        except (urllib.error.URLError, ConnectionError, OSError):
            time.sleep(0.5)
    raise RuntimeError(f"{server.app} did not answer within {SERVER_START_S} s; see {server.log}")


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    executable = chromium_path()
    if executable is None:
        pytest.fail("QWEN_MAGIC_REQUIRE_BROWSER=1 but no chromium: `apt-get install -y chromium`")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=executable, headless=True, args=CHROMIUM_ARGS
        )
        try:
            yield browser
        finally:
            browser.close()


def server_of(request: pytest.FixtureRequest) -> LabServer:
    """The server the test asked for: Notebook 7 if it names that fixture, else JupyterLab."""
    name = "notebook7_server" if "notebook7_server" in request.fixturenames else "lab_server"
    return request.getfixturevalue(name)


@pytest.fixture(autouse=True)
def shut_down_kernels(request: pytest.FixtureRequest) -> Iterator[None]:
    # One kernel per notebook, each with its own copy of the model: free them between tests
    # so that the next test's generation has the CPU to itself.
    server = server_of(request)
    yield
    for session in server.api("sessions"):
        delete = urllib.request.Request(
            f"{server.url}/api/sessions/{session['id']}", method="DELETE",
            headers={"Authorization": f"token {server.token}"})
        urllib.request.urlopen(delete, timeout=30).close()


@pytest.fixture
def page(browser: Any, artifacts: Path, request: pytest.FixtureRequest) -> Iterator[Any]:
    server = server_of(request)
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    # Copy is checked by reading the clipboard back, which the browser only allows when granted.
    context.grant_permissions(["clipboard-read", "clipboard-write"], origin=server.url)
    context.set_default_timeout(UI_TIMEOUT_MS)
    page = context.new_page()
    console: list[str] = []
    page.on("console", lambda message: console.append(f"[{message.type}] {message.text}"))
    page.on("pageerror", lambda error: console.append(f"[pageerror] {error}"))
    try:
        yield page
    finally:
        name = re.sub(r"[^\w.-]+", "_", request.node.name)
        if getattr(request.node, "rep_call", None) is not None and request.node.rep_call.failed:
            page.screenshot(path=str(artifacts / f"{name}-FAILED.png"), full_page=True)
        (artifacts / f"{name}-console.log").write_text("\n".join(console))
        context.close()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    # Keep each phase's report on the item so the page fixture can screenshot a failure.
    report = yield
    setattr(item, f"rep_{report.when}", report)
    return report


Shooter = Callable[[str], Path]


@pytest.fixture
def shoot(page: Any, artifacts: Path) -> Shooter:
    """Save a screenshot as a test artifact: ``shoot("01-answer-growing")``."""

    def take(name: str) -> Path:
        path = artifacts / f"{name}.png"
        page.screenshot(path=str(path))
        return path

    return take
