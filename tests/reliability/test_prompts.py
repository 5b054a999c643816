"""Unusual prompts: empty, too long, junk, braces, and text outside ASCII in and out.

What matters for each: the cell either answers or says in one line what to change, the
prompt reaches the model exactly as the user wrote it, and streamed text never shows a
broken character (U+FFFD) where a multi-byte character was split between tokens.
"""

from __future__ import annotations

import threading
import time

import pytest

from qwen_magic.providers.base import GenerationRequest
from qwen_magic.streaming import ListSink, TokenStreamer
from tests.fakes import FakeProvider
from tests.reliability.conftest import assert_healthy, load_count, shown_text
from tests.reliability.kernel import Execution, Kernel, one_clear_line

pytestmark = [pytest.mark.timeout(300)]

REPLACEMENT = "\ufffd"

SPY = """\
import qwen_magic.api as _engine
_real_run = _engine.run
sent = []
def _spy(prompt, config, **kw):
    sent.append(prompt)  # what the model is asked, after {var} interpolation
    return _real_run(prompt, config, **kw)
_engine.run = _spy
"""


@pytest.fixture(scope="module")
def baseline(kernel: Kernel) -> int:
    kernel.ok(SPY)
    return load_count(kernel)


def last_sent(kernel: Kernel) -> str:
    return str(kernel.eval("sent[-1]"))


@pytest.mark.parametrize(("cell", "error", "fragment"), [
    ("%%qwen\n", "UsageError", "Did you mean the line magic %qwen"),
    ("%%qwen\n   \n\t\n", "ConfigError", "The prompt is empty: say what the code should do"),
    # Options alone start a cell whose prompt is its body (terminal IPython waits for it),
    # so with no body IPython itself says what is missing.
    ("%%qwen -t 0 -n 4", "UsageError", "Did you mean the line magic %qwen"),
    ("%qwen", "UsageError", "`%qwen help` lists them"),
    ("%qwen    ", "UsageError", "`%qwen help` lists them"),
    ("qwen_magic.generate('   ', provider=api_provider)", "ConfigError", "The prompt is empty"),
    ("qwen_magic.generate(None, provider=api_provider)", "ConfigError", "must be text"),
    ("list(qwen_magic.stream(''))", "ConfigError", "The prompt is empty"),
], ids=["no-body", "whitespace-body", "options-only", "bare-line-magic", "spaces-line-magic",
        "api-whitespace", "api-none", "stream-empty"])
@pytest.mark.model
@pytest.mark.notebook
def test_empty_prompt(cell: str, error: str, fragment: str, kernel: Kernel, baseline: int) -> None:
    line = one_clear_line(kernel.run(cell))
    assert line.startswith(f"{error}: ") and fragment in line, line
    assert_healthy(kernel, loads=baseline, generate=False)


@pytest.mark.model
@pytest.mark.notebook
def test_prompt_longer_than_the_context(kernel: Kernel, baseline: int) -> None:
    body = "def step(x):\n    return x + 1\n\n" * 400  # ~5,000 tokens for a 2,048 context
    done = kernel.run(f"%%qwen -n 16\nexplain this code\n{body}")
    line = one_clear_line(done)
    assert line.startswith("ContextOverflowError: ") and "Shorten the prompt" in line, line
    assert "2,048-token context" in line, line
    assert_healthy(kernel, loads=baseline, generate=False)


@pytest.mark.model
@pytest.mark.notebook
def test_very_large_cell_is_refused_in_bounded_time(kernel: Kernel, baseline: int) -> None:
    body = "value = compute(value)  # a long generated log line ✓\n" * 20_000  # ~1.1 MB
    started = time.monotonic()
    done = kernel.run(f"%%qwen -n 16\nsummarise\n{body}", timeout=120)
    elapsed = time.monotonic() - started
    line = one_clear_line(done)
    assert line.startswith("ContextOverflowError: "), line
    assert elapsed < 60, f"refusing a 1 MB cell took {elapsed:.0f} s"
    assert_healthy(kernel, loads=baseline)


@pytest.mark.model
@pytest.mark.notebook
def test_control_characters_and_binary_junk(kernel: Kernel, baseline: int) -> None:
    junk = "\x00\x01\x02\x07\x08\x0b\x0c\x1b[31mred\x1b[0m\x7f\u202e\ufeff\u200b\U0010fffd"
    done = kernel.run(f"%%qwen --no-insert -t 0 -n 8\nwhat is this: {junk} end")
    assert done.status == "ok", done.error_lines
    assert junk in last_sent(kernel)  # sent as typed, not cleaned up behind the user's back
    # Variables holding bytes decoded as Latin-1, and an undecodable file name
    # (os.fsdecode gives lone surrogates), interpolated with {name}.
    kernel.ok("blob = bytes(range(256)).decode('latin-1')\n"
              "fname = b'caf\\xe9-\\xff.csv'.decode('utf-8', 'surrogateescape')")
    done = kernel.run("%%qwen --no-insert -t 0 -n 8\nread {fname} and parse {blob}")
    assert done.status == "ok", done.error_lines
    assert REPLACEMENT not in shown_text(done)
    assert_healthy(kernel, loads=baseline, generate=False)


