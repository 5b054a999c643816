"""Prompt-lookup speculative decoding against a fake model: exact, bounded, consistent."""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence

import pytest

from qwen_magic.config import GenerationConfig
from qwen_magic.errors import ConfigError
from qwen_magic.providers.base import GenerationRequest
from qwen_magic.providers.local.provider import use_speculative
from qwen_magic.providers.local.speculative import (
    DraftPolicy,
    PromptLookupDrafter,
    SpeculativeStats,
    speculative_decode,
)


class FakeTarget:
    """A deterministic "model": the next token is ``predict(history)``.

    It records every batch so the tests can check what was evaluated, and — like llama.cpp —
    keeps the rows of the last batch only.
    """

    def __init__(self, prompt: Sequence[int], predict: Callable[[list[int]], int]) -> None:
        self.evaluated = list(prompt)
        self.predict = predict
        self.rows: list[int] = []
        self.batches: list[int] = []

    @property
    def n_tokens(self) -> int:
        return len(self.evaluated)

    def decode(self, tokens: Sequence[int]) -> None:
        self.rows = []
        for token in tokens:
            self.evaluated.append(token)
            self.rows.append(self.predict(self.evaluated))
        self.batches.append(len(tokens))

    def sample(self, row: int) -> int:
        return self.rows[row]

    def rewind(self, n_tokens: int) -> None:
        assert n_tokens <= len(self.evaluated)
        del self.evaluated[n_tokens:]


def plain_decode(prompt: list[int], predict: Callable[[list[int]], int], n: int) -> list[int]:
    history, out = list(prompt), []
    for _ in range(n):
        token = predict(history)
        out.append(token)
        history.append(token)
    return out


def copy_model(source: list[int], prompt_len: int, edits: dict[int, int]) -> Callable[[list[int]], int]:
    """Writes ``source`` again (an edit that copies its input), changing some positions."""
    def predict(history: list[int]) -> int:
        i = len(history) - prompt_len
        return edits.get(i, source[i % len(source)])
    return predict


def hash_model(vocab: int = 50) -> Callable[[list[int]], int]:
    """Text that rarely repeats itself: drafts mostly fail."""
    return lambda history: hash(tuple(history[-3:])) % vocab


def run_speculative(prompt: list[int], predict: Callable[[list[int]], int], n: int,
                    **kwargs) -> tuple[list[int], FakeTarget, SpeculativeStats]:
    target = FakeTarget(prompt, predict)
    first = predict(target.evaluated)  # the prompt read yields the first token
    stats = SpeculativeStats()
    out: list[int] = []
    generator = speculative_decode(target, prompt, first, stats=stats,
                                   limit=lambda: n - len(out), **kwargs)
    for token in generator:
        out.append(token)
        if len(out) >= n:
            break
    generator.close()
    return out, target, stats


_RNG = random.Random(7)
SOURCE = [_RNG.randrange(1000) for _ in range(120)]
PROMPT = [1, 2, 3] + SOURCE + [4, 5]


@pytest.mark.parametrize("edits", [{}, {10: 7, 11: 8}, {i: 900 + i for i in range(0, 120, 9)}])
def test_output_equals_plain_decoding_of_an_edit(edits: dict[int, int]) -> None:
    predict = copy_model(SOURCE, len(PROMPT), edits)
    out, target, stats = run_speculative(PROMPT, predict, 100)
    assert out == plain_decode(PROMPT, predict, 100)
    assert stats.accepted > 0


def test_output_equals_plain_decoding_when_drafts_fail() -> None:
    predict = hash_model()
    rng = random.Random(3)
    prompt = [rng.randrange(50) for _ in range(200)]
    out, _, _ = run_speculative(prompt, predict, 150)
    assert out == plain_decode(prompt, predict, 150)


def test_a_copied_answer_needs_far_fewer_batches_than_tokens() -> None:
    predict = copy_model(SOURCE, len(PROMPT), {})
    out, target, stats = run_speculative(PROMPT, predict, 100)
    assert len(target.batches) < 30
    assert stats.acceptance is not None and stats.acceptance > 0.8


def test_evaluated_state_matches_the_answer_after_stopping_midway() -> None:
    predict = copy_model(SOURCE, len(PROMPT), {20: 5})
    for n in (1, 2, 17, 18, 19, 33):
        out, target, _ = run_speculative(PROMPT, predict, n)
        # Whatever is evaluated is a prefix of prompt + answer: the next prompt may reuse it.
        full = PROMPT + out
        assert target.evaluated == full[: len(target.evaluated)]
        assert len(target.evaluated) >= len(PROMPT)


