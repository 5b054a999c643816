"""`qwen-magic serve` started as a user starts it, for the tests that need a real server.

A subprocess on 127.0.0.1 on a free port: the console script, the default model found by the
search path from the project folder, an API key from $QWEN_MAGIC_API_KEY. :func:`running_server`
waits until it answers and stops it (and checks that nothing listens any more) afterwards.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

ROOT = Path(__file__).resolve().parents[1]
READY_TIMEOUT = 180  # a cold page cache and a busy 2-core machine make loading slow


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def serve_command(port: int) -> list[str]:
    script = Path(sys.executable).with_name("qwen-magic")
    head = [str(script)] if script.exists() else [sys.executable, "-m", "qwen_magic.cli"]
    return [*head, "serve", "--host", "127.0.0.1", "--port", str(port),
            "--n-ctx", "2048", "--threads", "2"]


def wait_until_ready(url: str, key: str, process: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + READY_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"`qwen-magic serve` exited with {process.returncode}:\n"
                        f"{log.read_text(errors='replace')}")
        try:
            answer = httpx.get(f"{url}/models", headers={"Authorization": f"Bearer {key}"},
                               timeout=2, trust_env=False)
            if answer.status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.25)
    pytest.fail(f"`qwen-magic serve` not ready in {READY_TIMEOUT} s:\n{log.read_text()}")


@contextlib.contextmanager
def running_server(folder: Path) -> Iterator[tuple[str, str, Path]]:
    """(base URL, API key, log file) of a `qwen-magic serve` that runs until the block ends."""
    port = free_port()
    url = f"http://127.0.0.1:{port}/v1"
    key = "qm-test-" + secrets.token_hex(8)
    env = {**os.environ, "QWEN_MAGIC_API_KEY": key, "PYTHONUNBUFFERED": "1"}
    env.pop("QWEN_MAGIC_MODEL", None)  # the default model, by the search path from ROOT
    log = folder / "server.log"
    with open(log, "wb") as out:
        process = subprocess.Popen(serve_command(port), cwd=ROOT, env=env, stdout=out,
                                   stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    try:
        wait_until_ready(url, key, process, log)
        yield url, key, log
    finally:
        process.terminate()  # uvicorn shuts down cleanly on SIGTERM
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(10)
    # Stopped for real: nothing listens on the port any more.
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"{url}/models", timeout=2, trust_env=False)
