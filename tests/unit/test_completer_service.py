"""The kernel end of the inline completer, with a FAKE model (scripted, timed by events)."""

from __future__ import annotations

import threading
import time

import pytest

from qwen_magic.completion import Completion, CompletionRequest
from qwen_magic.errors import ModelNotFoundError
from qwen_magic.notebook.completer import CompletionService


class FakeModel:
    """Writes its pieces one by one; ``gate`` lets a test hold it in the middle of a request."""

    def __init__(self, pieces=("a", "b", "c"), delay=0.0) -> None:
        self.pieces, self.delay = pieces, delay
        self.started = threading.Event()
        self.gate = threading.Event()
        self.gate.set()
        self.requests: list[CompletionRequest] = []
        self.prefilled: list[tuple[tuple[str, ...], str]] = []
        self.error: Exception | None = None

    def complete(self, request, cancel, on_text) -> Completion:
        self.requests.append(request)
        self.started.set()
        if self.error:
            raise self.error
        text = ""
        for piece in self.pieces:
            self.gate.wait(5)
            if cancel.is_set():
                return Completion(text, "cancelled")
            time.sleep(self.delay)
            text += piece
            on_text(piece)
        return Completion(text, "stop", prompt_tokens=10)

    def prefill(self, cells, prefix, cancel) -> None:
        self.gate.wait(5)
        if not cancel.is_set():
            self.prefilled.append((cells, prefix))


class Inbox:
    def __init__(self) -> None:
        self.messages: list[dict] = []
        self.done = threading.Condition()

    def __call__(self, message: dict) -> None:
        with self.done:
            self.messages.append(message)
            self.done.notify_all()

    def wait_for(self, kind: str, number: int, timeout: float = 5) -> dict:
        with self.done:
            assert self.done.wait_for(lambda: self.find(kind, number), timeout), self.messages
            return self.find(kind, number)

    def find(self, kind: str, number: int) -> dict | None:
        return next((m for m in self.messages if m["type"] == kind and m["id"] == number), None)

    def text(self, number: int) -> str:
        return "".join(m["text"] for m in self.messages if m["type"] == "chunk" and m["id"] == number)


@pytest.fixture
def model():
    return FakeModel()


@pytest.fixture
def service(model):
    service = CompletionService(model.complete, model.prefill)
    yield service
    model.gate.set()
    service.close()


def complete(number: int, prefix: str = "x = ", **extra) -> dict:
    return {"type": "complete", "id": number, "prefix": prefix, "suffix": "", "cells": [], **extra}


def test_a_request_streams_chunks_then_done(service, model):
    inbox = Inbox()
    service.handle(complete(1, cells=["import os"], max_tokens=12), inbox)
    done = inbox.wait_for("done", 1)
    assert done["finish_reason"] == "stop" and inbox.text(1) == "abc"
    assert model.requests[0].context_cells == ("import os",) and model.requests[0].max_tokens == 12


def test_the_handler_returns_while_the_model_works(service, model):
    model.gate.clear()
    inbox = Inbox()
    began = time.perf_counter()
    service.handle(complete(1), inbox)
    assert time.perf_counter() - began < 0.1  # the kernel's main thread is free at once
    assert model.started.wait(5)
    model.gate.set()
    inbox.wait_for("done", 1)


def test_typing_on_cancels_the_running_request_and_the_newest_wins(service, model):
    model.gate.clear()
    inbox = Inbox()
    service.handle(complete(1), inbox)
    assert model.started.wait(5)
    service.handle(complete(2), inbox)   # cancels 1, waits
    service.handle(complete(3), inbox)   # makes 2 stale
    model.gate.set()
    assert inbox.wait_for("done", 1)["finish_reason"] == "cancelled"
    assert inbox.wait_for("done", 2)["finish_reason"] == "stale"
    assert inbox.wait_for("done", 3)["finish_reason"] == "stop"
    assert [r.prefix for r in model.requests] == ["x = ", "x = "]  # 2 never ran


def test_a_cell_that_starts_stops_the_model_and_holds_the_queue(service, model):
    model.gate.clear()
    inbox = Inbox()
    service.handle(complete(1), inbox)
    assert model.started.wait(5)
    service.handle(complete(2), inbox)
    service.cell_started()
    model.gate.set()
    assert inbox.wait_for("done", 1)["finish_reason"] == "cancelled"
    assert inbox.wait_for("busy", 2)
    # A request that arrives while the cell runs (on a kernel subshell) is answered at once.
    service.handle(complete(3), inbox)
    assert inbox.wait_for("busy", 3)
    service.cell_finished()
    service.handle({"type": "prefill", "id": 4, "cells": ["a = 1"]}, inbox)
    deadline = time.time() + 5
    while not model.prefilled and time.time() < deadline:
        time.sleep(0.02)
    assert model.prefilled == [(("a = 1",), "")]


def wait_until(predicate, timeout: float = 5) -> None:
    deadline = time.time() + timeout
    while not predicate() and time.time() < deadline:
        time.sleep(0.02)


