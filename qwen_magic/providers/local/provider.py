"""QwenLocalProvider: the GGUF model on this machine, through llama-cpp-python.

The prompt is built with the chat template stored in the model's own metadata (Jinja,
rendered by llama-cpp-python's formatter), tokenized once, checked against the context
window, and decoded with ``Llama.generate`` — the same token loop that
``create_chat_completion`` runs, minus its per-token re-detokenization of the whole answer.
``Llama.generate`` reuses the longest common prefix with the previous prompt, which is why
the stable parts of a prompt (system prompt, notebook context) always come first.

This module is the request path; it sees the model only through
:class:`~qwen_magic.providers.local.llama_adapter.LlamaAdapter`, the one module that touches
llama-cpp-python's internals.
"""

from __future__ import annotations

import dataclasses
import threading
import weakref
from collections.abc import Callable, Iterator
from typing import Any

from ...completion import Completion, CompletionRequest
from ...config import GenerationConfig, ModelConfig
from ...errors import ContextOverflowError, QwenMagicError
from ..base import Finished, GenerationRequest, LoadedInfo, PromptRead, StreamEvent, TextDelta
from ..status import LocalModelStatus, ProviderStatus, completion_line
from . import fim, models
from .llama_adapter import LlamaAdapter
from .models import GgufModelLoader, LoadedModel
from .prefix_cache import PrefixStateCache, common_prefix
from .speculative import DraftPolicy, PromptLookupDrafter, SpeculativeStats, speculative_decode


class StopMatcher:
    """Finds stop strings in streamed text, holding back what might be the start of one."""

    def __init__(self, stops: tuple[str, ...]) -> None:
        self.stops = stops
        self.pending = ""

    def feed(self, text: str) -> tuple[str, bool]:
        """Returns (text safe to show, whether a stop string was hit)."""
        if not self.stops:
            return text, False
        self.pending += text
        hits = [self.pending.index(s) for s in self.stops if s in self.pending]
        if hits:
            out, self.pending = self.pending[: min(hits)], ""
            return out, True
        hold = max((k for s in self.stops for k in range(1, len(s))
                    if self.pending.endswith(s[:k])), default=0)
        out = self.pending[: len(self.pending) - hold]
        self.pending = self.pending[len(out):]
        return out, False

    def flush(self) -> str:
        out, self.pending = self.pending, ""
        return out


