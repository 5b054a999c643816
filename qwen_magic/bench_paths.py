"""The three paths `qwen-magic bench` times, each measured the same way from the outside.

For every path the clock starts when the request is made (the call, or ``run_cell``) and
stops when text becomes visible to the consumer: the chunk loop for raw llama-cpp-python, a
sink for ``qwen_magic.generate``, the display publisher for the ``%%qwen`` magic. So the
product's own work — templating, threads, queues, throttled display updates — is inside
the numbers, not beside them.

This is a benchmark harness, the one place outside loader/providers that touches
``llama_cpp`` (the raw baseline) and outside the magics that touches IPython (the shell).
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from .config import GenerationConfig, ModelConfig
from .prefix_cache import common_prefix
from .providers.base import GenerationRequest, PromptRead
from .streaming import BaseSink, GenerationResult


@dataclass
class Sample:
    """One request on one path."""

    path: str
    ttft_s: float
    completion_tokens: int
    prompt_tokens: int
    new_prompt_tokens: int  # read for this request (the rest was reused)
    decode_tok_s: float | None
    text: str
    finish_reason: str
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def prompt_tok_s(self) -> float | None:
        if self.new_prompt_tokens <= 0 or self.ttft_s <= 0:
            return None
        return self.new_prompt_tokens / self.ttft_s


def _decode_rate(tokens: int, first: float | None, last: float | None) -> float | None:
    if first is None or last is None or tokens < 2 or last <= first:
        return None
    return (tokens - 1) / (last - first)


class RawPath:
    """Plain llama-cpp-python: ``create_chat_completion(stream=True)`` in a loop."""

    name = "raw"

    def __init__(self, model_path: str, config: ModelConfig) -> None:
        from .loader import import_llama_cpp, llama_kwargs

        Llama = import_llama_cpp().Llama

        started = time.perf_counter()
        self.llm = Llama(**llama_kwargs(_as_path(model_path), config))
        self.load_s = time.perf_counter() - started

    def reset(self) -> None:
        self.llm.reset()

    def run(self, request: GenerationRequest, prompt_tokens: Sequence[int]) -> Sample:
        """The loop runs in a fresh thread, as the product's does (TokenStreamer's worker).

        llama.cpp's OpenMP runtime keeps one thread team per calling thread, and a process
        that decodes from its main thread *and* from other threads decodes ~30% slower in
        the latter (measured: 39 → 28 tok/s). Giving both paths the same kind of thread keeps
        that artifact of sharing one process out of the ratios.
        """
        box: list[Any] = []

        def work() -> None:
            try:
                box.append(self._run(request, prompt_tokens))
            except BaseException as exc:  # re-raised in the caller's thread
                box.append(exc)

        worker = threading.Thread(target=work, name="bench-raw", daemon=True)
        worker.start()
        worker.join()
        if isinstance(box[0], BaseException):
            raise box[0]
        return box[0]

    def _run(self, request: GenerationRequest, prompt_tokens: Sequence[int]) -> Sample:
        llm, cfg = self.llm, request.config
        reused = min(common_prefix(llm.input_ids[: llm.n_tokens].tolist(), prompt_tokens),
                     len(prompt_tokens) - 1)
        started = time.perf_counter()
        first = last = None
        parts: list[str] = []
        finish = "stop"
        chunks = llm.create_chat_completion(
            messages=request.messages, temperature=cfg.temperature, top_p=cfg.top_p,
            top_k=cfg.top_k, min_p=cfg.min_p, repeat_penalty=cfg.repeat_penalty,
            max_tokens=cfg.max_tokens, seed=cfg.seed, stream=True,
        )
        for chunk in chunks:
            choice = chunk["choices"][0]
            content = choice["delta"].get("content")
            if content:
                last = time.perf_counter()
                first = first if first is not None else last
                parts.append(content)
            if choice.get("finish_reason"):
                finish = choice["finish_reason"]
        text = "".join(parts)
        tokens = cfg.max_tokens if finish == "length" else len(
            llm.tokenize(text.encode("utf-8"), add_bos=False, special=False))
        return Sample(self.name, (first or time.perf_counter()) - started, tokens,
                      len(prompt_tokens), len(prompt_tokens) - reused,
                      _decode_rate(tokens, first, last), text, finish)


class _TimingSink(BaseSink):
    def __init__(self) -> None:
        self.first: float | None = None
        self.last: float | None = None
        self.prompt: PromptRead | None = None

    def on_prompt(self, event: PromptRead) -> None:
        self.prompt = event

    def on_text(self, delta: str, text: str) -> None:
        self.last = time.perf_counter()
        if self.first is None:
            self.first = self.last


def _from_result(path: str, result: GenerationResult, started: float,
                 first: float | None, last: float | None) -> Sample:
    return Sample(
        path, (first or time.perf_counter()) - started, result.completion_tokens,
        result.prompt_tokens, result.prompt_tokens - result.reused_tokens,
        _decode_rate(result.completion_tokens, first, last), result.text, result.finish_reason,
    )


class ApiPath:
    """``qwen_magic.generate`` with a sink: the TokenStreamer and the local provider."""

    def __init__(self, name: str = "api") -> None:
        self.name = name

    def run(self, prompt: str, config: GenerationConfig) -> Sample:
        from . import generate

        sink = _TimingSink()
        started = time.perf_counter()
        result = generate(prompt, config=config, sinks=[sink])
        sample = _from_result(self.name, result, started, sink.first, sink.last)
        stats = _provider_stats()
        if stats is not None and config.speculative != "off":
            sample.extra.update(stats)
        return sample


def _provider_stats() -> dict[str, Any] | None:
    from .engine import get_provider

    spec = getattr(get_provider(), "last_speculative", None)
    if spec is None:
        return None
    return {"drafted": spec.drafted, "accepted": spec.accepted, "steps": spec.steps}


class RecordingPublisher:
    """A display publisher that does what a kernel's does per update — serialise the bundle —
    and notes when answer text (not a "⏳" status line) reached it.

    Outside a kernel IPython's own publisher prints text/plain; a kernel's JSON-encodes the
    bundle for ZMQ. The latter is the notebook cost this benchmark means to include.
    """

    def __init__(self) -> None:
        self.events: list[tuple[float, str]] = []
        self.bytes = 0

    def publish(self, data: dict[str, Any], metadata: Any = None, source: Any = None, *,
                transient: Any = None, update: bool = False, **kwargs: Any) -> None:
        message = json.dumps({"data": data, "metadata": metadata or {},
                              "transient": transient or {}, "update": update})
        self.bytes += len(message)
        self.events.append((time.perf_counter(), data.get("text/plain", "")))

    def clear_output(self, wait: bool = False) -> None:
        pass

    def answer_times(self) -> tuple[float | None, float | None, int]:
        times = [t for t, plain in self.events if plain and not plain.startswith("⏳")]
        if not times:
            return None, None, 0
        return times[0], times[-1], len(times)


class MagicPath:
    """``%%qwen`` in a real IPython InteractiveShell, its live display path active.

    A plain InteractiveShell is not a terminal, so the magic takes the notebook route
    (NotebookSink behind a ThrottledSink) exactly as in a kernel; the publisher is swapped for
    :class:`RecordingPublisher` so the updates are serialised and timed instead of printed.
    """

    name = "magic"

    def __init__(self) -> None:
        from IPython.core.interactiveshell import InteractiveShell

        self.shell = InteractiveShell.instance()
        self.publisher = RecordingPublisher()
        self.shell.display_pub = self.publisher
        self.shell.run_line_magic("load_ext", "qwen_magic")
        from .magics import _registered

        self.magics = _registered[id(self.shell)]
        self.magics.wait_for_preload(lambda message: None)
        from .engine import get_provider

        get_provider().loader.load()  # the preloaded model (a load error is raised here)

    def sink_kind(self) -> str:
        """Which sink the magic streams to here (the benchmark asserts it is the notebook one)."""
        sink, _ = self.magics._output("markdown", _NoArgs())
        inner = getattr(sink, "inner", None)
        return f"{type(sink).__name__}({type(inner).__name__})" if inner else type(sink).__name__

    def run(self, prompt: str, config: GenerationConfig) -> Sample:
        options = (f"-t {config.temperature} --seed {config.seed} -n {config.max_tokens} "
                   f"--top-p {config.top_p} --top-k {config.top_k} --min-p {config.min_p} "
                   f"--repeat-penalty {config.repeat_penalty} --no-insert")
        self.publisher.events.clear()
        started = time.perf_counter()
        outcome = self.shell.run_cell(f"%%qwen {options}\n{prompt}", store_history=False)
        if not outcome.success:
            raise RuntimeError(f"%%qwen failed: {outcome.error_in_exec or outcome.error_before_exec}")
        first, last, updates = self.publisher.answer_times()
        result: GenerationResult = self.shell.user_ns["_qwen"]
        sample = _from_result(self.name, result, started, first, last)
        sample.extra["display_updates"] = updates
        return sample


class _NoArgs:
    no_footer = False


def _as_path(path: str) -> Any:
    from pathlib import Path

    return Path(path)
