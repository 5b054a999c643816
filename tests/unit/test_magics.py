"""%%qwen and %qwen in a real IPython InteractiveShell, with a FAKE provider (no model)."""

from __future__ import annotations

import os
import signal
import threading

from qwen_magic.errors import ModelNotFoundError
from qwen_magic.notebook.grammar import split_line
from qwen_magic.providers.fallback import FallbackProvider
from tests.fakes import FakeProvider
from tests.unit.conftest import CODE_REPLY


def last_markdown(ip):
    for output in reversed(ip.display_pub.outputs):
        if "text/markdown" in output["data"]:
            return output
    raise AssertionError("no markdown output")


def test_one_line_cell_streams_renders_and_inserts_code(shell):
    result = shell.run_cell("%%qwen write an add function")
    assert result.success, result.error_in_exec
    request = shell.fake_provider.requests[-1]
    assert request.messages[-1]["content"] == "write an add function"
    assert shell.inserted == ["def add(a, b):\n    return a + b"]
    final = last_markdown(shell)
    assert "def add" in final["data"]["text/markdown"] and "tokens" in final["data"]["text/markdown"]
    provenance = final["metadata"]["qwen_magic"]
    assert provenance["model"] == "fake.gguf" and isinstance(provenance["seed"], int)
    assert provenance["temperature"] == shell.user_ns["_qwen"].config.temperature
    updates = [o for o in shell.display_pub.outputs if o.get("update")]
    assert len(updates) >= 1  # the answer was updated in place, not printed anew


def test_line_words_and_body_make_the_prompt(shell):
    shell.run_cell("%%qwen -t 0 --seed 7 write\nthis multi-line\nrequest")
    request = shell.fake_provider.requests[-1]
    assert request.messages[-1]["content"] == "write\nthis multi-line\nrequest"
    assert request.config.temperature == 0 and request.config.seed == 7


def test_options_are_parsed(shell):
    shell.run_cell('%%qwen --top-p 0.5 --top-k 5 -n 33 --system "be terse" --no-insert -o res\nx')
    config = shell.fake_provider.requests[-1].config
    assert (config.top_p, config.top_k, config.max_tokens, config.system) == (0.5, 5, 33, "be terse")
    assert shell.inserted == []
    assert shell.user_ns["res"] is shell.user_ns["_qwen"]


def test_prompt_words_keep_apostrophes_and_braces():
    tokens, prompt = split_line("-t 0.3 don't touch {'a': 1} -n")
    assert tokens == ["-t", "0.3"] and prompt == "don't touch {'a': 1} -n"
    assert split_line("-- -t is part of the prompt") == ([], "-t is part of the prompt")


def test_interpolation_and_notice(shell, capsys):
    shell.user_ns["name"] = "Ada"
    shell.run_cell("%%qwen greet {name} and {nobody}")
    assert shell.fake_provider.requests[-1].messages[-1]["content"] == "greet Ada and {nobody}"
    assert "{nobody} is not a variable" in capsys.readouterr().err


def test_bad_option_is_one_usage_line_and_nothing_runs(shell, capsys):
    result = shell.run_cell("%%qwen --temperature hot\nx")
    assert not result.success
    out = capsys.readouterr()
    assert "invalid float value" in out.err + out.out
    assert shell.fake_provider.requests == []


def test_out_of_range_value_is_a_config_error_line(shell, capsys):
    result = shell.run_cell("%%qwen -t -1\nx")
    assert not result.success
    text = capsys.readouterr().out
    assert "ConfigError: temperature must be a number from 0 to 5" in text
    assert "Traceback" not in text


def test_empty_prompt(shell, capsys):
    assert not shell.run_cell("%%qwen\n   \n").success
    assert "The prompt is empty" in capsys.readouterr().out


def test_config_traits_are_defaults_and_cell_options_win(shell):
    shell.run_line_magic("config", "QwenMagics.temperature = 0.9")
    shell.run_line_magic("config", "QwenMagics.insert = False")
    shell.run_cell("%%qwen x")
    assert shell.fake_provider.requests[-1].config.temperature == 0.9
    assert shell.inserted == []
    shell.run_cell("%%qwen -t 0.1 x")
    assert shell.fake_provider.requests[-1].config.temperature == 0.1


def test_invalid_config_trait_is_rejected(shell, caplog):
    shell.run_line_magic("config", "QwenMagics.top_p = 7")
    magics = shell.magics_manager.registry["QwenMagics"]
    assert magics.top_p != 7
    assert "top_p must be a number from 0 to 1" in caplog.text  # %config logs it as an error


