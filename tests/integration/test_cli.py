"""`qwen-magic` as a user runs it: a subprocess, the real model, real exit codes."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest

from tests.conftest import assert_parses_or_is_marked_cut

pytestmark = pytest.mark.model
CLI = [sys.executable, "-m", "qwen_magic.cli"]


def run(*args, input=None, env_model=None, timeout=300):
    env = dict(os.environ)
    if env_model:
        env["QWEN_MAGIC_MODEL"] = str(env_model)
    return subprocess.run([*CLI, *args], capture_output=True, text=True, input=input,
                          env=env, timeout=timeout)


def test_generate_streams_to_stdout_with_stats_on_stderr(model_path):
    done = run("generate", "-t", "0", "-n", "60", "write hello world in python", env_model=model_path)
    assert done.returncode == 0, done.stderr
    assert "print" in done.stdout
    assert "tok/s" in done.stderr and "tok/s" not in done.stdout


def test_code_only_and_prompt_from_stdin(model_path):
    done = run("generate", "--code-only", "--no-stats", "-t", "0", "-n", "120", "-",
               input="write a python function square(x) returning x*x", env_model=model_path)
    assert done.returncode == 0, done.stderr
    assert_parses_or_is_marked_cut(done.stdout)  # a cut answer's first line says so
    assert "def square" in done.stdout and "```" not in done.stdout


def test_usage_and_setting_errors_exit_2():
    bad_type = run("generate", "--temperature", "hot", "x")
    assert bad_type.returncode == 2 and "invalid float value" in bad_type.stderr
    bad_range = run("generate", "-t", "-1", "x")
    assert bad_range.returncode == 2
    assert bad_range.stderr.strip() == "qwen-magic: temperature must be a number from 0 to 5, got -1.0."


def test_missing_model_exits_3_with_the_fix(tmp_path):
    done = run("generate", "--model", str(tmp_path / "nope.gguf"), "hi")
    assert done.returncode == 3
    assert "No model file at" in done.stderr and "qwen-magic pull" in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1


def test_info_json_describes_the_model(model_path):
    done = run("info", "--json", env_model=model_path)
    assert done.returncode == 0
    info = json.loads(done.stdout)
    assert info["model"]["architecture"] == "qwen2" and info["model"]["context_length"] == 32768
    assert info["default_threads"] >= 1 and info["llama_cpp_python"]


def test_ctrl_c_stops_with_130_and_keeps_the_partial_answer(model_path):
    env = dict(os.environ, QWEN_MAGIC_MODEL=str(model_path), PYTHONUNBUFFERED="1")
    proc = subprocess.Popen([*CLI, "generate", "-n", "500", "write a long essay on compilers"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    first = proc.stdout.read(20)  # wait until the answer is streaming
    assert first
    time.sleep(0.3)
    proc.send_signal(signal.SIGINT)
    rest, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert len(first + rest) > 20
    assert "Interrupted" in err and "Traceback" not in err
