"""The FIM prompt and the stop rules of completion as you type (plain Python, no model)."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest

from qwen_magic.completion import (
    FIM_MIDDLE,
    FIM_PREFIX,
    FIM_SUFFIX,
    CompletionRequest,
    StopRules,
    context_text,
    fim_prompt,
    prefill_text,
    prompt_prefix,
    select_context,
)
from qwen_magic.errors import ConfigError


def run(prefix: str, pieces: list[str], suffix: str = "") -> tuple[str, str]:
    """(what was shown while streaming, the final text)."""
    rules = StopRules(prefix, suffix)
    shown = ""
    for piece in pieces:
        shown += rules.feed(piece)
        if rules.done:
            break
    return shown, rules.finish()


def chars(text: str) -> list[str]:
    return list(text)  # one character a "token": the hardest case for the rules


# -- the prompt ------------------------------------------------------------------------------

def test_prompt_layout_puts_the_notebook_first_and_the_cursor_last() -> None:
    request = CompletionRequest("def f(x):\n    ", "\nprint(f(2))", context_cells=("import os", "x = 1"))
    prompt = fim_prompt(request)
    assert prompt.startswith("<|repo_name|>notebook\n<|file_sep|>cell_1.py\nimport os\n")
    # (The indentation of the cursor's otherwise empty line is the model's to write.)
    assert prompt.endswith(f"{FIM_PREFIX}def f(x):\n{FIM_SUFFIX}\nprint(f(2)){FIM_MIDDLE}")
    # What background prefill reads is exactly the start of the next completion's prompt.
    assert prompt.startswith(prefill_text(request.context_cells, request.context_chars))


def test_without_earlier_cells_the_prompt_is_the_file_level_layout() -> None:
    # One file: Qwen's bare FIM prompt, no repository header around it.
    request = CompletionRequest("total = sum(", "\nprint(total)", context_cells=("", "  "))
    assert fim_prompt(request) == f"{FIM_PREFIX}total = sum({FIM_SUFFIX}\nprint(total){FIM_MIDDLE}"
    assert prefill_text((), 6000) == FIM_PREFIX
    assert fim_prompt(request).startswith(prefill_text(request.context_cells, 6000))


def test_prefill_while_typing_reads_the_prompt_up_to_the_cursor() -> None:
    cells = ("import math",)
    for prefix in ("r = math.sq", "def f(x):\n    "):
        typed = prefill_text(cells, 6000, prefix)
        assert typed.startswith(prefill_text(cells, 6000))
        assert fim_prompt(CompletionRequest(prefix, "\nprint(r)", cells)).startswith(typed)
    # An only-indented cursor line is left to the model, as in the completion's prompt.
    assert prefill_text(cells, 6000, "def f(x):\n    ").endswith(f"{FIM_PREFIX}def f(x):\n")


def test_the_model_reads_the_bare_prompt_and_the_line_ends_at_its_newline() -> None:
    """Through the local provider's FIM loop, with a fake model: what it reads and returns."""
    from qwen_magic.providers.local import fim
    from qwen_magic.providers.local.prefix_cache import PrefixStateCache

    class FakeLlama:  # one character a token; "writes" a fixed answer
        n_ctx = 4096

        def __init__(self, answer: str) -> None:
            self.answer, self.read = answer, ""

        def tokenize(self, text: str) -> list[int]:
            self.read = text
            return [ord(c) for c in text]

        def tokens(self) -> list[int]:
            return []

        def truncate(self, n: int) -> None:
            pass

        def generate(self, tokens: list[int], **sampling: object) -> Iterator[int]:
            assert sampling["top_k"] == 1 and sampling["temp"] == 0.0  # greedy
            yield from (ord(c) for c in self.answer)

        def is_end_of_generation(self, token: int) -> bool:
            return False

        def token_text(self, token: int) -> str:
            return chr(token)

        def token_bytes(self, token: int) -> bytes:
            return chr(token).encode()

    llama = FakeLlama("values)\nprint(total)\n")
    request = CompletionRequest("total = sum(", "\nprint(total)")
    got = fim.complete(llama, PrefixStateCache(0), request,  # type: ignore[arg-type]
                       threading.Event(), lambda _: None)
    assert llama.read == f"{FIM_PREFIX}total = sum({FIM_SUFFIX}\nprint(total){FIM_MIDDLE}"
    assert (got.text, got.finish_reason) == ("values)", "stop")

    # On an indented empty line: the model reads up to the line's start and writes the
    # indentation; what is shown after the typed indentation has it once.
    llama = FakeLlama("    if n < 2:\n        return n\n    return n\n\nprint(1)")
    shown: list[str] = []
    got = fim.complete(llama, PrefixStateCache(0), CompletionRequest("def f(n):\n    "),  # type: ignore[arg-type]
                       threading.Event(), shown.append)
    assert llama.read == f"{FIM_PREFIX}def f(n):\n{FIM_SUFFIX}{FIM_MIDDLE}"
    assert got.text == "".join(shown) == "if n < 2:\n        return n\n    return n"


