"""PrefixStateCache against a fake model state: what is saved, restored, evicted, and why."""

from __future__ import annotations

from collections.abc import Sequence

from qwen_magic.providers.local.prefix_cache import PrefixStateCache, common_prefix

BYTES_PER_TOKEN = 10


class FakeModel:
    """The live tokens and a "KV state" that is just their copy (10 bytes a token)."""

    def __init__(self) -> None:
        self.live: list[int] = []
        self.snapshots = 0
        self.fail_restore = False

    def tokens(self) -> list[int]:
        return list(self.live)

    def truncate(self, n_tokens: int) -> None:
        del self.live[n_tokens:]

    def snapshot(self) -> bytes:
        self.snapshots += 1
        return bytes(BYTES_PER_TOKEN * len(self.live))

    def restore(self, tokens: Sequence[int], state: bytes) -> bool:
        if self.fail_restore:
            self.live = []
            return False
        assert len(state) == BYTES_PER_TOKEN * len(tokens)
        self.live = list(tokens)
        return True

    def read(self, cache: PrefixStateCache, prompt: list[int], answer: int = 20) -> int:
        """What the provider does: prepare, evaluate the rest of the prompt, then answer."""
        reused = cache.prepare(self, prompt)
        keep = common_prefix(self.live, prompt)
        self.live = prompt[:] + [-1] * answer
        return min(reused, keep)


def context(tag: int, n: int = 1000) -> list[int]:
    return [tag * 100_000 + i for i in range(n)]


SYSTEM = list(range(-50, 0))


def prompt(ctx: list[int], question: int) -> list[int]:
    return SYSTEM + ctx + [question, question + 1]


def test_alternating_contexts_are_restored_on_return() -> None:
    cache, model = PrefixStateCache(10**6), FakeModel()
    a, b = context(1), context(2)
    assert model.read(cache, prompt(a, 1)) == 0
    assert model.read(cache, prompt(b, 1)) == len(SYSTEM)  # only the system prompt is shared
    assert model.read(cache, prompt(a, 7)) == len(SYSTEM) + len(a)  # A comes back whole
    assert model.read(cache, prompt(b, 9)) == len(SYSTEM) + len(b)
    assert cache.stats.restores == 2


def test_same_context_keeps_one_snapshot_and_copies_nothing_again() -> None:
    cache, model = PrefixStateCache(10**6), FakeModel()
    a, b = context(1), context(2)
    for question in range(5):
        model.read(cache, prompt(a, question * 10))
        model.read(cache, prompt(b, question * 10))
    assert len(cache) == 2
    # Two snapshots when each context is first left; later switches find them covered.
    assert model.snapshots == 2


def test_short_discards_are_not_worth_a_snapshot() -> None:
    cache, model = PrefixStateCache(10**6, min_tokens=128), FakeModel()
    model.read(cache, SYSTEM + [1, 2, 3])
    model.read(cache, SYSTEM + [4, 5, 6])
    assert model.snapshots == 0 and len(cache) == 0


def test_budget_evicts_the_least_recently_used() -> None:
    one = (len(SYSTEM) + 1002) * BYTES_PER_TOKEN
    cache, model = PrefixStateCache(2 * one + 100), FakeModel()
    contexts = [context(k) for k in range(1, 5)]
    for k, ctx in enumerate(contexts):
        model.read(cache, prompt(ctx, k))
    assert len(cache) == 2 and cache.size_bytes <= cache.budget_bytes
    assert cache.stats.evictions == 1
    # The oldest (context 1) is gone: reading it again starts from the system prompt.
    assert model.read(cache, prompt(contexts[0], 50)) == len(SYSTEM)
    # Context 4 was saved when context 1 took its place, and survives the next save.
    assert model.read(cache, prompt(contexts[3], 50)) == len(SYSTEM) + 1000


def test_zero_budget_disables_the_cache() -> None:
    cache, model = PrefixStateCache(0), FakeModel()
    model.read(cache, prompt(context(1), 1))
    model.read(cache, prompt(context(2), 1))
    assert model.snapshots == 0 and len(cache) == 0


def test_a_failed_restore_falls_back_to_reading_the_prompt() -> None:
    cache, model = PrefixStateCache(10**6), FakeModel()
    a, b = context(1), context(2)
    model.read(cache, prompt(a, 1))
    model.read(cache, prompt(b, 1))
    model.fail_restore = True
    assert model.read(cache, prompt(a, 2)) == 0
    assert cache.stats.restores == 0


def test_snapshot_is_cut_at_the_end_of_the_prompt() -> None:
    cache, model = PrefixStateCache(10**6), FakeModel()
    a = prompt(context(1), 1)
    model.read(cache, a, answer=500)  # a long answer follows the prompt
    model.read(cache, prompt(context(2), 1))
    (entry,) = cache._entries.values()
    assert entry.tokens == tuple(a) and entry.size == len(a) * BYTES_PER_TOKEN