@pytest.mark.model
@pytest.mark.notebook
def test_braces_are_left_as_written(kernel: Kernel, baseline: int) -> None:
    kernel.ok("n_rows = 12")
    cell = ("%%qwen --no-insert -t 0 -n 2\n"
            "use {n_rows} rows; {{n_rows}} is literal; {undefined} stays; "
            "d = {'a': 1, 'b': {'c': 2}}; f'{x:>10}' {0} {x.y} { and } and {unbalanced")
    done = kernel.run(cell)
    assert done.status == "ok", done.error_lines
    assert last_sent(kernel) == (
        "use 12 rows; {n_rows} is literal; {undefined} stays; "
        "d = {'a': 1, 'b': {'c': 2}}; f'{x:>10}' {0} {x.y} { and } and {unbalanced")
    notice = [line for line in done.stderr.splitlines() if line.strip()]
    assert len(notice) == 1 and "{undefined} is not a variable" in notice[0], done.stderr
    # The magic line is not expanded by IPython either: $x and {expr} stay text, and the
    # {{name}} escape holds in one-line cells too (IPython's own expansion would undo it).
    for cell, sent in (
        ("%%qwen --no-insert -t 0 -n 2 tell me about $HOME and {1+1} and {n_rows}",
         "tell me about $HOME and {1+1} and 12"),
        ("%%qwen --no-insert -t 0 -n 2 rows {n_rows}, literal {{n_rows}}, sum {n_rows+1}",
         "rows 12, literal {n_rows}, sum {n_rows+1}"),
        ("%qwen --no-insert -t 0 -n 2 literal {{n_rows}} and {len('abc')}",
         "literal {n_rows} and {len('abc')}"),
    ):
        done = kernel.run(cell)
        assert done.status == "ok", done.error_lines
        assert last_sent(kernel) == sent
    assert_healthy(kernel, loads=baseline, generate=False)


WORLD = "🙂 你好世界 שלום עולם مرحبا"


def _non_ascii_scripts(text: str) -> set[str]:
    scripts = set()
    for char in text:
        code = ord(char)
        if 0x4E00 <= code <= 0x9FFF:
            scripts.add("cjk")
        elif 0x0590 <= code <= 0x05FF or 0x0600 <= code <= 0x06FF:
            scripts.add("rtl")
        elif code >= 0x1F300:
            scripts.add("emoji")
    return scripts


@pytest.mark.model
@pytest.mark.notebook
def test_emoji_cjk_and_right_to_left_text_in_and_out(kernel: Kernel, baseline: int) -> None:
    updates: list[str] = []

    def watch(msg: dict) -> None:
        if msg["msg_type"] in ("display_data", "update_display_data"):
            updates.append(str(msg["content"]["data"].get("text/plain", "")))

    cell = (f"%%qwen -t 0 --seed 3 -n 64\nWrite one Python line that prints exactly: {WORLD}")
    done: Execution = kernel.collect(kernel.submit(cell), on_message=watch)
    assert done.status == "ok", done.error_lines
    assert WORLD in last_sent(kernel)
    assert len(updates) > 2, "the answer should have streamed in several updates"
    for update in updates:  # every intermediate state, not only the final one
        assert REPLACEMENT not in update, update
    text = str(kernel.eval("_qwen.text"))
    assert REPLACEMENT not in text
    assert len(_non_ascii_scripts(text)) >= 2, f"the answer lost the non-ASCII text: {text!r}"
    assert done.inserted and REPLACEMENT not in done.inserted[0]
    # The same through the streaming API, chunk by chunk.
    kernel.ok(f"chunks = list(qwen_magic.stream('Repeat exactly: {WORLD}', temperature=0, "
              "max_tokens=40, seed=3, provider=api_provider))")
    chunks = kernel.eval("chunks")
    assert chunks and all(REPLACEMENT not in chunk for chunk in chunks), chunks
    assert _non_ascii_scripts("".join(chunks)), chunks
    assert_healthy(kernel, loads=baseline, generate=False)


def test_characters_split_across_tokens_are_joined() -> None:
    # Byte-level BPE splits one emoji over several tokens; the worst case is one byte each.
    pieces = [bytes([b]) for b in WORLD.encode("utf-8")]
    sink = ListSink()
    result = TokenStreamer(FakeProvider(pieces), [sink]).run(GenerationRequest.from_prompt("x"))
    assert result.text == WORLD
    assert "".join(sink.chunks) == WORLD
    assert all(REPLACEMENT not in chunk for chunk in sink.chunks)


def test_invalid_bytes_from_the_model_do_not_break_the_stream() -> None:
    # A model can emit a byte sequence that is not UTF-8 at all; it shows as one U+FFFD
    # where it happened and the characters around it survive.
    pieces = [b"ok \xf0\x9f", b"\x99", b"\x82 ", b"\xff", " 你好".encode()]
    result = TokenStreamer(FakeProvider(pieces), []).run(GenerationRequest.from_prompt("x"))
    assert result.text == "ok 🙂 \ufffd 你好"


def test_prompt_with_lone_surrogates_reaches_the_provider_as_valid_text() -> None:
    from qwen_magic import api
    from qwen_magic.config import GenerationConfig

    provider = FakeProvider(["fine"])
    result = api.run("read caf\udce9.csv", GenerationConfig(system="sys \ud800"),
                        provider=provider, cancel=threading.Event())
    assert result.text == "fine"
    request = provider.requests[-1]
    for message in request.messages:
        message["content"].encode("utf-8")  # would raise on a lone surrogate
    assert request.messages[-1]["content"] == "read caf\ufffd.csv"
