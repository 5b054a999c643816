"""Prompt-lookup speculative decoding: draft tokens copied from the prompt, verified in one batch.

Why it can win on a CPU: llama.cpp reads a batch of tokens far faster per token than it
decodes one (the weights are streamed from memory once per batch), so checking a drafted
continuation of k tokens costs much less than k single-token steps. Edits ("add type hints
to this function") copy long runs of their input, so a draft looked up in the prompt is
often right.

Why llama-cpp-python's own ``LlamaPromptLookupDecoding`` loses (0.77x-0.97x measured):
a ``draft_model`` forces ``logits_all=True``, so every prompt token also goes through the
151,936-word output layer and every row of logits is copied into a numpy array — the prompt
read gets slower and each step copies ~600 KB per drafted token; it drafts a fixed 10 (or 4)
tokens after any 1-2 token match, taken from the *first* occurrence in the prompt, so many
drafts are rejected at their first token and the batch was paid for nothing.

This module keeps the logic free of llama.cpp (the unit tests drive it with a fake model):
:class:`PromptLookupDrafter` finds drafts, :class:`DraftBudget` sizes them from the
acceptance seen so far, and :func:`speculative_decode` runs draft → one batch → verify
against a :class:`Target` (the provider adapts ``llama_cpp.Llama`` to it). Verification
samples every row with the request's own sampler, in order, and stops at the first token
that differs from the draft, so the accepted tokens are exactly what plain decoding would
have sampled from the same logits — at temperature 0 the output can differ from plain
decoding only where batched and single-token matrix products round differently on a
near-tie (the benchmark reports how often that happens).
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


class PromptLookupDrafter:
    """Finds where the text being written already appears, and proposes what followed it.

    Every n-gram (``min_ngram``..``max_ngram`` tokens) of the prompt and of the answer so far
    is indexed by the position right after it, newest occurrence winning: the newest copy is
    the one an edit is most likely walking through. The longest n-gram that matches the end
    of the history decides; a 1-token match is too weak a signal to be worth a batch.
    """

    def __init__(self, tokens: Sequence[int], *, min_ngram: int = 2, max_ngram: int = 4) -> None:
        self.min_ngram, self.max_ngram = min_ngram, max_ngram
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

    def draft(self, k: int) -> list[int]:
        """Up to ``k`` tokens that followed the longest earlier match of the history's tail."""
        if k <= 0:
            return []
        history = self.history
        for n in range(min(self.max_ngram, len(history)), self.min_ngram - 1, -1):
            start = self._index.get(tuple(history[-n:]))
            if start is not None:
                return history[start:start + k]
        return []


@dataclass
class DraftBudget:
    """How many tokens to draft next, from what was accepted so far.

    A batch of ``k + 1`` tokens costs about ``1 + batch_cost * k`` single-token steps on this
    CPU (measured, see docs/performance.md), and a draft token survives with probability
    ``rate`` (an estimate kept as a running average, starting optimistic because a prompt
    lookup only fires on a real n-gram match). The draft length chosen maximises expected
    tokens per unit of cost; when even the best length is expected to lose to plain decoding,
    nothing is drafted and the step is an ordinary one-token decode.
    """

    max_draft: int = 16
    batch_cost: float = 0.1
    rate: float = 0.7
    smoothing: float = 0.3
    proposed: int = field(default=0, init=False)
    accepted: int = field(default=0, init=False)

    def length(self) -> int:
        best_k, best_gain = 0, 1.0  # tokens per unit cost of a plain step
        expected, p = 1.0, 1.0
        for k in range(1, self.max_draft + 1):
            p *= self.rate
            expected += p  # a draft's i-th token counts only if all before it survived
            gain = expected / (1.0 + self.batch_cost * k)
            if gain > best_gain:
                best_k, best_gain = k, gain
        return best_k

    def update(self, drafted: int, accepted: int) -> None:
        """Record that ``accepted`` of ``drafted`` tokens matched (they are taken in order)."""
        if drafted <= 0:
            return
        self.proposed += drafted
        self.accepted += accepted
        # A draft stops at its first wrong token, so per-token survival is estimated from the
        # tokens actually tested: `accepted` successes and at most one failure.
        tested = accepted + (1 if accepted < drafted else 0)
        observed = accepted / tested if tested else self.rate
        self.rate += self.smoothing * (observed - self.rate)
        # Never collapse completely: a later copy of a long block should be found again.
        self.rate = min(0.97, max(0.05, self.rate))


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
    n_past: int,
    budget: DraftBudget | None = None,
    drafter: PromptLookupDrafter | None = None,
    stats: SpeculativeStats | None = None,
    limit: Callable[[], int] | None = None,
) -> Iterator[int]:
    """Yield the answer's tokens, starting with ``first_token`` (already sampled from the prompt).

    ``n_past`` is how many tokens the target has evaluated (the prompt); ``limit()`` says how
    many more tokens may still be wanted, so no draft runs past ``max_tokens`` or the context.
    The caller stops whenever it likes (end of generation, a stop string, cancel) by closing
    the generator; the target's state then still matches the tokens it has evaluated.
    """
    budget = budget or DraftBudget()
    drafter = drafter or PromptLookupDrafter(prompt_tokens)
    stats = stats if stats is not None else SpeculativeStats()
    token = first_token
    while True:
        yield token
        drafter.extend((token,))
        room = limit() if limit is not None else budget.max_draft + 1
        # `room` counts the token being decoded now; drafts beyond it would be wasted work.
        draft = drafter.draft(min(budget.length(), room - 1)) if room > 1 else []
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
        n_past += 1 + accepted  # the fed token and the drafts that matched are now context
        if draft:
            target.rewind(n_past)
            budget.update(len(draft), accepted)
            stats.drafted += len(draft)
            stats.accepted += accepted
        # Every sampled token but the last was a verified draft token; the last is the next
        # token to feed (the correction, or the bonus token after a fully accepted draft).
        for verified in sampled[:-1]:
            yield verified
            drafter.extend((verified,))
        token = sampled[-1]
