"""Prompt-lookup speculative decoding: draft tokens copied from the prompt, verified in one batch.

Why it can win on a CPU: checking a drafted continuation in one batch costs much less than
decoding it token by token. Edits ("add type hints to this function") copy long runs of
their input, so a draft looked up in the prompt is often right.

Why llama-cpp-python's own ``LlamaPromptLookupDecoding`` loses: a ``draft_model`` forces
``logits_all=True``, so every prompt token also goes through the output layer and every row
of logits is copied into ``Llama.scores`` (a later first token, more RSS per token); it
drafts a fixed 10 (or 4) tokens after any 1-2 token match, taken from the *first* occurrence
in the prompt, so drafts are often rejected at their first token and the batch was paid for
nothing. The measurements: docs/performance.md, "Faster than raw".

This module keeps the logic free of llama.cpp (the unit tests drive it with a fake model):
:class:`PromptLookupDrafter` finds drafts, :class:`DraftPolicy` sizes them from the length of
the match they come from, and :func:`speculative_decode` runs draft → one batch → verify
against a :class:`Target` (:class:`~qwen_magic.providers.local.llama_adapter.SpeculativeTarget`
is the real model's). Verification samples every row with the request's own sampler, in
order, and stops at the first token that differs from the draft, so the accepted tokens are
exactly what plain decoding would have sampled from the same logits — at temperature 0 the
output can differ from plain decoding only where batched and single-token matrix products
round differently on a near-tie (the benchmark reports how often that happens).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Protocol


class Target(Protocol):
    """The model, seen from the decoding loop."""

    def decode(self, tokens: Sequence[int]) -> None:
        """Evaluate ``tokens`` after the current state, with logits for every one of them."""
        ...

    def sample(self, row: int) -> int:
        """Sample the token that follows row ``row`` of the last decode (and accept it)."""
        ...

    def rewind(self, n_tokens: int) -> None:
        """Forget every evaluated token after the first ``n_tokens``."""
        ...

    @property
    def n_tokens(self) -> int:
        """How many tokens are evaluated (their KV state is live)."""
        ...


class PromptLookupDrafter:
    """Finds where the text being written already appears, and proposes what followed it.

    Every n-gram (``min_ngram``..``max_ngram`` tokens) of the prompt and of the answer so far
    is indexed by the position right after it, newest occurrence winning: the newest copy is
    the one an edit is most likely walking through. The longest n-gram that matches the end
    of the history decides, and :meth:`draft` also says how long the match really is (it is
    extended backwards past ``max_ngram``): that length predicts how much of a draft survives.
    """

    def __init__(self, tokens: Sequence[int], *, min_ngram: int = 3, max_ngram: int = 8,
                 max_match: int = 16) -> None:
        self.min_ngram, self.max_ngram, self.max_match = min_ngram, max_ngram, max_match
        self.history: list[int] = []
        self._index: dict[tuple[int, ...], int] = {}
        self.extend(tokens)

    def extend(self, tokens: Sequence[int]) -> None:
        history, index = self.history, self._index
        for token in tokens:
            end = len(history)
            # Index the n-grams that end *before* the new token: their continuation (the new
            # token) now exists, and the history's own tail never matches itself.
            for n in range(self.min_ngram, min(self.max_ngram, end) + 1):
                index[tuple(history[end - n:end])] = end
            history.append(token)

    def draft(self, k: int) -> tuple[list[int], int]:
        """Up to ``k`` tokens that followed the longest earlier match of the history's tail,
        and that match's length in tokens (0 when nothing matched)."""
        history = self.history
        size = len(history)
        for n in range(min(self.max_ngram, size), self.min_ngram - 1, -1):
            start = self._index.get(tuple(history[size - n:]))
            if start is None:
                continue
            match = n
            while (match < self.max_match and start - match - 1 >= 0
                   and history[start - match - 1] == history[size - match - 1]):
                match += 1
            return (history[start:start + k] if k > 0 else []), match
        return [], 0