def test_the_prompt_ends_at_the_start_of_an_only_indented_line() -> None:
    # Bare indentation would end the prompt mid-token (the last space of an indent belongs
    # to the next word's token): the model writes the indentation itself.
    assert prompt_prefix("def f(n):\n    ") == "def f(n):\n"
    assert prompt_prefix("class A:\n    def f(self):\n\t\t") == "class A:\n    def f(self):\n"
    assert prompt_prefix("    ") == ""
    # Any code on the cursor's line stays, and so does a line left empty.
    assert prompt_prefix("def f(n):\n    return n ") == "def f(n):\n    return n "
    assert prompt_prefix("x = 1\n") == "x = 1\n"


def test_typing_only_extends_the_prompt_up_to_the_cursor() -> None:
    cells = ("import pandas as pd", "df = pd.DataFrame()")
    a = fim_prompt(CompletionRequest("df.gro", context_cells=cells))
    b = fim_prompt(CompletionRequest("df.groupby(", context_cells=cells))
    shared = a.index(FIM_SUFFIX)
    assert b[:shared] == a[:shared]


def test_context_start_moves_in_blocks_as_the_notebook_grows() -> None:
    cells = [f"cell_{i} = {'x' * 80}" for i in range(100)]
    starts = set()
    for n in range(40, 100):
        kept = select_context(cells[:n], budget_chars=3000)
        assert sum(len(c) + 20 for c in kept) <= 3000
        assert kept[-1] == cells[n - 1]  # the newest cell is always there
        starts.add(cells.index(kept[0]))
    assert all(start % 8 == 0 for start in starts)
    assert len(starts) <= 60 // 8 + 2  # the start moved a few times, not with every cell


def test_a_single_huge_cell_keeps_the_newest_cells_that_fit() -> None:
    assert select_context(["a" * 10_000, "b = 1", "c = 2"], budget_chars=100) == ["b = 1", "c = 2"]
    assert select_context(["", "  ", "x = 1"], budget_chars=100) == ["x = 1"]
    assert context_text([]) == ""


def test_bad_requests_are_one_line_errors() -> None:
    with pytest.raises(ConfigError, match="max_tokens must be an integer from 1 to 4096"):
        CompletionRequest("x", max_tokens=0)
    with pytest.raises(ConfigError, match="prefix must be text"):
        CompletionRequest(None)  # type: ignore[arg-type]


# -- stop rules ------------------------------------------------------------------------------

def test_a_line_is_completed_to_its_end() -> None:
    shown, final = run("total = sum(", chars("values)\nprint(total)\n"))
    assert final == shown == "values)"


def test_a_block_body_keeps_its_indentation_and_stops_at_a_blank_line() -> None:
    body = "if n < 2:\n        return n\n    return fibonacci(n - 1) + fibonacci(n - 2)\n\nprint(1)"
    shown, final = run("def fibonacci(n):\n    ", chars(body))
    assert final == shown == body.split("\n\n")[0]


def test_a_block_stops_when_the_model_dedents_out_of_it() -> None:
    shown, final = run("def f(x):\n    ", chars("y = x * 2\n    return y\ndef g():\n    pass"))
    assert final == shown == "y = x * 2\n    return y"