class QwenLocalProvider:
    """Streams from the process-wide cached model; loading happens on first use."""

    name = "local"
    #: It reads ``answer_start`` as the beginning of the answer (after the chat template's
    #: assistant header) and goes on from there.
    continues_answers = True

    def __init__(self, loader: GgufModelLoader | None = None) -> None:
        self.loader = loader or GgufModelLoader(ModelConfig())
        self._formatter: Callable[[list[dict[str, str]]], str] | None = None
        self._formatter_for: int | None = None

    @property
    def model(self) -> LoadedModel:
        return self.loader.load()

    def _format(self, model: LoadedModel, messages: list[dict[str, str]]) -> str:
        if self._formatter is None or self._formatter_for != id(model.llama):
            template = model.info.chat_template
            if not template:  # every Qwen2.5 GGUF carries one; ChatML is its format anyway
                template = _CHATML
            self._formatter = LlamaAdapter(model.llama).chat_formatter(template)
            self._formatter_for = id(model.llama)
        return self._formatter(messages)

    def tokenize(self, request: GenerationRequest) -> list[int]:
        model = self.model
        text = self._format(model, request.messages) + request.answer_start
        return LlamaAdapter(model.llama).tokenize(text)

    # -- loading (providers.base.LoadsModel) ----------------------------------------------

    @property
    def model_config(self) -> ModelConfig:
        return self.loader.config

    def load(self) -> LoadedInfo:
        model = self.loader.load()
        return LoadedInfo(model.path.name, model.config.n_ctx, model.config.n_threads,
                          model.load_seconds)

    def is_loaded(self) -> bool:
        return self.loader.cached() is not None

    def is_busy(self) -> bool:  # ServesOneAtATime
        model = self.loader.cached()
        return model is not None and model.generating

    def unload(self) -> bool:
        return models.unload()

    # -- status (providers.base.ReportsStatus, Completes) ---------------------------------

    def status(self, *, check: bool = False) -> ProviderStatus:
        loader = self.loader
        model = loader.cached()
        path = model.path if model is not None else loader.resolve()
        try:
            size_mb: float | None = round(path.stat().st_size / 1024**2, 1)
        except OSError:
            size_mb = None
        config = model.config if model is not None else loader.config
        try:
            info = loader.validate(path)  # the header, read once per file and remembered
            memory_mb: int | None = models.required_memory(info, config.n_ctx) // 1024**2
        except QwenMagicError:  # not a model it could load: the load says why
            memory_mb = None
        local = LocalModelStatus(
            path=path, size_mb=size_mb, loaded=model is not None, loading=False,
            n_ctx=config.n_ctx, n_threads=config.n_threads,
            load_seconds=model.load_seconds if model is not None else None,
            busy=bool(model is not None and model.generating), memory_mb=memory_mb,
        )
        how = "fill in the middle on this model, in this kernel"
        return ProviderStatus(self.name, local=local, completion=completion_line(None, how))

    def completion_problem(self, *, check: bool = False) -> str | None:
        return None  # the model's own FIM tokens, read here

    def complete(self, request: CompletionRequest, cancel: threading.Event,
                 on_text: Callable[[str], None]) -> Completion:
        """Fill-in-the-middle at a cursor (:mod:`.fim`); cancellable within one token."""
        model = self.model
        if not model.acquire_for_background(cancel):
            return Completion("", "cancelled")
        try:
            return fim.complete(LlamaAdapter(model.llama), self._cache(model), request, cancel,
                                on_text)
        finally:
            model.release_background()

    def prefill(self, text: str, cancel: threading.Event) -> int:
        """Read ``text``, the start of the next prompt, while nothing else runs."""
        model = self.model
        if not model.acquire_for_background(cancel):
            return 0
        try:
            return fim.prefill(LlamaAdapter(model.llama), self._cache(model), text, cancel)
        finally:
            model.release_background()

    def prefill_request(self, request: GenerationRequest, upto: str,
                        cancel: threading.Event) -> int:
        """Read the start of ``request``'s prompt, up to where its text ``upto`` begins."""
        text = self._format(self.model, request.messages)
        end = text.find(upto)
        return self.prefill(text[:end], cancel) if end > 0 else 0

    def _cache(self, model: LoadedModel) -> PrefixStateCache:
        return prefix_cache_for(model.llama, self.loader.config.prefix_cache_mb)

    def stream(self, request: GenerationRequest, cancel: threading.Event) -> Iterator[StreamEvent]:
        model = self.model
        with model.generation_turn():  # one generation at a time on the shared llama context
            yield from self._stream_locked(model, request, cancel)

    def _stream_locked(
        self, model: LoadedModel, request: GenerationRequest, cancel: threading.Event
    ) -> Iterator[StreamEvent]:
        llama, config = LlamaAdapter(model.llama), request.config
        tokens = self.tokenize(request)
        n_ctx = llama.n_ctx
        if len(tokens) + config.max_tokens > n_ctx:
            raise ContextOverflowError(
                f"The prompt is {len(tokens):,} tokens and max_tokens is {config.max_tokens:,}: "
                f"together more than the {n_ctx:,}-token context. Shorten the prompt or "
                "--context, lower --max-tokens, or raise n_ctx (`%config QwenMagics.n_ctx`)."
            )
        cache = prefix_cache_for(model.llama, self.loader.config.prefix_cache_mb)
        if config.deterministic:
            chunk = deterministic_chunk(llama.n_batch)
            reused = cache.prepare(llama, tokens, align=chunk)
            yield PromptRead(len(tokens), reused)
            read_aligned_head(llama, tokens, reused, chunk)
        else:
            reused = cache.prepare(llama, tokens)
            yield PromptRead(len(tokens), min(reused, len(tokens) - 1))
        if cancel.is_set():
            return
        if use_speculative(config, request):
            yield from self._decode_speculative(llama, tokens, config, cancel)
        else:
            yield from self._decode(llama, tokens, config, cancel)

    def _decode(
        self, llama: LlamaAdapter, tokens: list[int], config: GenerationConfig, cancel: threading.Event
    ) -> Iterator[StreamEvent]:
        seed = config.seed if config.seed is not None else _random_seed()
        llama.set_seed(seed)
        generator = llama.generate(tokens, **sampling(config))
        yield from self._emit(llama, generator, config, cancel)

    def _decode_speculative(
        self, llama: LlamaAdapter, tokens: list[int], config: GenerationConfig, cancel: threading.Event
    ) -> Iterator[StreamEvent]:
        """Prompt-lookup drafts verified in one batch each (see :mod:`.speculative`).

        The prompt is read exactly as ``Llama.generate`` reads it (longest common prefix kept,
        logits only for the last token, so the first token comes as soon as on the plain
        path); only the answer is decoded in verified batches.
        """
        seed = config.seed if config.seed is not None else _random_seed()
        llama.set_seed(seed)
        sampler = llama.new_sampler(**sampling(config))
        # Keep at least one prompt token to evaluate: its logits give the first answer token.
        keep = min(common_prefix(llama.tokens(), tokens), len(tokens) - 1)
        llama.truncate(keep)
        llama.eval(tokens[keep:])
        first = sampler.sample(-1)
        target = llama.speculative_target(sampler)
        stats = SpeculativeStats()
        state = {"emitted": 0}
        generator = speculative_decode(
            target, tokens, first, policy=DraftPolicy(),
            drafter=PromptLookupDrafter(tokens), stats=stats,
            # Never past max_tokens, nor wider than llama's batch buffer (n_batch tokens).
            limit=lambda: min(config.max_tokens - state["emitted"], llama.n_batch),
        )
        yield from self._emit(llama, generator, config, cancel, state, speculative=stats)

    def _emit(
        self,
        llama: LlamaAdapter,
        generator: Any,
        config: GenerationConfig,
        cancel: threading.Event,
        counter: dict[str, int] | None = None,
        speculative: SpeculativeStats | None = None,
    ) -> Iterator[StreamEvent]:
        """Turn sampled tokens into events: end of generation, stop strings, max_tokens, cancel."""
        stops = StopMatcher(config.stop)
        generated = 0
        finish = "length"
        try:
            for token in generator:
                if llama.is_end_of_generation(token):
                    finish = "stop"
                    break
                generated += 1
                if counter is not None:
                    counter["emitted"] = generated
                piece = llama.token_bytes(token)
                # The streamer joins multi-byte characters split across tokens.
                text, hit = stops.feed(piece.decode("utf-8", errors="surrogateescape")) \
                    if config.stop else (piece, False)
                if text:
                    yield TextDelta(_as_bytes(text), tokens=1)
                else:
                    yield TextDelta(b"", tokens=1)
                if hit:
                    finish = "stop"
                    break
                if generated >= config.max_tokens or cancel.is_set():
                    break
        finally:
            generator.close()
        if cancel.is_set() and finish == "length" and generated < config.max_tokens:
            return  # stopped by the user: no Finished event, the streamer says "cancelled"
        tail = stops.flush()
        if tail:
            yield TextDelta(_as_bytes(tail), tokens=0)
        # How the answer was decoded is part of its provenance (and the bench's acceptance).
        details = {"speculative": dataclasses.asdict(speculative)} if speculative else {}
        yield Finished(finish, generated, provenance=details)

    def describe(self) -> dict[str, Any]:
        model = self.loader.cached()
        if model is None:
            return {"provider": self.name, "model": None}
        return {
            "provider": self.name,
            "model": model.path.name,
            "model_sha256": model.sha256[:16],
            "n_ctx": model.config.n_ctx,
            "n_threads": model.config.n_threads,
        }


