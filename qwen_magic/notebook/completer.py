"""Completion as you type in JupyterLab / Notebook 7: the kernel end of the inline completer.

The labextension (``labextension/``) opens a comm to :data:`COMM_TARGET` and sends
``complete`` / ``cancel`` / ``prefill`` messages; this module answers with ``chunk`` deltas
and one ``done`` per request (protocol: labextension/README.md).

Comm messages may reach the kernel on its main thread, queued behind any running cell (every
one of them flips the kernel to busy while it is handled), or — JupyterLab 4.6 with
ipykernel 7 sends them on a kernel subshell — on another thread while a cell runs. So the
handler is thread-safe, answers ``busy`` itself while a cell executes, and otherwise only
hands the request to one worker thread and returns; the worker runs the model. The newest request
wins: a request that arrives while another waits makes that one ``stale``, and one that
arrives while another runs cancels it (the user typed on). A cell that starts executing
cancels whatever runs, so a completion or a prefill never holds the user's code back by
more than the one chunk of prompt the model is reading.

Prefill messages come after a cell ran (the grown notebook) and while the user types (the
notebook and the text before the cursor): reading ahead leaves the next completion only the
last keystrokes and its FIM markers to read. A prefill never interrupts a completion, and a
completion makes a waiting prefill moot (its prompt holds all of it). The same worker reads,
last of all and only once the user has used ``%%qwen --context`` in this kernel, the grown
notebook as the next ``--context`` prompt starts (``magics.context_read_ahead``): the FIM and
chat prompts share no prefix, and the model's prefix cache keeps both states.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .. import api
from ..completion import Completion, CompletionRequest, prefill_text
from ..errors import QwenMagicError
from ..options import CHARS_PER_TOKEN, COMPLETION_CONTEXT_TOKENS, COMPLETION_MAX_TOKENS

COMM_TARGET = "qwen_magic.completion"

#: ``complete(request, cancel, on_text) -> Completion``; ``on_text`` gets each shown delta.
CompleteFn = Callable[[CompletionRequest, threading.Event, Callable[[str], None]], Completion]
#: ``prefill(cells, prefix, cancel)``: read the next prompt up to the cursor into the cache
#: (``prefix``: the text typed before the cursor so far; "" right after a cell ran).
PrefillFn = Callable[[tuple[str, ...], str, threading.Event], None]
Send = Callable[[dict[str, Any]], None]


#: Background reading that is not a completion's: ``read(cancel)``.
ReadFn = Callable[[threading.Event], None]


@dataclass
class _Job:
    kind: str  # "complete", "prefill" (the next completion's prompt) or "read" (any other)
    id: int
    send: Send
    request: CompletionRequest | None = None
    cells: tuple[str, ...] = ()
    prefix: str = ""
    read: ReadFn | None = None


class CompletionService:
    """One worker thread that runs the newest completion (or, when idle, a prefill)."""

    def __init__(self, complete: CompleteFn, prefill: PrefillFn, *,
                 max_tokens: int = COMPLETION_MAX_TOKENS.default,
                 context_chars: int = COMPLETION_CONTEXT_TOKENS.default * CHARS_PER_TOKEN) -> None:
        self.complete, self.prefill = complete, prefill
        self.max_tokens, self.context_chars = max_tokens, context_chars
        self._lock = threading.Condition()
        self._pending: _Job | None = None
        self._prefill: _Job | None = None
        self._read: _Job | None = None
        self._running: _Job | None = None
        self._cancel = threading.Event()
        self._cell_running = False
        self._closed = False
        self._worker = threading.Thread(target=self._work, name="qwen-magic-completion", daemon=True)
        self._worker.start()

    # -- what the comm and the shell's events call (main thread, quick) -------------------

    def handle(self, data: dict[str, Any], send: Send) -> None:
        """One comm message; never raises (a bad message is answered with an error)."""
        kind, number = data.get("type"), data.get("id")
        if not isinstance(number, int):
            return
        try:
            if kind == "complete":
                request = CompletionRequest(
                    prefix=data.get("prefix", ""), suffix=data.get("suffix", ""),
                    context_cells=tuple(data.get("cells") or ()),
                    max_tokens=self.max_tokens if data.get("max_tokens") is None
                    else data["max_tokens"],
                    context_chars=self.context_chars,
                )
                self._submit(_Job("complete", number, send, request=request))
            elif kind == "prefill":
                prefix = data.get("prefix") or ""
                if not isinstance(prefix, str):
                    raise TypeError(f"prefix must be text, got {type(prefix).__name__}")
                self._submit(_Job("prefill", number, send, cells=tuple(data.get("cells") or ()),
                                  prefix=prefix))
            elif kind == "cancel":
                self._cancel_job(number)
        except (QwenMagicError, TypeError, ValueError) as exc:
            send({"type": "error", "id": number, "message": str(exc)})

    def read_when_idle(self, read: ReadFn) -> None:
        """Run ``read`` once nothing else waits (replacing one not yet started); a cell or a
        completion cancels it like a prefill."""
        self._submit(_Job("read", 0, _ignore, read=read))

    def wait_until_idle(self, timeout: float) -> bool:
        """Whether the worker ran out of work within ``timeout`` seconds (for tests and the
        bench: background reading has no answer to wait for)."""
        with self._lock:
            return self._lock.wait_for(
                lambda: self._running is None and self._pending is None
                and self._prefill is None and self._read is None, timeout)

    def cell_started(self) -> None:
        """A cell starts executing: stop the model's work at once, drop what waited."""
        with self._lock:
            self._cell_running = True
            self._cancel.set()
            for job in (self._pending, self._prefill):
                if job is not None and job.kind == "complete":
                    job.send({"type": "busy", "id": job.id})
            self._pending = self._prefill = self._read = None

    def cell_finished(self) -> None:
        with self._lock:
            self._cell_running = False
            self._lock.notify_all()

    def close(self) -> None:
        with self._lock:
            self._closed = True
            self._cancel.set()
            self._lock.notify_all()
        self._worker.join(timeout=5)

    # -- inside --------------------------------------------------------------------------

    def _submit(self, job: _Job) -> None:
        with self._lock:
            if self._cell_running:
                if job.kind == "complete":
                    job.send({"type": "busy", "id": job.id})
                return
            if job.kind == "prefill":
                self._prefill = job  # only the newest notebook state is worth reading
            elif job.kind == "read":
                self._read = job
            else:
                if self._pending is not None:
                    self._pending.send({"type": "done", "id": self._pending.id,
                                        "finish_reason": "stale"})
                self._pending = job
                # Its prompt holds everything a waiting prefill would read, and newer text.
                self._prefill = None
                if self._running is not None:
                    self._cancel.set()  # the user typed on: the running one is stale
            self._lock.notify_all()

    def _cancel_job(self, number: int) -> None:
        with self._lock:
            if self._pending is not None and self._pending.id == number:
                self._pending.send({"type": "done", "id": number, "finish_reason": "cancelled"})
                self._pending = None
            elif self._running is not None and self._running.id == number:
                self._cancel.set()

    def _next(self) -> _Job | None:
        with self._lock:
            while not self._closed and (self._cell_running or self._pending is None
                                        and self._prefill is None and self._read is None):
                self._lock.wait()
            if self._closed:
                return None
            job = self._pending or self._prefill or self._read
            if job is self._pending:
                self._pending = None
            elif job is self._prefill:
                self._prefill = None
            else:
                self._read = None
            self._running = job
            self._cancel = threading.Event()
            return job

    def _work(self) -> None:
        while (job := self._next()) is not None:
            cancel = self._cancel
            try:
                if job.kind == "prefill":
                    self.prefill(job.cells, job.prefix, cancel)
                elif job.read is not None:
                    job.read(cancel)
                else:
                    self._run_completion(job, cancel)
            except QwenMagicError as exc:
                if job.kind == "complete":
                    job.send({"type": "error", "id": job.id, "message": str(exc)})
            except Exception as exc:  # noqa: BLE001 - the front end must always get an answer
                if job.kind == "complete":
                    job.send({"type": "error", "id": job.id,
                              "message": f"{type(exc).__name__}: {exc}"})
            finally:
                with self._lock:
                    self._running = None
                    self._lock.notify_all()

    def _run_completion(self, job: _Job, cancel: threading.Event) -> None:
        assert job.request is not None

        def on_text(delta: str) -> None:
            if delta and not cancel.is_set():
                job.send({"type": "chunk", "id": job.id, "text": delta})

        result = self.complete(job.request, cancel, on_text)
        reason = "cancelled" if cancel.is_set() else result.finish_reason
        job.send({"type": "done", "id": job.id, "finish_reason": reason,
                  "ttft_s": result.ttft_s, "prompt_tokens": result.prompt_tokens,
                  "reused_tokens": result.reused_tokens})


