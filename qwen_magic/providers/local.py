"""QwenLocalProvider: the GGUF model on this machine, through llama-cpp-python.

The prompt is built with the chat template stored in the model's own metadata (Jinja,
rendered by llama-cpp-python's formatter), tokenized once, checked against the context
window, and decoded with ``Llama.generate`` — the same token loop that
``create_chat_completion`` runs, minus its per-token re-detokenization of the whole answer.
``Llama.generate`` reuses the longest common prefix with the previous prompt, which is why
the stable parts of a prompt (system prompt, notebook context) always come first.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

from ..config import GenerationConfig, ModelConfig
from ..errors import ContextOverflowError
from ..loader import GgufModelLoader, LoadedModel
from .base import Finished, GenerationRequest, PromptRead, StreamEvent, TextDelta


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
        hold = max((k for s in self.stops for k in range(1, len(s)) if self.pending.endswith(s[:k])),
                   default=0)
        out = self.pending[: len(self.pending) - hold]
        self.pending = self.pending[len(out):]
        return out, False

    def flush(self) -> str:
        out, self.pending = self.pending, ""
        return out


def _longest_prefix(a: Any, b: list[int]) -> int:
    n = 0
    for x, y in zip(a, b):
        if x != y:
            break
        n += 1
    return n


class QwenLocalProvider:
    """Streams from the process-wide cached model; loading happens on first use."""

    name = "local"

    def __init__(self, loader: GgufModelLoader | None = None) -> None:
        self.loader = loader or GgufModelLoader(ModelConfig())
        self._formatter: Any = None
        self._formatter_for: int | None = None

    @property
    def model(self) -> LoadedModel:
        return self.loader.load()

    def _format(self, model: LoadedModel, messages: list[dict[str, str]]) -> str:
        if self._formatter is None or self._formatter_for != id(model.llama):
            from llama_cpp.llama_chat_format import Jinja2ChatFormatter

            llama = model.llama
            template = model.info.chat_template
            if not template:  # every Qwen2.5 GGUF carries one; ChatML is its format anyway
                template = _CHATML
            eos = llama._model.token_get_text(llama.token_eos())
            bos_id = llama.token_bos()
            bos = llama._model.token_get_text(bos_id) if bos_id >= 0 else ""
            self._formatter = Jinja2ChatFormatter(template, eos_token=eos, bos_token=bos)
            self._formatter_for = id(model.llama)
        return self._formatter(messages=messages).prompt

    def tokenize(self, request: GenerationRequest) -> list[int]:
        model = self.model
        prompt = self._format(model, request.messages)
        return model.llama.tokenize(prompt.encode("utf-8"), add_bos=False, special=True)

    def stream(self, request: GenerationRequest, cancel: threading.Event) -> Iterator[StreamEvent]:
        model = self.model
        with model.lock:  # one generation at a time on the shared llama context
            yield from self._stream_locked(model, request, cancel)

    def _stream_locked(
        self, model: LoadedModel, request: GenerationRequest, cancel: threading.Event
    ) -> Iterator[StreamEvent]:
        llama, config = model.llama, request.config
        tokens = self.tokenize(request)
        n_ctx = llama.n_ctx()
        if len(tokens) + config.max_tokens > n_ctx:
            raise ContextOverflowError(
                f"The prompt is {len(tokens):,} tokens and max_tokens is {config.max_tokens:,}: "
                f"together more than the {n_ctx:,}-token context. Shorten the prompt or "
                "--context, lower --max-tokens, or raise n_ctx (`%config QwenMagics.n_ctx`)."
            )
        reused = _longest_prefix(llama.input_ids[: llama.n_tokens], tokens)
        yield PromptRead(len(tokens), min(reused, len(tokens) - 1))
        if cancel.is_set():
            return
        yield from self._decode(llama, tokens, config, cancel)

    def _decode(
        self, llama: Any, tokens: list[int], config: GenerationConfig, cancel: threading.Event
    ) -> Iterator[StreamEvent]:
        import llama_cpp

        seed = config.seed if config.seed is not None else _random_seed()
        llama.set_seed(seed)
        vocab = llama._model.vocab
        stops = StopMatcher(config.stop)
        generated = 0
        generator = llama.generate(
            tokens,
            top_k=config.top_k,
            top_p=config.top_p,
            min_p=config.min_p,
            temp=config.temperature,
            repeat_penalty=config.repeat_penalty,
        )
        finish = "length"
        try:
            for token in generator:
                if llama_cpp.llama_vocab_is_eog(vocab, token):
                    finish = "stop"
                    break
                generated += 1
                piece = llama.detokenize([token])
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
        yield Finished(finish, generated)

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