def test_typed_text_is_read_ahead_and_a_completion_makes_a_waiting_prefill_moot(service, model):
    """(Fake model.) Prefill while typing carries the text before the cursor; a prefill that
    waits behind a running completion runs after it, unless a newer completion came."""
    inbox = Inbox()
    service.handle({"type": "prefill", "id": 1, "cells": ["a = 1"], "prefix": "b = a +"}, inbox)
    wait_until(lambda: model.prefilled)
    assert model.prefilled == [(("a = 1",), "b = a +")]
    assert inbox.messages == []  # a prefill has no answer

    model.gate.clear()
    service.handle(complete(2), inbox)
    assert model.started.wait(5)
    # Typing on while the completion streams: the read-ahead waits, it does not cancel it.
    service.handle({"type": "prefill", "id": 3, "cells": ["a = 1"], "prefix": "b = a + 1"}, inbox)
    model.gate.set()
    assert inbox.wait_for("done", 2)["finish_reason"] == "stop"
    wait_until(lambda: len(model.prefilled) == 2)
    assert model.prefilled[-1] == (("a = 1",), "b = a + 1")

    model.gate.clear()
    model.started.clear()
    service.handle(complete(4), inbox)
    assert model.started.wait(5)
    service.handle({"type": "prefill", "id": 5, "cells": ["a = 1"], "prefix": "b = a + 1"}, inbox)
    service.handle(complete(6), inbox)  # cancels 4; its prompt covers prefill 5
    model.gate.set()
    assert inbox.wait_for("done", 6)["finish_reason"] == "stop"
    time.sleep(0.2)
    assert len(model.prefilled) == 2


def test_a_prefix_that_is_not_text_is_refused(service, model):
    inbox = Inbox()
    service.handle({"type": "prefill", "id": 7, "cells": [], "prefix": 3}, inbox)
    assert inbox.wait_for("error", 7)["message"] == "prefix must be text, got int"
    assert model.prefilled == []


def test_cancel_by_id(service, model):
    model.gate.clear()
    inbox = Inbox()
    service.handle(complete(1), inbox)
    assert model.started.wait(5)
    service.handle(complete(2), inbox)
    service.handle({"type": "cancel", "id": 2}, inbox)
    assert inbox.wait_for("done", 2)["finish_reason"] == "cancelled"
    service.handle({"type": "cancel", "id": 1}, inbox)
    model.gate.set()
    assert inbox.wait_for("done", 1)["finish_reason"] == "cancelled"


def test_errors_are_answered_not_raised(service, model):
    inbox = Inbox()
    service.handle(complete(1, max_tokens=0), inbox)
    assert "max_tokens must be" in inbox.wait_for("error", 1)["message"]
    model.error = ModelNotFoundError("No model file. Run `qwen-magic pull`.")
    service.handle(complete(2), inbox)
    assert "No model file" in inbox.wait_for("error", 2)["message"]
    service.handle({"type": "complete"}, inbox)  # no id: ignored
    model.error = None
    service.handle(complete(3), inbox)
    assert inbox.wait_for("done", 3)["finish_reason"] == "stop"  # the worker lives on


def test_other_reading_waits_for_completions_and_prefills_and_a_cell_cancels_it(service, model):
    """(Fake model.) ``read_when_idle`` (the next --context prompt, say) runs last, once."""
    order: list[str] = []
    reading = threading.Event()
    release = threading.Event()

    def read(cancel: threading.Event) -> None:
        order.append("read")
        reading.set()
        release.wait(5)
        order.append("cancelled" if cancel.is_set() else "read to the end")

    inbox = Inbox()
    model.gate.clear()
    service.handle(complete(1), inbox)
    assert model.started.wait(5)
    service.read_when_idle(read)
    service.handle({"type": "prefill", "id": 2, "cells": ["a = 1"], "prefix": "b"}, inbox)
    model.gate.set()
    assert reading.wait(5)
    assert model.prefilled == [(("a = 1",), "b")]  # the completion's prefill went first
    service.cell_started()  # a cell starts: the reading stops
    release.set()
    assert service.wait_until_idle(5)
    assert order == ["read", "cancelled"]
    service.cell_finished()
    release.clear()
    reading.clear()
    service.read_when_idle(read)
    assert reading.wait(5)
    release.set()
    assert service.wait_until_idle(5)
    assert order[-1] == "read to the end"


def test_a_completion_the_front_end_gives_up_on_is_read_on_as_a_prefill(service, model):
    """(Fake model.) JupyterLab stopped waiting (its timeout) and sent ``cancel``: the prompt up
    to the cursor is read on in the background, so the next request does not start over —
    unless a newer request came, whose prompt holds it."""
    model.gate.clear()
    inbox = Inbox()
    service.handle(complete(1, prefix="total = ", cells=["a = 1"]), inbox)
    assert model.started.wait(5)
    service.handle({"type": "cancel", "id": 1}, inbox)
    model.gate.set()
    assert inbox.wait_for("done", 1)["finish_reason"] == "cancelled"
    assert service.wait_until_idle(5)
    assert model.prefilled == [(("a = 1",), "total = ")]
    assert not any(m["id"] != 1 for m in inbox.messages)  # a read on has nobody to answer

    model.gate.clear()
    model.started.clear()
    service.handle(complete(2, prefix="total = a", cells=["a = 1"]), inbox)
    assert model.started.wait(5)
    service.handle({"type": "cancel", "id": 2}, inbox)
    service.handle(complete(3, prefix="total = a +", cells=["a = 1"]), inbox)  # typed on
    model.gate.set()
    assert inbox.wait_for("done", 3)["finish_reason"] == "stop"
    assert service.wait_until_idle(5)
    assert len(model.prefilled) == 1  # request 3's prompt held it all

    # A cell that starts drops it as it drops everything else.
    model.gate.clear()
    model.started.clear()
    service.handle(complete(4), inbox)
    assert model.started.wait(5)
    service.handle({"type": "cancel", "id": 4}, inbox)
    service.cell_started()
    model.gate.set()
    assert inbox.wait_for("done", 4)["finish_reason"] == "cancelled"
    service.cell_finished()
    assert service.wait_until_idle(5)
    assert len(model.prefilled) == 1