def test_missing_model_is_one_line_with_the_fix(shell, capsys):
    shell.fake_provider = FallbackProvider(ModelNotFoundError("No model found. Run `qwen-magic pull`."))
    result = shell.run_cell("%%qwen x")
    assert not result.success
    out = capsys.readouterr().out
    assert "ModelNotFoundError: No model found. Run `qwen-magic pull`." in out
    assert "Traceback" not in out


def test_keyboard_interrupt_keeps_partial_and_inserts_nothing(shell, capsys):
    shell.fake_provider = FakeProvider(["```python\n"] + ["x = 1\n"] * 200, delay=0.01)
    timer = threading.Timer(0.3, lambda: os.kill(os.getpid(), signal.SIGINT))
    timer.start()
    result = shell.run_cell("%%qwen x")
    timer.join()
    assert not result.success  # the cell fails, so Run All stops here
    assert "interrupted" in capsys.readouterr().out
    partial = shell.user_ns["_qwen"]
    assert partial.finish_reason == "cancelled" and 0 < partial.text.count("x = 1") < 200
    assert shell.inserted == []
    assert "interrupted" in last_markdown(shell)["data"]["text/markdown"]
    # The next cell works normally.
    shell.fake_provider = FakeProvider(CODE_REPLY)
    assert shell.run_cell("%%qwen again").success
    assert shell.inserted == ["def add(a, b):\n    return a + b"]


def test_context_option_sends_earlier_cells_and_variables(shell):
    shell.run_cell("import math\nradius = 2.5", store_history=True)
    shell.run_cell("%%qwen --context area of the circle", store_history=True)
    content = shell.fake_provider.requests[-1].messages[-1]["content"]
    assert "radius = 2.5" in content and "radius: float" in content
    assert content.endswith("Request: area of the circle")


def test_only_after_a_context_cell_does_a_finished_cell_have_the_next_one_read(
        shell, monkeypatch, capsys):
    """The --context prompt shares nothing with completion's: read ahead only once used.
    (Fake provider: the reading itself needs the local model, so it is stood in for.)"""
    magics = shell.magics_manager.registry["QwenMagics"]
    assert magics.context_read_ahead() is None  # not the local model: nothing to read
    scheduled, built = [], []

    def read(cancel):
        pass

    monkeypatch.setattr(magics, "context_read_ahead", lambda: built.append(1) or read)
    monkeypatch.setattr(magics.completion_front_ends.service, "read_when_idle", scheduled.append)
    shell.run_cell("radius = 2.5", store_history=True)
    shell.run_cell("%%qwen area of the circle", store_history=True)
    assert scheduled == [] and built == [] and not magics.context_used
    shell.run_cell("%%qwen --context area of the circle", store_history=True)
    shell.run_cell("height = 3", store_history=True)
    assert magics.context_used and scheduled[-1] is read
    # A failure while building it stays out of the user's way (the next --context cell
    # would report it).
    monkeypatch.setattr(magics, "context_read_ahead", lambda: 1 / 0)
    capsys.readouterr()
    assert shell.run_cell("width = 4", store_history=True).success
    printed = capsys.readouterr()
    assert "ZeroDivisionError" not in printed.out + printed.err


def test_line_magic_subcommands_and_prompts(shell, capsys):
    shell.run_line_magic("qwen", "help")
    assert "status" in capsys.readouterr().out
    shell.run_line_magic("qwen", "config")
    assert "QwenMagics.temperature" in capsys.readouterr().out
    shell.run_line_magic("qwen", "help me write a sort")
    assert shell.fake_provider.requests[-1].messages[-1]["content"] == "help me write a sort"


def test_help_lists_every_option(shell, capsys):
    shell.run_cell("%%qwen --help\n")
    out = capsys.readouterr().out
    for option in ("--temperature", "--top-p", "--top-k", "--max-tokens", "--seed", "--system",
                   "--model", "--no-insert", "--out", "--format", "--context"):
        assert option in out
    assert shell.fake_provider.requests == []


def test_format_code_shows_only_the_code(shell):
    shell.run_cell("%%qwen --format code --no-footer x")
    markdown = last_markdown(shell)["data"]["text/markdown"]
    assert markdown.startswith("```python\ndef add") and "Done." not in markdown


def test_unload_removes_the_magics(shell):
    shell.run_line_magic("unload_ext", "qwen_magic")
    assert "qwen" not in shell.magics_manager.magics["cell"]
    shell.run_line_magic("load_ext", "qwen_magic")
    assert "qwen" in shell.magics_manager.magics["cell"]
