"""The three paths `qwen-magic bench` times, each measured the same way from the outside.

For every path the clock starts when the request is made (the call, or ``run_cell``) and
stops when text becomes visible to the consumer: the chunk loop for raw llama-cpp-python, a
sink for ``qwen_magic.generate``, the display publisher for the ``%%qwen`` magic. So the
product's own work — templating, threads, queues, throttled display updates — is inside
the numbers, not beside them.

This is a benchmark harness, the one place outside providers/local that touches
``llama_cpp`` (the raw baseline) and outside notebook/ and widgets/ that touches IPython (the
shell). It uses the product only through public names.
"""

from __future__ import annotations

import json
import threading
import time
import weakref
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ..api import generate
from ..options import CONTINUE, NO_INSERT, OPTIONS, OUT, GenerationConfig, ModelConfig, sampling_values
from ..providers import engine_hooks
from ..providers.base import GenerationRequest, PromptRead, Provider
from ..result import GenerationResult
from ..streaming import BaseSink, ThrottledSink

if TYPE_CHECKING:
    from IPython.core.interactiveshell import InteractiveShell

#: The user variable ``%%qwen --out`` stores each benchmarked cell's GenerationResult in.
RESULT_VARIABLE = "qwen_bench_result"


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


def decode_rate(tokens: int, first: float | None, last: float | None) -> float | None:
    """Tokens per second between the first and the last text (the first token is the prompt's)."""
    if first is None or last is None or tokens < 2 or last <= first:
        return None
    return (tokens - 1) / (last - first)


class RawPath:
    """Plain llama-cpp-python: ``create_chat_completion(stream=True)`` in a loop."""

    name = "raw"

    def __init__(self, model_path: str, config: ModelConfig) -> None:
        Llama = engine_hooks.import_llama_cpp().Llama

        started = time.perf_counter()
        self.llm = Llama(**engine_hooks.llama_kwargs(model_path, config))
        self.load_s = time.perf_counter() - started

    def count(self, text: str) -> int:
        """Tokens in ``text`` by the model's own tokenizer (how prompts are cut to a budget)."""
        return len(self.llm.tokenize(text.encode("utf-8"), add_bos=False, special=False))

    def reset(self) -> None:
        self.llm.reset()

    def run(self, request: GenerationRequest, prompt_tokens: Sequence[int]) -> Sample:
        """The loop runs in a fresh thread, as the product's does (TokenStreamer's worker).

        llama.cpp's OpenMP runtime keeps one thread team per calling thread, and a process
        that decodes from its main thread *and* from other threads decodes slower in the
        latter (docs/performance.md). Giving both paths the same kind of thread keeps that
        artifact of sharing one process out of the ratios.
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
        reused = min(engine_hooks.shared_prefix(engine_hooks.raw_cached_tokens(llm), list(prompt_tokens)),
                     len(prompt_tokens) - 1)
        started = time.perf_counter()
        first = last = None
        parts: list[str] = []
        finish = "stop"
        # Every sampling setting of the product's request, under its own name (they are
        # create_chat_completion's keywords too), so both paths sample alike.
        chunks = llm.create_chat_completion(
            messages=request.messages, **sampling_values(cfg), stream=True)
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
        tokens = cfg.max_tokens if finish == "length" else self.count(text)
        return Sample(self.name, (first or time.perf_counter()) - started, tokens,
                      len(prompt_tokens), len(prompt_tokens) - reused,
                      decode_rate(tokens, first, last), text, finish)


class TimingSink(BaseSink):
    """Notes when the first and the last text reached the API's caller."""

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


def speculative_stats(result: GenerationResult) -> dict[str, int]:
    """``drafted``/``accepted``/``steps`` of the answer, if it was decoded speculatively.

    The provider records them in ``result.provenance["speculative"]`` (the fields of
    :class:`qwen_magic.providers.local.speculative.SpeculativeStats`) only when speculative decoding ran.
    """
    spec = result.provenance.get("speculative")
    if not isinstance(spec, dict):
        return {}
    return {key: spec[key] for key in ("drafted", "accepted", "steps") if key in spec}


def sample_from_result(path: str, result: GenerationResult, started: float,
                       first: float | None, last: float | None) -> Sample:
    sample = Sample(
        path, (first or time.perf_counter()) - started, result.completion_tokens,
        result.prompt_tokens, result.prompt_tokens - result.reused_tokens,
        decode_rate(result.completion_tokens, first, last), result.text, result.finish_reason,
    )
    sample.extra.update(speculative_stats(result))
    return sample


class ApiPath:
    """``qwen_magic.generate`` with a sink: the TokenStreamer and the local provider."""

    def __init__(self, provider: Provider, name: str = "api") -> None:
        self.provider, self.name = provider, name

    def run(self, prompt: str, config: GenerationConfig) -> Sample:
        sink = TimingSink()
        started = time.perf_counter()
        result = generate(prompt, config=config, provider=self.provider, sinks=[sink])
        return sample_from_result(self.name, result, started, sink.first, sink.last)


def is_answer(plain: str) -> bool:
    """Whether a display update shows answer text, not a "⏳" status line."""
    return bool(plain) and not plain.startswith("⏳")


