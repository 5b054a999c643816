"""KV states of several prompt prefixes, kept in RAM so that alternating contexts stay fast.

One ``llama_cpp.Llama`` reuses the longest common prefix of *consecutive* prompts. When the
panel and a cell (or two notebooks) alternate between two long contexts, each switch would
read the whole context again (seconds). This cache snapshots the state of the prompt that is
about to be discarded and restores the best snapshot for the next prompt.

Why not llama-cpp-python's ``LlamaRAMCache`` + ``save_state``: a ``LlamaState`` carries a copy
of ``Llama.scores`` (``n_batch x n_vocab`` float32 rows), and ``load_state`` writes it back
over the whole buffer, so each cached prompt costs hundreds of MB of RSS. Here only the
sequence's KV cells are copied (``llama_state_seq_get_data``): a few MB, restored in
milliseconds. The figures are in docs/performance.md, "Reuse across cells".

The class only needs the small surface of :class:`StateAccess`, so the unit tests drive it
with a fake; :class:`~qwen_magic.providers.local.llama_adapter.LlamaAdapter` is the real
``Llama``'s.

It also keeps the bookkeeping behind ``deterministic`` requests. llama.cpp's logits for a
token depend, in their last bits, on the batch it was read in: a warm request that reads
only its last tokens can word a greedy answer differently from the same request read cold.
A deterministic read therefore reads its prompt in chunks that start at multiples of
``align`` tokens, and reuses only the chunks that an earlier deterministic read computed the
same way — its :attr:`PrefixStateCache.aligned` prefix — so warm and cold agree.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol


class StateAccess(Protocol):
    """The model's live token sequence and its KV state, seen from the cache."""

    def tokens(self) -> Sequence[int]:
        """The tokens whose KV state is live now (in order)."""
        ...

    def truncate(self, n_tokens: int) -> None:
        """Drop the live state after the first ``n_tokens``."""
        ...

    def snapshot(self) -> Any:
        """A copy of the live state (an object with ``len()`` giving its size in bytes)."""
        ...

    def restore(self, tokens: Sequence[int], state: Any) -> bool:
        """Make ``state`` (taken when ``tokens`` were live) the live state again."""
        ...


def common_prefix(a: Sequence[int], b: Sequence[int]) -> int:
    n = 0
    for x, y in zip(a, b, strict=False):
        if x != y:
            break
        n += 1
    return n


@dataclass
class _Entry:
    tokens: tuple[int, ...]
    state: Any
    size: int
    aligned: int  # how many leading tokens were read in aligned chunks (see module doc)


def aligned_reuse(live: int, aligned: int, prompt_len: int, align: int) -> int:
    """How much of a live prefix a deterministic read may keep.

    Only tokens read in aligned chunks count (``aligned``), cut to a chunk boundary, and never
    the chunk holding the prompt's last token: that one is always read whole, as cold.
    """
    last_chunk = (prompt_len - 1) // align * align
    return min(live, aligned, last_chunk) // align * align


@dataclass
class PrefixStats:
    saves: int = 0
    restores: int = 0
    restored_tokens: int = 0
    evictions: int = 0


class PrefixStateCache:
    """LRU snapshots of prompt states within ``budget_bytes``.

    Only prompt prefixes are kept: the answer that followed a prompt is never the start of a
    later prompt (cells are built as system prompt + notebook context + request), so a
    snapshot is cut at the end of the prompt that produced it. A snapshot is taken only when
    the next prompt would throw away at least ``min_tokens`` of it — the cost of re-reading
    that many tokens is what the few milliseconds of copying save.
    """

    def __init__(self, budget_bytes: int, *, min_tokens: int = 128) -> None:
        self.budget_bytes = budget_bytes
        self.min_tokens = min_tokens
        self._entries: OrderedDict[tuple[int, ...], _Entry] = OrderedDict()
        self._prompt_len = 0  # length of the prompt behind the live state
        self.aligned = 0  # leading live tokens read in aligned chunks (deterministic reads)
        self.stats = PrefixStats()

    @property
    def size_bytes(self) -> int:
        return sum(e.size for e in self._entries.values())

    def __len__(self) -> int:
        return len(self._entries)

    def clear(self) -> None:
        self._entries.clear()
        self._prompt_len = 0
        self.aligned = 0

    def prepare(self, model: StateAccess, prompt: Sequence[int], *, align: int | None = None) -> int:
        """Get the model ready to read ``prompt``; returns how many of its tokens to keep.

        Call before evaluating ``prompt``, with the model's lock held. The caller reads the
        rest from the returned position. With ``align`` (a deterministic read) the returned
        position is a multiple of ``align`` and the caller must read from it in chunks of
        ``align`` tokens, the last chunk included; without it, reading from there in any
        chunks is fine, and the aligned prefix ends where that read starts.
        """
        live_tokens = model.tokens()
        live = common_prefix(live_tokens, prompt)
        prompt_part = min(self._prompt_len, len(live_tokens))
        if self.budget_bytes > 0 and prompt_part - live >= self.min_tokens:
            # The live prompt is about to be overwritten past `live`: keep it for a return.
            model.truncate(prompt_part)
            self._save(model, tuple(live_tokens[:prompt_part]))
        # Looked up after saving, which may have evicted; what was just saved shares only
        # `live` tokens with this prompt, so it is never the one restored.
        best, best_len = self._best(prompt)
        restored = live
        # Restoring copies a few MB; reading even a few dozen tokens costs far more.
        if best is not None and best_len > live + 16:
            restored = 0  # a failed restore leaves nothing live
            if model.restore(best.tokens, best.state):
                self.aligned = best.aligned
                self._entries.move_to_end(best.tokens)
                self.stats.restores += 1
                self.stats.restored_tokens += best_len
                restored = best_len
        self._prompt_len = len(prompt)
        if align is None:
            self.aligned = min(self.aligned, restored)
            return restored
        keep = aligned_reuse(restored, self.aligned, len(prompt), align)
        self.aligned = (len(prompt) - 1) // align * align  # the chunks before the last one
        return keep

    def _best(self, prompt: Sequence[int]) -> tuple[_Entry | None, int]:
        best, best_len = None, 0
        for entry in self._entries.values():
            n = common_prefix(entry.tokens, prompt)
            if n > best_len:
                best, best_len = entry, n
        return best, best_len

    def _save(self, model: StateAccess, tokens: tuple[int, ...]) -> None:
        # Snapshots that differ only in a short tail (the same context with another request at
        # its end) serve the same future prompts: keep one, the newest, and copy nothing when
        # an existing one already covers this prompt (the usual case after a restore).
        for key in list(self._entries):
            shared = common_prefix(key, tokens)
            if shared >= len(tokens) - self.min_tokens:
                self._entries.move_to_end(key)
                return
            if shared >= len(key) - self.min_tokens:
                del self._entries[key]
        state = model.snapshot()
        if state is None:
            return
        entry = _Entry(tokens, state, len(state), min(self.aligned, len(tokens)))
        if entry.size > self.budget_bytes:
            return
        self._entries[tokens] = entry
        self.stats.saves += 1
        while self.size_bytes > self.budget_bytes:
            self._entries.popitem(last=False)
            self.stats.evictions += 1
