"""The completion comm as JupyterLab drives it, without a browser: a real kernel and a client.

A fresh ipykernel (jupyter_client's ``KernelManager``, the interpreter the bench runs in and
its environment, so the same model file) runs ``%load_ext qwen_magic``; this client opens a
comm to ``qwen_magic.completion`` and speaks the protocol of labextension/README.md:
``complete`` and ``prefill`` out on the shell channel, ``chunk`` / ``done`` back on IOPub.
A time is the front end's: from sending ``complete`` to the first non-empty ``chunk``
arriving — the kernel's queueing, its comm handler, the worker thread and ZeroMQ included
(JupyterLab's debounce is not: it comes before the request).
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from ..notebook.completer import COMM_TARGET


@dataclass(frozen=True)
class Reply:
    first_chunk_s: float | None  # None: the kernel wrote nothing
    text: str
    finish_reason: str
    kernel_ttft_s: float | None = None  # the same, as the kernel's engine timed it
    new_tokens: int | None = None  # prompt tokens the kernel had to read (not reused)


class CommClient:
    """One kernel with ``qwen_magic`` loaded, and one open completion comm to it."""

    def __init__(self, config_lines: Sequence[str], timeout: float = 300.0) -> None:
        from jupyter_client.manager import KernelManager  # only when the bench runs

        self.timeout = timeout
        self.manager = KernelManager(kernel_name="python3")
        self.manager.start_kernel()
        self.client = self.manager.client()
        self.client.start_channels()
        self.client.wait_for_ready(timeout=120)
        self.execute("%load_ext qwen_magic\n" + "\n".join(config_lines))
        self.comm_id = uuid.uuid4().hex
        self._send("comm_open", {"comm_id": self.comm_id, "target_name": COMM_TARGET, "data": {}})
        self._next_id = 0
        self._sent: dict[int, float] = {}  # request id -> when it was sent
        self.finished: dict[int, str] = {}  # request id -> its finish_reason, once done

    def rss_mb(self) -> float:
        """The kernel process's resident memory now."""
        import psutil

        pid = getattr(self.manager.provisioner, "pid", None)  # a local kernel's (LocalProvisioner)
        if pid is None:
            raise RuntimeError("the kernel is not a local process: no memory to read")
        return float(psutil.Process(pid).memory_info().rss) / 1024**2

    def close(self) -> None:
        self.client.stop_channels()
        self.manager.shutdown_kernel(now=True)

    def execute(self, code: str) -> float:
        """Run a cell as the front end does, and wait until the kernel is idle again.

        Returns the seconds from sending it to its ``execute_reply``.
        """
        started = time.perf_counter()
        msg_id = self.client.execute(code, store_history=True)
        reply = self.client.get_shell_msg(timeout=self.timeout)
        while reply["parent_header"].get("msg_id") != msg_id:
            reply = self.client.get_shell_msg(timeout=self.timeout)
        took = time.perf_counter() - started
        if reply["content"]["status"] != "ok":
            raise RuntimeError(f"the kernel failed to run {code[:40]!r}: {reply['content']}")
        self._iopub_until(lambda m: m["msg_type"] == "status"
                          and m["parent_header"].get("msg_id") == msg_id
                          and m["content"]["execution_state"] == "idle")
        return took

    def prefill(self, cells: Sequence[str], prefix: str | None = None) -> None:
        """What JupyterLab sends once a cell has run (the grown notebook) and, with
        ``prefix``, while the user types (the text before the cursor). No answer."""
        self._next_id += 1
        data: dict[str, Any] = {"type": "prefill", "id": self._next_id, "cells": list(cells)}
        if prefix is not None:
            data["prefix"] = prefix
        self._comm(data)

    def complete(self, prefix: str, cells: Sequence[str], max_tokens: int,
                 suffix: str = "") -> Reply:
        """One ``complete`` request, read to its ``done``."""
        return self.reply(self.send_complete(prefix, cells, max_tokens, suffix))

    def send_complete(self, prefix: str, cells: Sequence[str], max_tokens: int,
                      suffix: str = "") -> int:
        """Send a ``complete`` request; :meth:`reply` reads its answer. Returns its id."""
        self._next_id += 1
        self._sent[self._next_id] = time.perf_counter()
        self._comm({"type": "complete", "id": self._next_id, "prefix": prefix, "suffix": suffix,
                    "cells": list(cells), "max_tokens": max_tokens})
        return self._next_id

    def reply(self, number: int, until_first_chunk: bool = False) -> Reply:
        """The answer to request ``number``, read to its ``done`` (or its first text)."""
        started = self._sent[number]
        first: float | None = None
        text = ""
        while True:
            message = self._iopub_until(lambda m: m["msg_type"] == "comm_msg"
                                        and m["content"].get("comm_id") == self.comm_id
                                        and m["content"]["data"].get("id") == number)
            data = message["content"]["data"]
            if data["type"] == "chunk" and data["text"]:
                first = first if first is not None else time.perf_counter() - started
                text += data["text"]
                if until_first_chunk:
                    return Reply(first, text, "")
            elif data["type"] == "done":
                prompt, reused = data.get("prompt_tokens"), data.get("reused_tokens")
                new_tokens = prompt - reused if prompt is not None and reused is not None else None
                return Reply(first, text, data["finish_reason"], data.get("ttft_s"), new_tokens)
            elif data["type"] in ("busy", "error"):
                raise RuntimeError(f"the kernel answered {data}")

    def finish_reason(self, number: int) -> str:
        """How request ``number`` ended, waiting for its ``done`` if it has not come yet."""
        if number not in self.finished:
            self._iopub_until(lambda _: number in self.finished)
        return self.finished[number]

    def _comm(self, data: dict[str, Any]) -> None:
        self._send("comm_msg", {"comm_id": self.comm_id, "data": data})

    def _send(self, msg_type: str, content: dict[str, Any]) -> None:
        self.client.shell_channel.send(self.client.session.msg(msg_type, content))

    def _iopub_until(self, wanted: Any) -> dict[str, Any]:
        deadline = time.monotonic() + self.timeout
        while True:
            message: dict[str, Any] = self.client.get_iopub_msg(
                timeout=max(0.1, deadline - time.monotonic()))
            if message["msg_type"] == "comm_close" \
                    and message["content"].get("comm_id") == self.comm_id:
                raise RuntimeError("the kernel closed the completion comm (no qwen_magic?)")
            if message["msg_type"] == "comm_msg" \
                    and message["content"].get("comm_id") == self.comm_id:
                data = message["content"]["data"]
                if data.get("type") == "done":
                    self.finished[data["id"]] = data["finish_reason"]
            if wanted(message):
                return message