def test_never_drafts_past_the_limit() -> None:
    predict = copy_model(SOURCE, len(PROMPT), {})
    for n in (1, 5, 16, 40):
        out, target, _ = run_speculative(PROMPT, predict, n)
        assert len(out) == n
        # Every evaluated token is the prompt or an answer token the caller could want.
        assert len(target.evaluated) <= len(PROMPT) + n


def test_drafter_prefers_the_longest_and_newest_match() -> None:
    drafter = PromptLookupDrafter([9, 1, 2, 3, 50, 51, 8, 2, 3, 60, 61, 7, 1, 2, 3])
    draft, match = drafter.draft(2)
    assert draft == [50, 51] and match == 3  # "1 2 3" beats the newer "2 3"
    drafter.extend([70])
    assert drafter.draft(4) == ([], 0)


def test_drafter_measures_matches_longer_than_its_ngrams() -> None:
    tokens = list(range(100, 130))
    drafter = PromptLookupDrafter(tokens + [5] + tokens[:20], max_ngram=4)
    draft, match = drafter.draft(3)
    assert draft == [120, 121, 122] and match == 16  # capped at max_match


def test_policy_picks_batches_by_match_length_and_drops_a_tier_that_loses() -> None:
    policy = DraftPolicy()
    assert [policy.batch(m) for m in (0, 2, 3, 7, 8, 20)] == [1, 1, 4, 4, 16, 16]
    for _ in range(10):
        policy.update(4, 0)  # every 4-row batch rejected at its first draft token
    assert policy.batch(5) == 1
    assert policy.batch(9) == 16


def _request(prompt: str, **config) -> GenerationRequest:
    return GenerationRequest.from_prompt(prompt, GenerationConfig(**config))


EDIT = "Add type hints to this function:\n```python\n" + "def f(a, b):\n    return a + b\n" * 12 + "```"


def test_auto_mode_only_for_greedy_requests_that_quote_code() -> None:
    assert use_speculative(_request(EDIT, temperature=0).config, _request(EDIT, temperature=0))
    sampled = _request(EDIT, temperature=0.2)
    assert not use_speculative(sampled.config, sampled)
    short = _request("write a function that reverses a string", temperature=0)
    assert not use_speculative(short.config, short)


def test_auto_mode_ignores_code_in_the_notebook_context() -> None:
    context = "Code already run in this notebook:\n```python\n" + "x = load()\n" * 40 + "```"
    plain_request = _request(f"{context}\n\nRequest: plot x by month", temperature=0)
    edit_request = _request(f"{context}\n\nRequest: {EDIT}", temperature=0)
    assert not use_speculative(plain_request.config, plain_request)
    assert use_speculative(edit_request.config, edit_request)


def test_explicit_modes_win_over_auto() -> None:
    on = _request("hi", temperature=0.7, speculative="on")
    off = _request(EDIT, temperature=0, speculative="off")
    assert use_speculative(on.config, on)
    assert not use_speculative(off.config, off)


def test_mode_is_validated() -> None:
    with pytest.raises(ConfigError, match="speculative must be one of auto, on, off"):
        GenerationConfig(speculative="fast")


class SamplingTarget(FakeTarget):
    """Like llama.cpp's dist sampler: every sampled row draws from one random stream."""

    def __init__(self, prompt: Sequence[int], seed: int) -> None:
        super().__init__(prompt, lambda history: 0)
        self.rng = random.Random(seed)
        self.histories: list[list[int]] = []

    def decode(self, tokens: Sequence[int]) -> None:
        self.histories = []
        for token in tokens:
            self.evaluated.append(token)
            self.histories.append(list(self.evaluated))
        self.batches.append(len(tokens))

    def sample(self, row: int) -> int:
        return sample_next(self.histories[row], self.rng)


def sample_next(history: list[int], rng: random.Random) -> int:
    # Mostly copies the token that followed the previous occurrence of the last token.
    last = history[-1]
    for i in range(len(history) - 2, -1, -1):
        if history[i] == last and rng.random() < 0.9:
            return history[i + 1]
    return rng.randrange(1000)


def test_sampling_draws_the_same_tokens_as_plain_decoding() -> None:
    """Each emitted token consumes one draw, in order, so a seeded answer is reproducible."""
    rng = random.Random(11)
    history = list(PROMPT)
    plain = []
    for _ in range(80):
        plain.append(sample_next(history, rng))
        history.append(plain[-1])

    target = SamplingTarget(PROMPT, 11)
    first = sample_next(list(PROMPT), target.rng)
    out: list[int] = []
    for token in speculative_decode(target, PROMPT, first, limit=lambda: 80 - len(out)):
        out.append(token)
        if len(out) == 80:
            break
    assert out == plain