def sink_name(sink: object) -> str:
    """A sink and the ones it passes text on to: ``"ThrottledSink(NotebookSink)"``."""
    name = type(sink).__name__
    return f"{name}({sink_name(sink.inner)})" if isinstance(sink, ThrottledSink) else name


class RecordingPublisher:
    """A display publisher that does what a kernel's does per update — serialise the bundle —
    and notes when answer text (not a "⏳" status line) reached it.

    Outside a kernel IPython's own publisher prints text/plain; a kernel's JSON-encodes the
    bundle for ZMQ. The latter is the notebook cost this benchmark means to include.
    """

    #: IPython asks it while showing a traceback (a failing cell: the fix section's).
    is_publishing = False

    def __init__(self) -> None:
        self.events: list[tuple[float, str]] = []
        self.bytes = 0
        #: Whether answer text ever reached this publisher (``events`` is cleared per request).
        self.showed_answer = False

    def publish(self, data: dict[str, Any], metadata: Any = None, source: Any = None, *,
                transient: Any = None, update: bool = False, **kwargs: Any) -> None:
        message = json.dumps({"data": data, "metadata": metadata or {},
                              "transient": transient or {}, "update": update})
        self.bytes += len(message)
        plain = data.get("text/plain", "")
        self.events.append((time.perf_counter(), plain))
        self.showed_answer = self.showed_answer or is_answer(plain)

    def clear_output(self, wait: bool = False) -> None:
        pass

    def answer_times(self) -> tuple[float | None, float | None, int]:
        times = [t for t, plain in self.events if is_answer(plain)]
        if not times:
            return None, None, 0
        return times[0], times[-1], len(times)


def load_magics(shell: InteractiveShell, publisher: RecordingPublisher, config: ModelConfig) -> Any:
    """``%load_ext qwen_magic`` in ``shell``, its displays going to ``publisher``; the magics,
    once the model they load in the background is loaded.

    The magics get ``config``'s model settings, so they share the one model of the other paths.
    """
    shell.display_pub = publisher
    shell.run_line_magic("config", f"QwenMagics.n_ctx = {config.n_ctx}")
    shell.run_line_magic("config", f"QwenMagics.n_threads = {config.n_threads}")
    extensions = shell.extension_manager
    assert extensions is not None  # InteractiveShell.__init__ makes it
    extensions.load_extension("qwen_magic")
    magics = shell.magics_manager.registry["QwenMagics"]
    magics.wait_for_preload(lambda message: None)
    return magics


class MagicPath:
    """``%%qwen`` in a real IPython InteractiveShell, its live display path active.

    A plain InteractiveShell is not a terminal, so the magic takes the notebook route
    (NotebookSink behind a ThrottledSink) exactly as in a kernel; the publisher is swapped for
    :class:`RecordingPublisher` so the updates are serialised and timed instead of printed.
    """

    name = "magic"

    def __init__(self, config: ModelConfig) -> None:
        # IPython only when the bench runs: `qwen-magic --help` imports this package too.
        from IPython.core.interactiveshell import InteractiveShell

        self.shell = InteractiveShell.instance()
        self.publisher = RecordingPublisher()
        self.magics = load_magics(self.shell, self.publisher, config)

    def sink_kind(self) -> str:
        """Which sinks carried the magic's answers (the benchmark asserts the notebook ones).

        The magics' public ``last_output`` names the sinks of the last cell; the publisher
        says whether answer text (not only a status line) reached the display through them.
        """
        output = self.magics.last_output
        if output is None or not self.publisher.showed_answer:
            return "none (no answer text was displayed)"
        return sink_name(output.sink)

    def run(self, prompt: str, config: GenerationConfig, *, follow_up: bool = False) -> Sample:
        options = " ".join(f"{OPTIONS[name].long_flag} {value}"
                           for name, value in sampling_values(config).items())
        options += f" {NO_INSERT.long_flag} {OUT.long_flag} {RESULT_VARIABLE}"
        if follow_up:
            options += f" {CONTINUE.long_flag}"
        self.publisher.events.clear()
        started = time.perf_counter()
        outcome = self.shell.run_cell(f"%%qwen {options}\n{prompt}", store_history=False)
        if not outcome.success:
            raise RuntimeError(f"%%qwen failed: {outcome.error_in_exec or outcome.error_before_exec}")
        first, last, updates = self.publisher.answer_times()
        result: GenerationResult = self.shell.user_ns[RESULT_VARIABLE]
        sample = sample_from_result(self.name, result, started, first, last)
        sample.extra["display_updates"] = updates
        return sample


class LoadWatch:
    """Counts the product's model loads from public state: every load makes a new LoadedModel.

    Sampled after each request, so a reload shows as a LoadedModel not seen before. Held by
    weak reference: a model the product dropped must be freed, and its ``id`` may be reused.
    """

    def __init__(self) -> None:
        self._seen: list[weakref.ref[Any]] = []
        self.sample()

    def sample(self) -> None:
        for model in engine_hooks.loaded_models():
            if not any(ref() is model for ref in self._seen):
                self._seen.append(weakref.ref(model))

    @property
    def loads(self) -> int:
        return len(self._seen)