# -- wiring it into a shell ----------------------------------------------------------------------


class CompletionFrontEnds:
    """What ``%load_ext`` sets up for completion as you type, and ``%unload_ext`` takes down.

    In a kernel: the comm target JupyterLab's inline completer opens. In terminal IPython:
    the Ctrl-Q key binding. In both: a starting cell cancels the model's work. In the
    terminal, where the kernel knows the history and the text being typed, the kernel itself
    prefills after a cell ran and as the user types (in JupyterLab the labextension asks for
    both). ``magics`` supplies the settings and the provider.
    """

    def __init__(self, shell: Any, magics: Any) -> None:
        self.shell, self.magics = shell, magics
        self.service = CompletionService(self._complete, self._prefill)
        self.terminal: Any = None
        self._comm_manager: Any = None

    def install(self) -> None:
        events = self.shell.events
        events.register("pre_run_cell", self._cell_started)
        events.register("post_run_cell", self._cell_finished)
        kernel = getattr(self.shell, "kernel", None)
        if kernel is not None and getattr(kernel, "comm_manager", None) is not None:
            self._comm_manager = kernel.comm_manager
            self._comm_manager.register_target(COMM_TARGET, self._on_comm_open)
        elif type(self.shell).__name__ == "TerminalInteractiveShell":
            from .terminal_completer import TerminalCompleter

            self.terminal = TerminalCompleter(self.shell, self._complete_now,
                                              read_ahead=self._read_ahead)
            if not self.terminal.install():
                self.terminal = None

    def uninstall(self) -> None:
        events = self.shell.events
        for name, callback in (("pre_run_cell", self._cell_started),
                               ("post_run_cell", self._cell_finished)):
            if callback in events.callbacks[name]:
                events.unregister(name, callback)
        if self._comm_manager is not None:
            self._comm_manager.unregister_target(COMM_TARGET, self._on_comm_open)
        if self.terminal is not None:
            self.terminal.uninstall()
        self.service.close()

    # -- the pieces --------------------------------------------------------------------------

    def _on_comm_open(self, comm: Any, _: Any) -> None:
        def on_msg(message: dict[str, Any]) -> None:
            if self.magics.completion:
                self.service.handle(message["content"]["data"], comm.send)
            else:  # turned off with %config QwenMagics.completion = False
                data = message["content"]["data"]
                comm.send({"type": "done", "id": data.get("id"), "finish_reason": "disabled"})

        comm.on_msg(on_msg)

    def _cell_started(self, *_: Any) -> None:
        self.service.cell_started()

    def _cell_finished(self, *_: Any) -> None:
        self.service.cell_finished()
        if self.terminal is not None:
            self._read_ahead(self.terminal.context_cells(), "")
        if self.magics.context_used:
            try:
                read = self.magics.context_read_ahead()
            except Exception:  # noqa: BLE001 - only a speed-up: the --context cell says what fails
                read = None
            if read is not None:
                self.service.read_when_idle(read)

    def _read_ahead(self, cells: tuple[str, ...], prefix: str) -> None:
        """The terminal's prefill: after a cell ran, and as the user types."""
        if self.magics.completion:
            self.service.handle({"type": "prefill", "id": 0, "cells": list(cells),
                                 "prefix": prefix}, _ignore)

    def _provider(self) -> Any:
        """The magics' completion provider (``QwenMagics.provider``: the local model — or its
        ``completion_model`` — or a server)."""
        return self.magics.completion_provider()

    def _request(self, request: CompletionRequest) -> CompletionRequest:
        """The kernel's settings win over what a front end asked for, when smaller."""
        return CompletionRequest(
            request.prefix, request.suffix, request.context_cells,
            max_tokens=min(request.max_tokens, self.magics.completion_max_tokens),
            context_chars=self._context_chars(),
        )

    def _context_chars(self) -> int:
        return int(self.magics.completion_context_tokens) * CHARS_PER_TOKEN

    def _complete(self, request: CompletionRequest, cancel: threading.Event,
                  on_text: Callable[[str], None]) -> Completion:
        provider = self._provider()
        if not api.can_complete(provider):  # no ghost text, never an error dialog
            return Completion("", "unavailable")
        return api.complete_request(provider, self._request(request), cancel, on_text)

    def _complete_now(self, request: CompletionRequest, cancel: threading.Event,
                      on_text: Callable[[str], None]) -> Completion:
        """The terminal's key: it waits for nothing but the model's lock."""
        if not self.magics.completion:
            return Completion("", "stop")
        return self._complete(request, cancel, on_text)

    def _prefill(self, cells: tuple[str, ...], prefix: str, cancel: threading.Event) -> None:
        api.prefill(self._provider(), prefill_text(cells, self._context_chars(), prefix), cancel)


def _ignore(_: dict[str, Any]) -> None:
    """Prefill has nobody to answer."""
