"""Bad generation settings, typed into a cell, passed to the API, the panel or %config.

Every one is refused before the model does any work, as one line naming the valid range
or the fix; the loaded model is neither touched nor reloaded.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.reliability.conftest import assert_healthy, load_count
from tests.reliability.kernel import Kernel, one_clear_line

pytestmark = [pytest.mark.model, pytest.mark.notebook, pytest.mark.timeout(300)]

# (cell options, error class, a fragment the one line must contain)
CELL_CASES: list[tuple[str, str, str]] = [
    ("-t -1", "ConfigError", "temperature must be a number from 0 to 5"),
    ("-t nan", "ConfigError", "temperature must be a number from 0 to 5"),
    ("-t inf", "ConfigError", "temperature must be a number from 0 to 5"),
    ("--top-p 1.5", "ConfigError", "top_p must be a number from 0 to 1"),
    ("--top-p=-0.1", "ConfigError", "top_p must be a number from 0 to 1"),
    ("--top-k -3", "ConfigError", "top_k must be an integer"),
    ("--repeat-penalty 9", "ConfigError", "repeat_penalty must be a number from 0.5 to 2"),
    ("-n 0", "ConfigError", "max_tokens must be an integer from 1"),
    ("-n -5", "ConfigError", "max_tokens must be an integer from 1"),
    ("-n 5000", "ContextOverflowError", "lower --max-tokens"),  # beyond the 2048 context
    ("-n 2040", "ContextOverflowError", "lower --max-tokens"),  # fits alone, not with the prompt
    ("--seed 1.5", "UsageError", "argument --seed: invalid int value: '1.5'"),
    ("--seed abc", "UsageError", "argument --seed: invalid int value: 'abc'"),
    ("--seed -1", "ConfigError", "seed must be an integer from 0"),
    ("--seed 99999999999", "ConfigError", "seed must be an integer from 0"),
    ("--top-k 2.5", "UsageError", "argument --top-k: invalid int value"),
    ("--temprature 0.1", "UsageError", "unrecognized arguments: --temprature"),
    ("--format xml", "UsageError", "invalid choice: 'xml'"),
    ("-t", "UsageError", "option -t needs a value"),
    ("-t=", "UsageError", "invalid float value: ''"),
    ("--max-tokens=abc", "UsageError", "invalid int value: 'abc'"),
    ('--stop "abc', "UsageError", "unbalanced quote"),
    ('--stop ""', "UsageError", "option --stop needs a value"),
]


@pytest.fixture(scope="module")
def baseline(kernel: Kernel) -> int:
    return load_count(kernel)


@pytest.mark.parametrize(("options", "error", "fragment"), CELL_CASES,
                         ids=[c[0] for c in CELL_CASES])
def test_bad_cell_option(options: str, error: str, fragment: str, kernel: Kernel,
                         baseline: int) -> None:
    done = kernel.run(f"%%qwen {options}\nwrite a function that adds two numbers")
    line = one_clear_line(done)
    assert line.startswith(f"{error}: "), line
    assert fragment in line, line
    if error == "UsageError":
        assert "%%qwen --help" in line, line  # where to look for the valid options
    assert not done.inserted
    assert_healthy(kernel, loads=baseline, generate=False)


API_CASES: list[tuple[str, str, str]] = [
    ("temperature=-0.5", "ConfigError", "temperature must be a number from 0 to 5"),
    ("top_p=2", "ConfigError", "top_p must be a number from 0 to 1"),
    ("max_tokens=0", "ConfigError", "max_tokens must be an integer from 1"),
    ("max_tokens=100_000", "ContextOverflowError", "raise n_ctx"),
    ("seed=1.5", "ConfigError", "seed must be an integer"),
    ("seed='7'", "ConfigError", "seed must be an integer"),
    ("stop=['']", "ConfigError", "stop must be a list of non-empty strings"),
    ("system=42", "ConfigError", "system must be text"),
]


@pytest.mark.parametrize(("options", "error", "fragment"), API_CASES,
                         ids=[c[0] for c in API_CASES])
def test_bad_api_argument(options: str, error: str, fragment: str, kernel: Kernel,
                          baseline: int) -> None:
    done = kernel.run(f"qwen_magic.generate('add two numbers', {options}, provider=api_provider)")
    line = one_clear_line(done)
    assert line.startswith(f"{error}: ") and fragment in line, line
    assert_healthy(kernel, loads=baseline, generate=False)


def test_unknown_setting_through_the_config_api(kernel: Kernel, baseline: int) -> None:
    line = one_clear_line(kernel.run(
        "qwen_magic.GenerationConfig().replace(temprature=0.1)"))
    assert line.startswith("ConfigError: ") and "tem" in line and "Valid:" in line, line
    assert_healthy(kernel, loads=baseline, generate=False)


def test_bad_panel_setting(kernel: Kernel, baseline: int) -> None:
    for options, fragment in (("temperature=-1", "temperature must be"),
                              ("temprature=0.1", "Unknown panel setting")):
        line = one_clear_line(kernel.run(f"qwen_magic.panel({options})"))
        assert line.startswith("ConfigError: ") and fragment in line, line
    assert_healthy(kernel, loads=baseline, generate=False)


@pytest.mark.parametrize(("assignment", "fragment"), [
    ("temperature = -1", "temperature must be a number from 0 to 5"),
    ("max_tokens = 0", "max_tokens must be an integer from 1"),
    ("seed = -4", "seed must be an integer from 0"),
])
def test_bad_config_value_is_refused_and_the_old_value_kept(
    assignment: str, fragment: str, kernel: Kernel, baseline: int
) -> None:
    name = assignment.split()[0]
    before = kernel.eval(f"qwen_magic.notebook.magics._registered[id(ip)].{name}")
    done = kernel.run(f"%config QwenMagics.{assignment}")
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and fragment in lines[0], done.stderr
    assert kernel.eval(f"qwen_magic.notebook.magics._registered[id(ip)].{name}") == before
    assert_healthy(kernel, loads=baseline, generate=False)


def test_bad_model_setting_through_config_names_the_range(kernel: Kernel, baseline: int) -> None:
    # n_ctx is only checked when a cell uses it; the cell then says what the range is.
    kernel.ok("%config QwenMagics.n_ctx = 10")
    try:
        line = one_clear_line(kernel.run("%%qwen -n 4\nsay hi"))
        assert line.startswith("ConfigError: ") and "n_ctx must be an integer from 256" in line
    finally:
        kernel.ok("%config QwenMagics.n_ctx = 2048")
    assert_healthy(kernel, loads=baseline)


def test_many_bad_cells_then_a_good_one(kernel: Kernel, baseline: int) -> None:
    # After all the refusals above, the very model loaded at the start answers.
    assert_healthy(kernel, loads=baseline)


@pytest.mark.parametrize(("args", "code", "fragment"), [
    (["-t", "-1"], 2, "temperature must be a number from 0 to 5"),
    (["--top-p", "7"], 2, "top_p must be a number from 0 to 1"),
    (["-n", "0"], 2, "max_tokens must be an integer from 1"),
    (["--seed", "1.5"], 2, "argument --seed: invalid int value: '1.5'"),
    (["--temprature", "1"], 2, "unrecognized arguments: --temprature"),
])
def test_cli_bad_setting(args: list[str], code: int, fragment: str, model_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "qwen_magic.cli", "generate", "--model", str(model_path),
         *args, "hi"],
        capture_output=True, text=True, timeout=120,
    )
    assert done.returncode == code, done.stderr
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    # argparse prints its usage line first (the Unix convention); the error is the last line.
    assert fragment in lines[-1] and "Traceback" not in done.stderr, done.stderr
    assert done.stdout == ""
