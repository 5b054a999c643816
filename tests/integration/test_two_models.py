"""The 1.5B as the chat model and the 0.5B completing as you type, with the real models.

`make test` fetches both. One `%%qwen` cell and one `--check` answer come from the 1.5B; a
ghost-text completion (through the kernel end of the completion comm) from the 0.5B in a
context of its own, so a chat answer in between leaves the completion's cached state in
place: the next completion reads only its new tokens. Properties, not wording.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from qwen_magic import api
from qwen_magic.catalog import lookup
from tests.conftest import ROOT, assert_parses_or_is_marked_cut

pytestmark = [pytest.mark.model, pytest.mark.timeout(900)]

BIG, SMALL = lookup("1.5b"), lookup("0.5b")
CELLS = ["import math", "def area(r):\n    return math.pi * r ** 2"]


@pytest.fixture
def two_models(shell):
    if not (ROOT / "models" / BIG.file).is_file():  # make test fetches it first
        pytest.fail("the 1.5B is not installed: run `make model-1.5b`")
    magics = shell.magics_manager.registry["QwenMagics"]
    shell.run_line_magic("config", 'QwenMagics.model = "1.5b"')
    shell.run_line_magic("config", "QwenMagics.temperature = 0.0")
    return shell, magics


def complete(magics, prefix: str) -> dict:
    sent: list[dict] = []
    service = magics.completion_front_ends.service
    service.handle({"type": "complete", "id": len(prefix), "prefix": prefix, "suffix": "",
                    "cells": CELLS}, sent.append)
    assert service.wait_until_idle(300)
    done = sent[-1]
    assert done["type"] == "done", sent
    done["text"] = "".join(m["text"] for m in sent if m["type"] == "chunk")
    return done


def test_chat_from_the_1_5b_completion_from_the_0_5b(two_models):
    shell, magics = two_models
    chat, completion = magics.get_provider(), magics.completion_provider()
    assert api.model_file(chat).name == BIG.file and api.model_file(completion).name == SMALL.file

    first = complete(magics, "def circumference(r):\n    return ")
    assert first["text"].strip() and first["finish_reason"] in ("stop", "length")

    assert shell.run_cell("%%qwen -n 96\nwrite a function that reverses a string",
                          store_history=True).success
    answer = shell.user_ns["_qwen"]
    assert answer.provenance["model"] == BIG.file and answer.completion_tokens > 5
    assert_parses_or_is_marked_cut(shell.inserted[-1])

    # The chat answer ran on the 1.5B's own context: the completion's state is still there,
    # so the next completion, a few characters further on, reads only its new tokens.
    after = complete(magics, "def circumference(r):\n    return 2")
    assert after["prompt_tokens"] - after["reused_tokens"] <= 16, after

    assert shell.run_cell("%%qwen --check -n 300\nwrite a function add(a, b) that returns "
                          "their sum\n\n>>> add(2, 3)\n5\n", store_history=True).success
    checked = shell.user_ns["_qwen"]
    assert checked.check is not None and checked.check.examples == 1
    assert checked.provenance["model"] == BIG.file

    status = magics.status_info()
    assert BIG.file in status["model"] and SMALL.file in status["completion_model"]
    assert "(loaded" in status["completion_model"]


def test_the_bench_times_ghost_text_and_memory_with_two_models():
    """`qwen-magic bench --only two_models --model 1.5b`: ghost text from the 0.5B with the
    1.5B answering in between, against the 0.5B alone; each kernel's memory."""
    done = subprocess.run(
        [sys.executable, "-m", "qwen_magic.cli", "bench", "--quick", "--json", "--no-probes",
         "--only", "two_models", "--model", "1.5b"],
        capture_output=True, text=True, timeout=900, check=False, cwd=ROOT)
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads(done.stdout)
    section = report["two_models"]
    assert (section["chat_model"], section["completion_model"]) == (BIG.file, SMALL.file)
    for run in ("completion_alone", "both"):
        for arm in ("warm", "after_chat"):
            times = section[run][arm]
            assert times["n"] >= 1 and 0 < times["min"] <= times["max"]
    # The chat answers ran in another context: the request after one read only what was
    # typed since the last read-ahead, never the ~400-token notebook again.
    assert section["both"]["new_prompt_tokens"]["after_chat"]["max"] < 100, section["both"]
    rss = section["rss_mb"]
    assert rss["chat_alone"] > rss["completion_alone"] > 0  # the 1.5B weighs more
    for name in ("two_models_ghost_text", "two_models_memory"):
        assert report["goals"][name]["value"] is not None
