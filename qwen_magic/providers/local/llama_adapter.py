"""The one module that reaches inside llama-cpp-python.

The local provider needs a few things ``llama_cpp.Llama``'s public API does not offer: copy
out and put back the KV cells of one sequence (the prefix-state cache), decode a batch with
logits for every row without copying them into ``Llama.scores`` and sample any row of it
(speculative decoding), the vocabulary text of a special token (the chat template's BOS/EOS)
and llama.cpp's own end-of-generation test. They are built here, on ``Llama``'s private
members (``_ctx``, ``_model``, ``_batch``, ``_init_sampler``, ``_requires_eval``), its
bookkeeping (``input_ids``, ``n_tokens``) and the C API (``llama_state_seq_*``,
``llama_vocab_is_eog``) — as llama-cpp-python keeps its own C calls in ``_internals.py``.
Everything else in qwen-magic goes through :class:`LlamaAdapter`, so an upgrade of
llama-cpp-python (written against 0.3.36) is checked here and nowhere else; a unit test
(tests/unit/test_llama_adapter.py) keeps it that way.

The bookkeeping rule every method keeps: ``Llama.input_ids[:n_tokens]`` is the library's
record of what its KV cache holds (``Llama.generate`` compares the next prompt against it to
keep the common prefix), so every change to the KV cells made here updates it too; and
``Llama._requires_eval`` says whether the logits in the context belong to the last of those
tokens (``generate`` samples a fully cached prompt at once only when they do).
"""

from __future__ import annotations

import ctypes
from collections.abc import Callable, Generator, Sequence
from typing import Any


def _llama_cpp() -> Any:
    """The ``llama_cpp`` module, already imported by whoever created the ``Llama``."""
    import llama_cpp

    return llama_cpp


class Sampler:
    """llama.cpp's sampler chain for one answer (seeded by ``Llama.set_seed``).

    :meth:`sample` reads the logits of one row of the last decode; sampling also *accepts*
    the token, which advances the chain's state (penalties, the random draw), so rows must
    be sampled in the order their tokens are emitted.
    """

    def __init__(self, llama: Any, chain: Any) -> None:
        self._llama, self._chain = llama, chain

    def sample(self, row: int = -1) -> int:
        """The token that follows row ``row`` of the last decode (-1: its last row)."""
        return self._chain.sample(self._llama._ctx, row)


