"""Fill-in-the-middle on the local model: what ``qwen_magic.complete`` and prefill run.

A completion is greedy (a suggestion should be the model's best guess, and the same guess
for the same text) and short; it shares the one llama context with the chat requests, so
it runs under the model's lock and goes through the same prefix-state cache — which keeps a
snapshot of the notebook context when a ``%%qwen`` cell reads another prompt, and restores
it for the next completion.
"""

from __future__ import annotations

import codecs
import threading
from collections.abc import Callable

from ...completion import STOP_MARKERS, Completion, CompletionRequest, Suggestion, fim_prompt
from ...errors import ContextOverflowError
from .llama_adapter import LlamaAdapter
from .prefix_cache import PrefixStateCache

#: Tokens per batch when prefilling: a cell that starts executing waits at most one batch
#: (about 0.2 s on two cores) before it has the CPU back.
PREFILL_CHUNK = 32

# Greedy, with nothing that would change the model's own ranking of tokens.
GREEDY = dict(top_k=1, top_p=1.0, min_p=0.0, temp=0.0, repeat_penalty=1.0)


def complete(llama: LlamaAdapter, cache: PrefixStateCache, request: CompletionRequest,
             cancel: threading.Event, on_text: Callable[[str], None]) -> Completion:
    """Fill the hole of ``request``; ``on_text`` gets each piece of the suggestion as shown.

    Call with the model's lock held.
    """
    suggestion = Suggestion(request, on_text)
    tokens = llama.tokenize(fim_prompt(request))
    if len(tokens) + request.max_tokens > llama.n_ctx:
        raise ContextOverflowError(
            f"The completion prompt is {len(tokens):,} tokens, more than the "
            f"{llama.n_ctx:,}-token context allows with {request.max_tokens} new ones: lower "
            "QwenMagics.completion_context_tokens or raise QwenMagics.n_ctx."
        )
    reused = min(cache.prepare(llama, tokens), len(tokens) - 1)
    decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
    generated, finish = 0, "length"
    if cancel.is_set():
        return suggestion.finish("cancelled", len(tokens), reused)
    generator = llama.generate(tokens, **GREEDY)
    try:
        for token in generator:
            if llama.is_end_of_generation(token) or llama.token_text(token) in STOP_MARKERS:
                finish = "stop"
                break
            generated += 1
            suggestion.feed(decoder.decode(llama.token_bytes(token)))
            if suggestion.done:
                finish = "stop"
                break
            if cancel.is_set():
                finish = "cancelled"
                break
            if generated >= request.max_tokens:
                break
    finally:
        generator.close()
    return suggestion.finish(finish, len(tokens), reused, generated)


def prefill(llama: LlamaAdapter, cache: PrefixStateCache, text: str,
            cancel: threading.Event, chunk: int = PREFILL_CHUNK) -> int:
    """Read ``text`` (the start of the next completion's prompt) into the KV cache.

    Reads in small batches and stops between two of them when ``cancel`` is set; what was
    read stays, so the next completion reads only the rest. Returns the tokens now live.
    Call with the model's lock held.
    """
    tokens = llama.tokenize(text)
    if len(tokens) >= llama.n_ctx:
        return 0
    keep = cache.prepare(llama, tokens)
    llama.truncate(keep)
    for start in range(keep, len(tokens), chunk):
        if cancel.is_set():
            break
        llama.eval(tokens[start:start + chunk])
    return llama.n_tokens