# -- deterministic prompt reading --------------------------------------------------------

# Chunk of a deterministic prompt read: a warm deterministic request re-reads up to this many
# tokens more than a default one; small for that, yet read as fast as a whole n_batch
# (docs/reproducibility.md has the measurement).
DETERMINISTIC_CHUNK = 64


def deterministic_chunk(n_batch: int) -> int:
    """The chunk size of deterministic reads: never wider than llama's batch buffer."""
    return min(DETERMINISTIC_CHUNK, n_batch)


def read_aligned_head(llama: LlamaAdapter, tokens: list[int], keep: int, chunk: int) -> None:
    """Read ``tokens[keep:]`` up to the last chunk, one aligned chunk per batch.

    ``keep`` is a multiple of ``chunk`` (:meth:`PrefixStateCache.prepare` with ``align``), so
    each batch holds exactly the tokens a cold read would put in it. The last chunk — the one
    whose logits give the first answer token — is left for the decoder, which reads it in one
    batch too, because it is never wider than ``n_batch``.
    """
    llama.truncate(keep)
    last_chunk = (len(tokens) - 1) // chunk * chunk
    for start in range(keep, last_chunk, chunk):
        llama.eval(tokens[start:start + chunk])


# -- speculative decoding ------------------------------------------------------------------