# What a verification batch costs, in single-token decodes (logits for every row), as measured
# in docs/performance.md ("Why LlamaPromptLookupDecoding loses", 2). Only 4 and 16 rows are
# used: llama.cpp's repacked Q4_K kernels work on 4 columns at a time, the cheap shapes.
BATCH_COST = {1: 1.0, 4: 2.5, 16: 7.4}


@dataclass
class DraftPolicy:
    """How many tokens to draft, from the length of the match the draft comes from.

    The longer the match, the more of its draft survives (docs/performance.md, "What
    qwen-magic does instead"), so a long match earns a 16-row batch, a medium one a 4-row
    batch, and a short one nothing (a plain step). Each tier keeps a running estimate of the
    tokens it gains per unit of cost and is dropped for the rest of the answer when it stops
    paying.
    """

    long_match: int = 8
    short_match: int = 3
    smoothing: float = 0.25
    gain: dict[int, float] = field(default_factory=lambda: {16: 1.8, 4: 1.15})

    def batch(self, match: int) -> int:
        """Rows of the next verification batch (1 = no draft)."""
        if match >= self.long_match and self.gain[16] >= 1.0:
            return 16
        if match >= self.short_match and self.gain[4] >= 1.0:
            return 4
        return 1

    def update(self, rows: int, accepted: int) -> None:
        if rows in self.gain:
            observed = (1 + accepted) / BATCH_COST[rows]
            self.gain[rows] += self.smoothing * (observed - self.gain[rows])


@dataclass
class SpeculativeStats:
    steps: int = 0  # batches decoded after the prompt
    drafted: int = 0
    accepted: int = 0

    @property
    def acceptance(self) -> float | None:
        return self.accepted / self.drafted if self.drafted else None


def speculative_decode(
    target: Target,
    prompt_tokens: Sequence[int],
    first_token: int,
    *,
    policy: DraftPolicy | None = None,
    drafter: PromptLookupDrafter | None = None,
    stats: SpeculativeStats | None = None,
    limit: Callable[[], int] | None = None,
) -> Iterator[int]:
    """Yield the answer's tokens, starting with ``first_token`` (already sampled from the prompt).

    ``limit()`` says how many more tokens may still be wanted after the ones yielded, so no
    draft runs past ``max_tokens`` (nor, since the caller checked prompt + max_tokens, past
    the context). The caller stops whenever it likes (end of generation, a stop string,
    cancel) by closing the generator; the target's evaluated tokens stay consistent.
    """
    policy = policy or DraftPolicy()
    drafter = drafter or PromptLookupDrafter(prompt_tokens)
    stats = stats if stats is not None else SpeculativeStats()
    token = first_token
    while True:
        yield token
        drafter.extend((token,))
        room = limit() if limit is not None else 1 << 30
        draft, match = drafter.draft(max(BATCH_COST) - 1)
        rows = policy.batch(match)
        # `room` counts the token fed now; drafting past it would be wasted work.
        draft = draft[: min(rows, room) - 1] if rows > 1 else []
        target.decode([token, *draft])
        stats.steps += 1
        accepted = 0
        sampled: list[int] = []
        for row in range(len(draft) + 1):
            token = target.sample(row)
            sampled.append(token)
            if row < len(draft) and token == draft[row]:
                accepted += 1
                continue
            break
        if draft:
            # The fed token and the drafts that matched are context now; the rest is not.
            target.rewind(target.n_tokens - (len(draft) - accepted))
            policy.update(rows, accepted)
            stats.drafted += len(draft)
            stats.accepted += accepted
        # Every sampled token but the last was a verified draft token; the last is the next
        # token to feed (the correction, or the bonus token after a fully accepted draft).
        for verified in sampled[:-1]:
            yield verified
            drafter.extend((verified,))
        token = sampled[-1]
