"""Kernel → Interrupt during a real generation, then another %%qwen cell in the same kernel."""

from __future__ import annotations

import time

import pytest
from jupyter_client.manager import start_new_kernel

pytestmark = [pytest.mark.model, pytest.mark.notebook]


def execute(client, code, timeout=300, on_iopub=None):
    """Run ``code``; return (reply content, iopub messages of that request)."""
    msg_id = client.execute(code)
    messages = []
    deadline = time.monotonic() + timeout
    while True:
        msg = client.get_iopub_msg(timeout=max(1, deadline - time.monotonic()))
        if msg["parent_header"].get("msg_id") != msg_id:
            continue
        messages.append(msg)
        if on_iopub:
            on_iopub(msg)
        if msg["msg_type"] == "status" and msg["content"]["execution_state"] == "idle":
            break
    reply = client.get_shell_msg(timeout=30)
    return reply["content"], messages


def test_interrupt_stops_generation_keeps_partial_and_the_next_cell_works(model_path, tmp_path):
    manager, client = start_new_kernel(kernel_name="python3", cwd=str(tmp_path),
                                       env={"QWEN_MAGIC_MODEL": str(model_path)})
    try:
        reply, _ = execute(client, "%load_ext qwen_magic\nanswer_before = 41")
        assert reply["status"] == "ok"
        interrupted = {"sent": None}

        def interrupt_once_streaming(msg):
            text = msg["content"].get("data", {}).get("text/plain", "")
            streaming = msg["msg_type"] == "update_display_data" and not text.startswith("⏳")
            if streaming and len(text) > 40 and interrupted["sent"] is None:
                interrupted["sent"] = time.monotonic()
                manager.interrupt_kernel()

        reply, messages = execute(
            client, "%%qwen -n 500 write a python module with ten functions for string utilities",
            on_iopub=interrupt_once_streaming,
        )
        assert interrupted["sent"] is not None, "the answer never started streaming"
        assert reply["status"] == "error" and reply["ename"] == "GenerationCancelled"
        assert "payload" not in reply or not reply["payload"]  # nothing inserted

        reply, messages = execute(
            client, "print(_qwen.finish_reason, len(_qwen.text) > 40, _qwen.completion_tokens < 400, "
                    "answer_before)")
        printed = "".join(m["content"].get("text", "") for m in messages if m["msg_type"] == "stream")
        # Partial kept, stopped long before max_tokens (500), the user's namespace intact.
        assert printed.strip() == "cancelled True True 41"
        reply, messages = execute(client, "%%qwen -t 0 -n 40 write hello world in python")
        assert reply["status"] == "ok"
        assert any(p.get("source") == "set_next_input" for p in reply.get("payload", []))
        reply, messages = execute(
            client, "from qwen_magic.providers.local import models; print(models.load_count)")
        text = "".join(m["content"].get("text", "") for m in messages if m["msg_type"] == "stream")
        assert text.strip() == "1"  # the model was never reloaded
    finally:
        client.stop_channels()
        manager.shutdown_kernel(now=True)