# "auto" drafts only for greedy requests whose user message carries this much code to copy.
AUTO_MIN_CODE_CHARS = 200


def use_speculative(config: GenerationConfig, request: GenerationRequest) -> bool:
    """Whether to decode with prompt-lookup drafts (``GenerationConfig.speculative``).

    "auto" picks it where the benchmark shows it faster: greedy decoding (temperature 0) of a
    request that quotes code to rework — an edit copies long runs of its input.
    """
    if config.speculative != "auto":
        return config.speculative == "on"
    if config.temperature != 0:
        return False
    user = next((m["content"] for m in reversed(request.messages) if m.get("role") == "user"), "")
    # A --context cell puts the notebook first and the request last (prompting.compose_prompt).
    # Code in that context is not code the answer rewrites, and drafts from it lose
    # (docs/performance.md, "When it is on"): only the request itself counts.
    _, marker, request_part = user.rpartition("\n\nRequest: ")
    return _quoted_code_chars(request_part if marker else user) >= AUTO_MIN_CODE_CHARS


def _quoted_code_chars(text: str) -> int:
    """Characters inside ``` fences, or of indented/code-looking lines when there are none."""
    parts = text.split("```")
    if len(parts) >= 3:
        return sum(len(block) for block in parts[1::2])
    code_like = ("def ", "class ", "import ", "from ", "return ", "for ", "if ", "    ")
    return sum(len(line) for line in text.splitlines() if line.lstrip().startswith(code_like)
               or line.startswith("    "))


# -- prefix states ---------------------------------------------------------------------------

_prefix_caches: weakref.WeakKeyDictionary[Any, PrefixStateCache] = weakref.WeakKeyDictionary()
_prefix_lock = threading.Lock()


def sampling(config: GenerationConfig) -> dict[str, Any]:
    """llama-cpp-python's sampler arguments for ``config`` (plain and speculative paths)."""
    return dict(top_k=config.top_k, top_p=config.top_p, min_p=config.min_p,
                temp=config.temperature, repeat_penalty=config.repeat_penalty,
                presence_penalty=config.presence_penalty)


def prefix_cache_for(llama: Any, budget_mb: int) -> PrefixStateCache:
    """The prefix-state cache of one loaded model (its states belong to its context)."""
    with _prefix_lock:
        cache = _prefix_caches.get(llama)
        if cache is None:
            cache = _prefix_caches[llama] = PrefixStateCache(budget_mb * 1024**2)
        return cache


def _as_bytes(text: str | bytes) -> bytes:
    if isinstance(text, bytes):
        return text
    return text.encode("utf-8", errors="surrogateescape")


def _random_seed() -> int:
    import random

    return random.randrange(2**32)


_CHATML = (
    "{% for message in messages %}<|im_start|>{{ message['role'] }}\n{{ message['content'] }}"
    "<|im_end|>\n{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)
