"""A real IPython kernel driven through jupyter_client, for cases that could kill a process.

A notebook user's kernel is a separate process; a crash in llama.cpp, a signal arriving at a
bad moment or a thread left behind only shows up there, never in an in-process shell. So
these tests start a real kernel, send it cells as a front end would, and collect what a user
would see: stream text, the error line, display updates and the set_next_input payload.
"""

from __future__ import annotations

import os
import queue
import re
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from jupyter_client import BlockingKernelClient, KernelManager

ANSI = "\x1b["


def strip_ansi(text: str) -> str:
    return re.sub(r"\x1b\[[0-9;]*m", "", text)


@dataclass
class Execution:
    """Everything a front end received for one cell."""

    status: str = "unknown"  # the execute_reply status: ok | error | aborted
    stdout: str = ""
    stderr: str = ""
    error: dict[str, Any] | None = None  # the iopub error message: ename, evalue, traceback
    displays: list[dict[str, Any]] = field(default_factory=list)  # data of every display msg
    payloads: list[dict[str, Any]] = field(default_factory=list)
    result: dict[str, Any] | None = None  # execute_result data
    messages: list[dict[str, Any]] = field(default_factory=list)

    @property
    def error_lines(self) -> list[str]:
        """What the notebook shows in red, one entry per line, without colour codes."""
        if self.error is None:
            return []
        text = "\n".join(self.error.get("traceback") or [])
        return [line for line in strip_ansi(text).splitlines() if line.strip()]

    @property
    def inserted(self) -> list[str]:
        """Code offered as a new cell (never run): the set_next_input payloads."""
        return [p["text"] for p in self.payloads if p.get("source") == "set_next_input"]

    @property
    def last_display(self) -> dict[str, Any]:
        return self.displays[-1] if self.displays else {}

    @property
    def value(self) -> str | None:
        return None if self.result is None else self.result.get("text/plain")


class Kernel:
    """One kernel process and a blocking client; use :meth:`run` like a notebook cell."""

    def __init__(
        self,
        env: dict[str, str] | None = None,
        cwd: Path | None = None,
        argv_prefix: list[str] | None = None,
        transport: str = "tcp",
    ) -> None:
        if transport == "ipc":
            # Unix sockets: the only way to reach a kernel that has no network at all.
            # Their paths must stay short (108 bytes), hence a fresh folder under /tmp.
            self._ipc_dir: str | None = tempfile.mkdtemp(prefix="qk-")
            self.km = KernelManager(kernel_name="python3", transport="ipc",
                                    ip=os.path.join(self._ipc_dir, "k"))
        else:
            self._ipc_dir = None
            self.km = KernelManager(kernel_name="python3")
        if argv_prefix:
            # e.g. setpriv: the kernel process itself runs with fewer privileges.
            spec = self.km.kernel_spec
            assert spec is not None
            argv = list(spec.argv)
            # jupyter_client swaps a bare "python" for this interpreter only when it comes
            # first; behind a prefix it would be whatever "python" is on PATH (not the venv).
            if argv and argv[0] in ("python", "python3"):
                argv[0] = sys.executable
            spec.argv = [*argv_prefix, *argv]
        full_env = {**os.environ, **(env or {})}
        # A kernel that writes to the user's IPython profile or history would leave traces
        # between runs; an in-memory history keeps the tests independent.
        full_env.setdefault("PYTHONUNBUFFERED", "1")
        self.km.start_kernel(env=full_env, cwd=str(cwd) if cwd else None,
                             extra_arguments=["--HistoryManager.hist_file=:memory:"])
        self.kc: BlockingKernelClient = self.km.client()
        self.kc.start_channels()
        self.kc.wait_for_ready(timeout=60)

    @property
    def pid(self) -> int:
        return self.km.provisioner.process.pid  # type: ignore[union-attr]

    def submit(self, code: str) -> str:
        return self.kc.execute(code, store_history=True, allow_stdin=False)

    def collect(
        self,
        msg_id: str,
        timeout: float = 120,
        on_message: Callable[[dict[str, Any]], None] | None = None,
    ) -> Execution:
        """Read iopub until the kernel is idle for ``msg_id``, then the shell reply."""
        result = Execution()
        deadline = time.monotonic() + timeout
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError(f"cell did not finish in {timeout} s; kernel alive: "
                                   f"{self.km.is_alive()}")
            try:
                msg = self.kc.get_iopub_msg(timeout=min(remaining, 1.0))
            except queue.Empty:
                if not self.km.is_alive():
                    raise RuntimeError("the kernel died while running the cell") from None
                continue
            if msg["parent_header"].get("msg_id") != msg_id:
                continue
            result.messages.append(msg)
            kind, content = msg["msg_type"], msg["content"]
            if on_message is not None:
                on_message(msg)
            if kind == "stream":
                if content["name"] == "stdout":
                    result.stdout += content["text"]
                else:
                    result.stderr += content["text"]
            elif kind == "error":
                result.error = content
            elif kind in ("display_data", "update_display_data"):
                result.displays.append(content["data"])
            elif kind == "execute_result":
                result.result = content["data"]
            elif kind == "status" and content["execution_state"] == "idle":
                break
        reply = self.kc.get_shell_msg(timeout=max(1.0, deadline - time.monotonic()))
        while reply["parent_header"].get("msg_id") != msg_id:
            reply = self.kc.get_shell_msg(timeout=max(1.0, deadline - time.monotonic()))
        result.status = reply["content"]["status"]
        result.payloads = reply["content"].get("payload", [])
        return result

    def run(self, code: str, timeout: float = 120) -> Execution:
        return self.collect(self.submit(code), timeout)

    def ok(self, code: str, timeout: float = 120) -> Execution:
        """Run a cell that must succeed; fail with what the kernel said otherwise."""
        done = self.run(code, timeout)
        assert done.status == "ok", f"cell failed: {done.error_lines or done.stderr}"
        return done

    def eval(self, expression: str, timeout: float = 60) -> Any:
        """The value of a Python literal expression evaluated in the kernel."""
        import ast

        done = self.ok(f"print(repr({expression}))", timeout)
        return ast.literal_eval(done.stdout.strip())

    def interrupt(self) -> None:
        self.km.interrupt_kernel()

    def shutdown(self) -> None:
        try:
            self.kc.stop_channels()
        finally:
            self.km.shutdown_kernel(now=True)
            if self._ipc_dir:
                shutil.rmtree(self._ipc_dir, ignore_errors=True)


def one_clear_line(done: Execution) -> str:
    """The single line a failed cell shows; asserts it is one line and not a traceback."""
    lines = done.error_lines
    if not lines:  # IPython shows UsageError on stderr instead of as an error message
        lines = [line for line in strip_ansi(done.stderr).splitlines() if line.strip()]
    assert len(lines) == 1, "expected one line, got:\n" + "\n".join(lines)
    assert "Traceback" not in lines[0] and "File \"" not in lines[0], lines[0]
    return lines[0]


__all__ = ["Execution", "Kernel", "one_clear_line", "strip_ansi"]