class LlamaAdapter:
    """One ``llama_cpp.Llama`` through the operations qwen-magic needs, nothing more.

    Stateless: every method reads or changes the ``Llama`` itself, so any number of adapters
    of one model agree. The caller holds the model's lock (``LoadedModel.lock``) for
    anything that changes the state. It is a
    :class:`qwen_magic.providers.local.prefix_cache.StateAccess` (:meth:`tokens`,
    :meth:`truncate`, :meth:`snapshot`, :meth:`restore`), and :meth:`speculative_target`
    gives the :class:`qwen_magic.providers.local.speculative.Target` of one answer.
    """

    def __init__(self, llama: Any) -> None:
        self.llama = llama

    # -- sizes --------------------------------------------------------------------------------

    @property
    def n_ctx(self) -> int:
        """The context window in tokens."""
        return int(self.llama.n_ctx())

    @property
    def n_batch(self) -> int:
        """The widest batch ``Llama``'s batch buffer holds."""
        return int(self.llama.n_batch)

    # -- text and tokens ----------------------------------------------------------------------

    def tokenize(self, text: str) -> list[int]:
        """A rendered chat prompt as tokens: special tokens parsed, no BOS added."""
        return list(self.llama.tokenize(text.encode("utf-8"), add_bos=False, special=True))

    def token_bytes(self, token: int) -> bytes:
        """What ``token`` adds to the answer (may be part of a multi-byte character)."""
        return bytes(self.llama.detokenize([token]))

    def token_text(self, token: int) -> str:
        """The vocabulary's text of ``token``, e.g. ``<|im_end|>`` for a special token."""
        return str(self.llama._model.token_get_text(token))

    @property
    def bos_text(self) -> str:
        """The BOS token's text, or "" for a model without one (Qwen2.5)."""
        bos = self.llama.token_bos()
        return self.token_text(bos) if bos >= 0 else ""

    @property
    def eos_text(self) -> str:
        return self.token_text(self.llama.token_eos())

    def is_end_of_generation(self, token: int) -> bool:
        """llama.cpp's own test: EOS, EOT (``<|im_end|>``, ``<|endoftext|>``) and the like."""
        return bool(_llama_cpp().llama_vocab_is_eog(self.llama._model.vocab, token))

    def chat_formatter(self, template: str) -> Callable[[list[dict[str, str]]], str]:
        """Messages → prompt text with the Jinja chat ``template`` (the model's metadata
        carries it), as ``create_chat_completion`` renders it, BOS/EOS texts included."""
        from llama_cpp.llama_chat_format import Jinja2ChatFormatter

        # Typed for OpenAI's message dicts; ours are plain {"role", "content"} dicts.
        formatter: Any = Jinja2ChatFormatter(template, eos_token=self.eos_text, bos_token=self.bos_text)
        return lambda messages: str(formatter(messages=messages).prompt)

    # -- the live KV state of sequence 0 (prefix_cache.StateAccess) ------------------------------

    @property
    def n_tokens(self) -> int:
        """How many tokens are evaluated (their KV cells are live)."""
        return int(self.llama.n_tokens)

    def tokens(self) -> list[int]:
        """The evaluated tokens, in order."""
        return list(self.llama.input_ids[: self.llama.n_tokens].tolist())

    def truncate(self, n_tokens: int) -> None:
        """Forget every evaluated token after the first ``n_tokens`` (no-op if fewer are live)."""
        llama = self.llama
        if n_tokens < llama.n_tokens:
            llama._ctx.kv_cache_seq_rm(0, n_tokens, -1)
            llama.n_tokens = n_tokens
            llama._requires_eval = True  # the logits in the context are not for the new end

    def snapshot(self) -> Any:
        """A copy of sequence 0's KV cells (``len()`` is its size in bytes), or None."""
        llama_cpp = _llama_cpp()
        ctx = self.llama._ctx.ctx
        size = llama_cpp.llama_state_seq_get_size(ctx, 0)
        buffer = (ctypes.c_uint8 * size)()
        written = llama_cpp.llama_state_seq_get_data(ctx, buffer, size, 0)
        return buffer if written == size else None

    def restore(self, tokens: Sequence[int], state: Any) -> bool:
        """Make ``state`` (a :meth:`snapshot` taken when ``tokens`` were live) live again.

        False if llama.cpp refused it; then nothing is live.
        """
        llama_cpp = _llama_cpp()
        llama = self.llama
        if llama_cpp.llama_state_seq_set_data(llama._ctx.ctx, state, len(state), 0) == 0:
            llama.reset()  # llama.cpp cleared the sequence on failure: nothing is live
            llama._ctx.kv_cache_seq_rm(0, 0, -1)
            return False
        llama.input_ids[: len(tokens)] = tokens
        llama.n_tokens = len(tokens)
        llama._requires_eval = True  # a snapshot holds KV cells, not logits
        return True

    # -- reading and decoding -------------------------------------------------------------------

    def eval(self, tokens: Sequence[int]) -> None:
        """``Llama.eval``: ``tokens`` after the live ones, in batches of at most
        :attr:`n_batch`, logits for the last token of each batch only."""
        self.llama.eval(tokens)

    def decode_batch(self, tokens: Sequence[int]) -> None:
        """Evaluate ``tokens`` after the live ones in ONE batch, with logits for every row.

        The rows stay in llama.cpp's context for :meth:`Sampler.sample` (no copy into
        ``Llama.scores``). ``len(tokens)`` must not exceed :attr:`n_batch`.
        """
        llama = self.llama
        n_past = llama.n_tokens
        llama._batch.set_batch(batch=tokens, n_past=n_past, logits_all=True)
        llama._ctx.decode(llama._batch)
        llama.input_ids[n_past:n_past + len(tokens)] = tokens
        llama.n_tokens = n_past + len(tokens)
        llama._requires_eval = False

    # -- sampling -------------------------------------------------------------------------------

    def set_seed(self, seed: int) -> None:
        """The seed of the next :meth:`generate` or :meth:`new_sampler`."""
        self.llama.set_seed(seed)

    def generate(self, tokens: Sequence[int], **sampling: Any) -> Generator[int, None, None]:
        """``Llama.generate``: keeps the longest common prefix of the live tokens and
        ``tokens``, reads the rest, then yields sampled tokens until closed. ``sampling``
        are its keyword arguments (``top_k``, ``temp``, ...)."""
        return self.llama.generate(tokens, **sampling)

    def new_sampler(self, **sampling: Any) -> Sampler:
        """The sampler chain :meth:`generate` would build from the same keyword arguments."""
        return Sampler(self.llama, self.llama._init_sampler(**sampling))

    def speculative_target(self, sampler: Sampler) -> SpeculativeTarget:
        return SpeculativeTarget(self, sampler)


class SpeculativeTarget:
    """One answer's model as a :class:`qwen_magic.providers.local.speculative.Target`:
    draft batches decoded with logits on every row, sampled in place by ``sampler``."""

    def __init__(self, adapter: LlamaAdapter, sampler: Sampler) -> None:
        self.adapter, self.sampler = adapter, sampler

    def decode(self, tokens: Sequence[int]) -> None:
        self.adapter.decode_batch(tokens)

    def sample(self, row: int) -> int:
        return self.sampler.sample(row)

    def rewind(self, n_tokens: int) -> None:
        self.adapter.truncate(n_tokens)

    @property
    def n_tokens(self) -> int:
        return self.adapter.n_tokens


def system_info() -> str:
    """llama.cpp's build and CPU features (``llama_print_system_info``), for the bench report.

    Imports ``llama_cpp`` through the loader, so that the OpenMP setting applies.
    """
    from .models import import_llama_cpp

    return str(import_llama_cpp().llama_print_system_info().decode("utf-8", "replace").strip())


__all__ = ["LlamaAdapter", "Sampler", "SpeculativeTarget", "system_info"]
