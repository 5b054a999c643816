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

A completion the front end cancels while it runs (JupyterLab gave up waiting: the notebook's
first read can take longer than its timeout) leaves its prompt up to the cursor to be read
on as a prefill, unless a newer request came: the next request then finds it read instead
of starting over.

After each cell ran, :class:`CompletionFrontEnds` describes the live values the executed
cells use (:mod:`qwen_magic.livedata`, when ``QwenMagics.completion_variables`` allows it)
and every completion and prefill carries that text until the next cell ran: it is part of
the prompt's stable start, never rebuilt while the user types.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .. import api, livedata
from ..completion import Completion, CompletionRequest, prefill_text
from ..errors import QwenMagicError
from ..options import CHARS_PER_TOKEN, COMPLETION_CONTEXT_TOKENS, COMPLETION_MAX_TOKENS

COMM_TARGET = "qwen_magic.completion"
#: The executed cells whose names are looked up, newest kept (the description's budget is
#: spent on the newest names long before).
MAX_CELLS_READ = 200

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
        #: The running completion the front end cancelled: its prompt is read on after it.
        self._read_on: _Job | None = None
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
            self._read_on = None
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
                if self._running.kind == "complete":
                    self._read_on = self._running

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
                    self._queue_read_on(job)
                    self._lock.notify_all()

    def _queue_read_on(self, job: _Job) -> None:
        """After a completion the front end cancelled: read its prompt up to the cursor on,
        as a prefill, unless something newer waits (its prompt holds that, or it is newer)."""
        if self._read_on is not job:
            return
        self._read_on = None
        request = job.request
        if request is None or self._cell_running or self._closed \
                or self._pending is not None or self._prefill is not None:
            return
        self._prefill = _Job("prefill", job.id, _ignore, cells=request.context_cells,
                             prefix=request.prefix)

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

    After each cell it describes the live values the cells that ran use (``live_data``), for
    every completion and prefill until the next cell ran.
    """

    def __init__(self, shell: Any, magics: Any) -> None:
        self.shell, self.magics = shell, magics
        self.service = CompletionService(self._complete, self._prefill)
        #: The live values' description as of the last cell that ran ("" for none).
        self.live_data = ""
        #: The cells that ran in this kernel, oldest first (the terminal reads its ``In``).
        self._ran: list[str] = []
        # The cells that ran before ``%load_ext`` (IPython's ``In``: already transformed,
        # which the transform leaves as they are).
        history = getattr(shell, "user_ns", {}).get("In", [])
        self._ran.extend(cell for cell in history[-MAX_CELLS_READ:]
                         if isinstance(cell, str) and cell.strip())
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

    def _cell_finished(self, result: Any = None, *_: Any) -> None:
        self.service.cell_finished()
        self._describe(result)
        if self.terminal is not None:
            self._read_ahead(self.terminal.context_cells(), "")
        if self.magics.context_used:
            try:
                read = self.magics.context_read_ahead()
            except Exception:  # noqa: BLE001 - only a speed-up: the --context cell says what fails
                read = None
            if read is not None:
                self.service.read_when_idle(read)

    def _describe(self, result: Any) -> None:
        """Rebuild :attr:`live_data` from the cells that ran (never the one being typed:
        its names change with every key, and the description must stay put meanwhile)."""
        if self.terminal is not None:  # its ``In``: inputs already transformed
            cells, transform = list(self.terminal.context_cells()), None
        else:
            source = getattr(getattr(result, "info", None), "raw_cell", None)
            if isinstance(source, str) and source.strip():
                self._ran.append(source)
                del self._ran[:-MAX_CELLS_READ]
            cells, transform = self._ran, getattr(self.shell, "transform_cell", None)
        self.live_data = ""
        if not self.magics.completion or not self._variables_on(None):
            return
        try:
            self.live_data = livedata.describe(self.shell.user_ns,
                                               livedata.names_used(cells, transform))
        except Exception:  # noqa: BLE001 - only a help to completion: never the cell's error
            self.live_data = ""

    def _variables_on(self, provider: Any) -> bool:
        """Whether live values may go to ``provider`` (None: the chat provider, whose kind
        is the completion provider's: asking it costs nothing)."""
        try:
            chosen = provider if provider is not None else self.magics.get_provider()
        except QwenMagicError:  # no provider yet (a bad setting): the cell will say so
            return False
        return bool(self.magics.live_values_allowed(chosen))

    def _live_data(self, provider: Any) -> str:
        """The description, if the setting (checked now: turning it off is immediate)
        lets it go to ``provider``."""
        return self.live_data if self.live_data and self._variables_on(provider) else ""

    def _read_ahead(self, cells: tuple[str, ...], prefix: str) -> None:
        """The terminal's prefill: after a cell ran, and as the user types."""
        if self.magics.completion:
            self.service.handle({"type": "prefill", "id": 0, "cells": list(cells),
                                 "prefix": prefix}, _ignore)

    def _provider(self) -> Any:
        """The magics' completion provider (``QwenMagics.provider``: the local model — or its
        ``completion_model`` — or a server)."""
        return self.magics.completion_provider()

    def _request(self, request: CompletionRequest, provider: Any) -> CompletionRequest:
        """The kernel's settings win over what a front end asked for, when smaller; the
        kernel adds what it knows of the live values."""
        return CompletionRequest(
            request.prefix, request.suffix, request.context_cells,
            max_tokens=min(request.max_tokens, self.magics.completion_max_tokens),
            context_chars=self._context_chars(), live_data=self._live_data(provider),
        )

    def _context_chars(self) -> int:
        return int(self.magics.completion_context_tokens) * CHARS_PER_TOKEN

    def _complete(self, request: CompletionRequest, cancel: threading.Event,
                  on_text: Callable[[str], None]) -> Completion:
        provider = self._provider()
        if not api.can_complete(provider):  # no ghost text, never an error dialog
            return Completion("", "unavailable")
        return api.complete_request(provider, self._request(request, provider), cancel, on_text)

    def _complete_now(self, request: CompletionRequest, cancel: threading.Event,
                      on_text: Callable[[str], None]) -> Completion:
        """The terminal's key: it waits for nothing but the model's lock."""
        if not self.magics.completion:
            return Completion("", "stop")
        return self._complete(request, cancel, on_text)

    def _prefill(self, cells: tuple[str, ...], prefix: str, cancel: threading.Event) -> None:
        # Right after %load_ext the model is still loading: the labextension's first prefill
        # (the notebook, sent once that cell ran) waits for it rather than being dropped
        # (a prefill never starts a load itself; a completion or a cell still cancels it).
        while getattr(self.magics, "loading", False) and not cancel.wait(0.1):
            pass
        if cancel.is_set():
            return
        provider = self._provider()
        text = prefill_text(cells, self._context_chars(), prefix, self._live_data(provider))
        api.prefill(provider, text, cancel)


def _ignore(_: dict[str, Any]) -> None:
    """Prefill has nobody to answer."""