def test_after_a_colon_the_body_follows() -> None:
    shown, final = run("for item in items:", chars("\n    print(item)\n\nx = 1"))
    assert final == shown == "\n    print(item)"


def test_the_text_after_the_cursor_is_never_written_again() -> None:
    suffix = "\n    return result\n"
    body = "result = [v * 2 for v in values]\n    return result\n"
    shown, final = run("def double(values):\n    ", chars(body), suffix)
    assert final == shown == "result = [v * 2 for v in values]"
    # The same line written first is not shown while it may still be the suffix's.
    shown, final = run("def f():\n    ", chars("return result"), suffix)
    assert shown == "" and final == ""


def test_markers_and_fences_end_it() -> None:
    assert run("x = ", ["1", "<|file_sep|>", "cell_2.py"])[1] == "1"
    assert run("x = ", ["1\n", "```", "\nmore"])[1] == "1"
    assert run("def f():\n    ", ["pass<|endoftext|>"])[1] == "pass"


def test_trailing_whitespace_is_never_shown() -> None:
    rules = StopRules("def f():\n    ")
    assert rules.feed("pass") == "pass"
    assert rules.feed("\n    ") == ""       # might be a blank line or a dedent: held back
    assert rules.feed("return 1") == "\n    return 1"
    assert rules.finish() == "pass\n    return 1"


# -- the bench's holes (cut from the standard library) --------------------------------------

def test_holes_are_reproducible_and_the_true_middle_scores_perfectly() -> None:
    from qwen_magic.bench.holes import make_holes, score

    holes = make_holes(20, 20, seed=1)
    assert holes == make_holes(20, 20, seed=1)
    assert {h.kind for h in holes} == {"single", "multi"}
    for hole in holes:
        right = score(hole, hole.middle)
        assert right.exact and right.parses and right.similarity == 1.0
        assert "\n" not in hole.middle or hole.kind == "multi"
    wrong = score(holes[-1], "return (")
    assert not wrong.exact and not wrong.parses and wrong.similarity < 0.5


def test_indentation_the_user_typed_is_not_written_again() -> None:
    body = "    if n < 2:\n        return n\n    return n"
    assert run("def f(n):\n    ", chars(body))[1] == "if n < 2:\n        return n\n    return n"
    # Only as much as was typed: deeper indentation stays.
    assert run("def f(n):\n  ", chars("    x = 1"))[1] == "  x = 1"


def test_a_line_being_written_never_continues_on_the_next_line() -> None:
    assert run("total = sum(", chars("\n    values)\n"))[1] == ""


def test_the_live_values_are_a_file_between_the_cells_and_the_current_one() -> None:
    live = "df: DataFrame  # columns: price: float64, city: object"
    request = CompletionRequest('df[df["', '"]', context_cells=("import pandas as pd",),
                                live_data=live)
    prompt = fim_prompt(request)
    assert prompt.startswith("<|repo_name|>notebook\n<|file_sep|>cell_1.py\nimport pandas as pd\n"
                             f"<|file_sep|>notebook_state.py\n{live}\n<|file_sep|>current.py\n"
                             f"{FIM_PREFIX}")
    # The cells come first and stay first: the description only follows them.
    assert prompt.startswith(context_text(("import pandas as pd",)).split("<|file_sep|>current")[0])
    # Prefill reads the same start, description included.
    assert prompt.startswith(prefill_text(request.context_cells, request.context_chars, "",
                                          live))
    assert not prompt.startswith(prefill_text(request.context_cells, request.context_chars))
    # A description and no cell is still a repository of one data file and the current one.
    alone = fim_prompt(CompletionRequest("x = ", live_data=live))
    assert alone.startswith(f"<|repo_name|>notebook\n<|file_sep|>notebook_state.py\n{live}\n")
    # Without a description the prompt is what it was.
    assert fim_prompt(CompletionRequest("x = ", live_data="  ")) \
        == f"{FIM_PREFIX}x = {FIM_SUFFIX}{FIM_MIDDLE}"
    with pytest.raises(ConfigError, match="live_data must be text"):
        CompletionRequest("x = ", live_data=None)  # type: ignore[arg-type]
