"""The engine every front end shares: pick a provider, run one request, keep the result.

The magics, the panel, the CLI and the public ``generate``/``stream`` functions all come
through here, so they share one cached model, one validation path and one set of defaults.
"""

from __future__ import annotations

import dataclasses
import inspect
import queue
import random
import threading
import typing
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

from .catalog import CatalogEntry
from .checked import FixRules, check_and_repair, check_fix, unchecked_fix, until_a_fix
from .checking.examples import Example, extract_examples
from .completion import Completion, CompletionRequest
from .errors import ConfigError, QwenMagicError
from .fixing import fix_system_prompt
from .options import (
    CHARS_PER_TOKEN,
    COMPLETION_CONTEXT_TOKENS,
    COMPLETION_MAX_TOKENS,
    GENERATION,
    GenerationConfig,
    ModelConfig,
    check_names,
    on,
)
from .providers import registry
from .providers.base import (
    Completes,
    ContinuesAnswers,
    GenerationRequest,
    LoadedInfo,
    LoadsModel,
    PromptRead,
    Provider,
    ReadsAhead,
    ReportsStatus,
)
from .providers.registry import ProviderSettings
from .result import GenerationResult
from .streaming import BaseSink, Sink, TokenStreamer

#: The last finished result in this process (the magics also publish it as ``_qwen``).
last_result: GenerationResult | None = None


def get_provider(
    model: str | None = None,
    model_config: ModelConfig | None = None,
    *,
    provider: str | None = None,
    base_url: str | None = None,
    role: str = "chat",
) -> Provider:
    """The provider for one request; nothing is loaded or contacted here.

    ``provider`` names a registered provider (``providers.registry``): "local" (the GGUF at
    ``model``, a path, or the default model — or one that explains how to get it), "openai"
    (a server at ``base_url``, where ``model`` is the server's model name), or a plugin's.
    Unset, it is $QWEN_MAGIC_PROVIDER, except that an explicit ``base_url`` implies the
    provider that reads one ("openai"). ``role="completion"`` asks for the provider that
    completes as you type (the local one keeps that model in a context of its own).
    """
    if provider is not None:
        name = registry.entry(provider).name
    elif base_url:
        name = registry.owner_of("base_url")
    else:
        name = registry.default_name()
    return registry.create(name, ProviderSettings(model, model_config or ModelConfig(), base_url,
                                                  role))


def provider_names() -> tuple[str, ...]:
    """Every registered provider's name (the built-in ones, then plugins')."""
    return registry.names()


def provider_entry_name(name: str) -> str:
    """``name`` as registered (any case); ConfigError listing the providers otherwise."""
    return registry.entry(name).name


def provider_reading(option: str) -> str:
    """The provider a setting implies when given alone (``base_url`` → ``openai``)."""
    return registry.owner_of(option)


def provider_reads(name: str, option: str) -> bool:
    """Whether the provider ``name`` reads the setting ``option`` (``base_url``, ...)."""
    return option in registry.entry(name).options


def can_read_ahead(provider: Provider) -> bool:
    return isinstance(provider, ReadsAhead)


def check_base_url(url: str) -> str:
    """A server URL as the provider that reads it will use it; ConfigError if malformed."""
    return registry.check_base_url(url)


def sends_data_away(provider: Provider) -> bool:
    """Whether ``provider`` sends what it is given off this machine (a server's provider)."""
    try:
        return registry.entry(provider.name).remote
    except ConfigError:  # not registered (a test's fake): assume the cautious answer
        return True


def load_model(provider: Provider) -> LoadedInfo | None:
    """Load ``provider``'s model into this process now; None when it loads none here."""
    return provider.load() if isinstance(provider, LoadsModel) else None


def model_loaded(provider: Provider) -> bool:
    """Whether ``provider``'s model is ready to answer without a load in this process."""
    return not isinstance(provider, LoadsModel) or provider.is_loaded()


def unload_model(provider: Provider) -> bool:
    """Free ``provider``'s model, if it loads one here; whether something was loaded."""
    return isinstance(provider, LoadsModel) and provider.unload()


def prefill(provider: Provider, text: str, cancel: threading.Event | None = None) -> int:
    """Have ``provider`` read ``text`` ahead (the next completion's start), if it can and its
    model is loaded: reading ahead must never start a load. Returns the tokens now live."""
    if isinstance(provider, ReadsAhead) and model_loaded(provider):
        return provider.prefill(text, cancel or threading.Event())
    return 0


def prefill_request(provider: Provider, request: GenerationRequest, upto: str,
                    cancel: threading.Event | None = None) -> int:
    """Have ``provider`` read ``request``'s chat prompt up to ``upto``, if it can (as
    :func:`prefill`)."""
    if isinstance(provider, ReadsAhead) and model_loaded(provider):
        return provider.prefill_request(request, upto, cancel or threading.Event())
    return 0


def build_config(base: GenerationConfig | None = None, **options: Any) -> GenerationConfig:
    """Options on top of ``base``; ``None`` means "not given". Raises ConfigError."""
    return (base or GenerationConfig()).replace(**options)


def check_prompt(prompt: str) -> str:
    if not isinstance(prompt, str):
        raise ConfigError(f"The prompt must be text, got {type(prompt).__name__}.")
    if not prompt.strip():
        raise ConfigError(
            "The prompt is empty: say what the code should do, e.g. "
            "`%%qwen write a function that reverses a string`."
        )
    return prompt


def valid_text(text: str) -> str:
    """``text`` with lone surrogates replaced by U+FFFD, so that it can be encoded as UTF-8.

    They reach a prompt from ``{name}`` holding an undecodable file name (``surrogateescape``)
    or a JSON ``"\\ud800"``, and would otherwise fail deep in the tokenizer with a
    UnicodeEncodeError traceback instead of a generation.
    """
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        # UTF-16 joins valid surrogate pairs back into characters; "replace" marks the rest.
        return text.encode("utf-16", "surrogatepass").decode("utf-16", "replace")
    return text


def run(
    prompt: str,
    config: GenerationConfig,
    *,
    provider: Provider | None = None,
    sinks: Iterable[Sink] = (),
    cancel: threading.Event | None = None,
    messages: list[dict[str, str]] | None = None,
    examples: Sequence[Example] | None = None,
    answer_start: str = "",
) -> GenerationResult:
    """One request, streamed to ``sinks``. Returns even when cancelled (see finish_reason).

    ``answer_start`` is text the answer begins with, already written: the model goes on from
    it (a :class:`~.providers.base.ContinuesAnswers` provider only; ConfigError otherwise).
    The result's text includes it.

    With ``config.check`` the answer is then checked against ``examples`` (default: those
    in ``prompt``) and repaired (:mod:`.checked`); without it nothing is run, and nothing
    costs more than the answer.
    """
    global last_result
    prompt = valid_text(check_prompt(prompt))
    if config.system:
        config = config.replace(system=valid_text(config.system))
    if messages:
        messages = [{key: valid_text(value) for key, value in m.items()} for m in messages]
    if config.seed is None:
        # Pick the seed here rather than inside the provider so that the result (and the
        # provenance saved in a notebook) records the seed that really produced it.
        config = config.replace(seed=random.randrange(2**32))
    request = (
        GenerationRequest(messages, config) if messages else GenerationRequest.from_prompt(prompt, config)
    )
    provider = provider or get_provider()
    if answer_start:
        if not (isinstance(provider, ContinuesAnswers) and provider.continues_answers):
            raise ConfigError(f"The {provider.name} provider cannot continue an answer from a "
                              "given start.")
        request = dataclasses.replace(request, answer_start=valid_text(answer_start))
    if config.check:
        found = extract_examples(prompt) if examples is None else examples
        result = _run_checked(request, provider, list(sinks), cancel, found)
    else:
        result = TokenStreamer(provider, sinks, cancel=cancel).run(request)
    last_result = result
    return result


class _Unfinished(BaseSink):
    """Passes on all but ``on_finish``: under ``--check`` an answer is final only once checked."""

    def __init__(self, inner: Sink) -> None:
        self.inner = inner

    def on_prompt(self, event: PromptRead) -> None:
        self.inner.on_prompt(event)

    def on_text(self, delta: str, text: str) -> None:
        self.inner.on_text(delta, text)


def _run_checked(request: GenerationRequest, provider: Provider, sinks: list[Sink],
                 cancel: threading.Event | None, examples: Sequence[Example]) -> GenerationResult:
    """The answer, then its check and repairs, all streamed to ``sinks`` as they happen."""
    held = [_Unfinished(sink) for sink in sinks]

    def ask(messages: list[dict[str, str]], config: GenerationConfig) -> GenerationResult:
        return TokenStreamer(provider, held, cancel=cancel).run(GenerationRequest(messages, config))

    def say(message: str) -> None:
        for sink in sinks:
            sink.on_status(message)

    result = ask(request.messages, request.config)
    try:
        if result.finish_reason != "cancelled" and not result.interrupted:
            result = check_and_repair(result, request.messages, examples, ask, say=say)
    finally:
        say("")  # the progress lines go; the footer says how it ended
        for sink in sinks:
            sink.on_finish(result)
    return result


#: How a corrected cell's code block opens when the product starts it (``answer_with_code``).
CODE_START = "```python\n"


class _AfterShown(BaseSink):
    """Passes on a continued answer's text beyond what the sinks have already shown.

    The continuation's result text repeats the first part (its given start), which a sink
    that prints deltas (the terminal) must not print twice; one that redraws the whole text
    (a notebook output) sees the whole text as before.
    """

    def __init__(self, inner: Sink, shown: str) -> None:
        self.inner, self.sent = inner, len(shown.rstrip())

    def on_text(self, delta: str, text: str) -> None:
        if len(text) > self.sent:
            fresh, self.sent = text[self.sent:], len(text)
            self.inner.on_text(fresh, text)

    def on_status(self, message: str) -> None:
        self.inner.on_status(message)


def answer_with_code(
    prompt: str,
    config: GenerationConfig,
    *,
    provider: Provider | None = None,
    sinks: Iterable[Sink] = (),
    cancel: threading.Event | None = None,
    messages: list[dict[str, str]] | None = None,
) -> GenerationResult:
    """One answer that ends in a Python code block, whenever the model can give one.

    A small model often ends after its explanation (``%qwen fix``: the diagnosis) without the
    code it was asked for. Then the same answer is continued from its own text plus the
    opening of a code block, already in the assistant's turn (a provider that
    :class:`~.providers.base.ContinuesAnswers`; the local model reads only those few new
    tokens, its prompt being cached), so the code follows the diagnosis it belongs to. The
    sinks see one answer; the result is the whole of it.
    """
    sinks = list(sinks)
    provider = provider or get_provider()
    first = run(prompt, config, provider=provider, sinks=[_Unfinished(s) for s in sinks],
                cancel=cancel, messages=messages)
    can_continue = isinstance(provider, ContinuesAnswers) and provider.continues_answers
    if first.code.strip() or first.finish_reason != "stop" or first.interrupted or not can_continue:
        result = first
    else:
        start = first.text.rstrip() + "\n\n" + CODE_START
        second = run(prompt, config, provider=provider,
                     sinks=[_AfterShown(s, first.text) for s in sinks], cancel=cancel,
                     messages=messages, answer_start=start)
        result = dataclasses.replace(
            second, ttft_s=first.ttft_s, total_s=first.total_s + second.total_s,
            completion_tokens=first.completion_tokens + second.completion_tokens,
            prompt_tokens=first.prompt_tokens)
    for sink in sinks:
        sink.on_finish(result)
    return result


def fix_cell(
    prompt: str,
    config: GenerationConfig,
    rules: FixRules,
    *,
    check: bool = False,
    not_checked: str = "",
    provider: Provider | None = None,
    sinks: Iterable[Sink] = (),
    cancel: threading.Event | None = None,
) -> GenerationResult:
    """``%qwen fix``'s answer: a diagnosis and a corrected cell (:func:`answer_with_code`),
    chosen from each answer's text and judged by ``rules`` (:class:`.checked.FixRules`); an
    answer found no fix is asked for again (:func:`.checked.until_a_fix`).
    The plain fix is asked with its own system prompt unless the user set one
    (:func:`.fixing.fix_system_prompt`); ``--check`` with the configured one.

    With ``check`` the corrected cell runs in ``--check``'s separate process, never in the
    kernel, and is repaired or asked for afresh until one runs cleanly and a second answer
    prints the same (:func:`.checked.check_fix`); ``not_checked`` is the footer's line when
    the failed cell could not be run on its own ("not checked: reads notebook variables:
    df"). The result's :class:`~.result.FixOutcome` says whether to insert the cell and how
    it fared.
    """
    global last_result
    sinks = list(sinks)
    provider = provider or get_provider()
    held = [_Unfinished(sink) for sink in sinks]
    # Plain fix only: under the fix's own prompt --check's answers agreed on wrong cells more
    # often, and its agreement rule kept them (docs/performance.md).
    if not check:
        config = config.replace(system=fix_system_prompt(config.system))
    messages = GenerationRequest.from_prompt(valid_text(check_prompt(prompt)), config).messages

    def ask(turns: list[dict[str, str]], settings: GenerationConfig) -> GenerationResult:
        answer = answer_with_code(prompt, settings, provider=provider, sinks=held, cancel=cancel,
                                  messages=turns)
        if rules.choose_code is None:
            return answer
        return dataclasses.replace(answer, chosen_code=rules.choose_code(answer.text))

    def say(message: str) -> None:
        for sink in sinks:
            sink.on_status(message)

    result = ask(messages, config)
    if result.finish_reason != "cancelled" and not result.interrupted:
        if check:
            try:
                result, outcome = check_fix(result, messages, ask, rules.accept, say=say,
                                            not_runnable=rules.not_runnable,
                                            left_unrun=rules.left_unrun)
            finally:
                say("")
        else:
            try:
                result = until_a_fix(result, messages, ask, rules.accept, say=say)
            finally:
                say("")
            outcome = unchecked_fix(rules.accept(result.code), not_checked)
        result = dataclasses.replace(result, fix=outcome)
    for sink in sinks:
        sink.on_finish(result)
    last_result = result
    return result


def generate(
    prompt: str,
    *,
    model: str | None = None,
    config: GenerationConfig | None = None,
    provider: Provider | str | None = None,
    sinks: Iterable[Sink] = (),
    cancel: threading.Event | None = None,
    base_url: str | None = None,
    **options: Any,
) -> GenerationResult:
    """Generate an answer with the local model and return it whole.

    >>> result = qwen_magic.generate("write a function that reverses a string", temperature=0)
    >>> print(result.code)

    The generation options (listed below, and in the signature with their defaults) override
    ``config``'s; an option left out, or given as None, keeps ``config``'s value.

    ``provider="openai", base_url="http://host:8000/v1"`` asks an OpenAI-compatible server
    instead (``model`` is then the server's model name); see docs/remote-engines.md.

    ``deterministic=True`` gives the same text for the same request whatever ran before in
    this process (at temperature 0 or with a seed); by default a fresh process, or the same
    sequence of requests, gives the same texts. See docs/reproducibility.md.

    ``Ctrl-C`` stops the model within a token and re-raises KeyboardInterrupt; the partial
    answer stays in ``qwen_magic.api.last_result``.
    """
    check_names(options, on("api"), "qwen_magic.generate()")
    config = build_config(config, **options)
    if provider is None or isinstance(provider, str):
        provider = get_provider(model, provider=provider, base_url=base_url)
    result = run(prompt, config, provider=provider, sinks=sinks, cancel=cancel)
    if result.interrupted:
        raise KeyboardInterrupt
    return result


#: The generation options ``generate`` takes as keywords (its ``**options``).
_API_OPTIONS = on("api", GENERATION)


def _show_options() -> None:
    """Show the registry's options in ``generate``'s and ``stream``'s signatures and docs.

    ``**options`` alone would hide them from ``help()`` and Jupyter's Shift-Tab; this puts
    each back as a keyword with its default and type, after the prompt.
    """
    own = inspect.signature(generate, eval_str=True)
    hints = typing.get_type_hints(GenerationConfig)
    listed = [inspect.Parameter(spec.name, inspect.Parameter.KEYWORD_ONLY,
                                default=spec.default_value(), annotation=hints[spec.name])
              for spec in _API_OPTIONS]
    params = [p for p in own.parameters.values() if p.kind is not inspect.Parameter.VAR_KEYWORD]
    signature = own.replace(parameters=[params[0], *listed, *params[1:]])
    lines = "\n".join(f"    {spec.name}: {spec.describe('api')}" for spec in _API_OPTIONS)
    for function in (generate, stream):
        function.__doc__ = f"{inspect.cleandoc(function.__doc__ or '')}\n\nOptions:\n{lines}\n"
    generate.__signature__ = signature  # type: ignore[attr-defined]
    # stream() brings its own sinks and cancel event.
    stream.__signature__ = signature.replace(  # type: ignore[attr-defined]
        parameters=[p for p in signature.parameters.values() if p.name not in ("sinks", "cancel")],
        return_annotation=Iterator[str])


class _CallbackSink(BaseSink):
    def __init__(self, put: Callable[[str], None]) -> None:
        self.put = put

    def on_text(self, delta: str, text: str) -> None:
        self.put(delta)


def _pump(work: Callable[[Callable[[str], None], threading.Event], object],
          name: str) -> Iterator[str]:
    """Run ``work(put, cancel)`` in a thread and yield what it puts, as it puts it.

    Leaving the loop early sets ``cancel`` and waits for the thread; an exception in it is
    raised here, in the consumer's thread.
    """
    pieces: queue.SimpleQueue = queue.SimpleQueue()
    cancel = threading.Event()
    done = object()
    failure: list[BaseException] = []

    def run() -> None:
        try:
            work(pieces.put, cancel)
        except BaseException as exc:
            failure.append(exc)
        finally:
            pieces.put(done)

    worker = threading.Thread(target=run, name=name, daemon=True)
    worker.start()
    try:
        while (item := pieces.get()) is not done:
            yield item
    finally:
        cancel.set()
        worker.join()
    if failure:
        raise failure[0]


def stream(prompt: str, **options: Any) -> Iterator[str]:
    """Yield the answer's text chunks as they are generated.

    Leaving the loop early (``break``) stops the model; the cached model stays usable.
    Takes the keywords of :func:`generate`.
    """
    check_prompt(prompt)
    return _pump(lambda put, cancel: generate(prompt, sinks=[_CallbackSink(put)], cancel=cancel,
                                              **options), "qwen-magic-stream")


_show_options()


# -- completion as you type ------------------------------------------------------------------


def can_complete(provider: Provider) -> bool:
    """Whether ``provider`` fills in the middle at all (whether it can *now*:
    :func:`completion_problem`)."""
    return isinstance(provider, Completes)


def completion_problem(provider: Provider, *, check: bool = False) -> str | None:
    """Why ``provider`` cannot complete code now, or None when it can."""
    if not isinstance(provider, Completes):
        return f"the {provider.name} provider does not fill in the middle"
    return provider.completion_problem(check=check)


def complete_request(provider: Provider, request: CompletionRequest,
                     cancel: threading.Event | None = None,
                     on_text: Callable[[str], None] | None = None) -> Completion:
    """Fill-in-the-middle with ``provider``; ConfigError when it cannot."""
    if not isinstance(provider, Completes):
        raise ConfigError(
            f"Completion as you type needs a provider that fills in the middle; the "
            f"{provider.name} provider does not (the local model and OpenAI-compatible servers "
            "do: docs/remote-engines.md)."
        )
    return provider.complete(request, cancel or threading.Event(), on_text or (lambda _: None))


def complete(
    prefix: str,
    suffix: str = "",
    *,
    context_cells: Iterable[str] = (),
    max_tokens: int = COMPLETION_MAX_TOKENS.default,
    context_tokens: int = COMPLETION_CONTEXT_TOKENS.default,
    model: str | None = None,
    cancel: threading.Event | None = None,
    on_text: Callable[[str], None] | None = None,
    provider: Provider | str | None = None,
    base_url: str | None = None,
) -> Completion:
    """Complete code at a cursor: ``prefix`` is the text before it, ``suffix`` after it.

    >>> qwen_magic.complete("def fibonacci(n):\\n    ").text
    'if n < 2:\\n        return n\\n    return fibonacci(n - 1) + fibonacci(n - 2)'

    ``context_cells`` are earlier cells (oldest first), seen as the files before this one.
    The suggestion ends where an editor's would (the end of the line being written, or of the
    block), never repeats ``suffix``, and is greedy, so the same text gives the same answer.
    ``on_text`` receives it piece by piece as it is written; ``cancel`` stops it within a
    token.

    The provider is chosen as :func:`generate` chooses it: ``provider="openai",
    base_url="http://host:8000/v1"`` (or $QWEN_MAGIC_PROVIDER / $QWEN_MAGIC_BASE_URL) asks a
    server to fill in the middle (docs/remote-engines.md); ``model`` is then its model name.
    """
    request = CompletionRequest(prefix, suffix, context_cells=tuple(context_cells),
                                max_tokens=max_tokens,
                                context_chars=context_tokens * CHARS_PER_TOKEN)
    if provider is None or isinstance(provider, str):
        provider = get_provider(model, provider=provider, base_url=base_url)
    return complete_request(provider, request, cancel, on_text)


def stream_completion(prefix: str, suffix: str = "", **options: Any) -> Iterator[str]:
    """Yield the pieces of a completion as they are written (see :func:`complete`).

    Leaving the loop early stops the model.
    """
    return _pump(lambda put, cancel: complete(prefix, suffix, cancel=cancel, on_text=put,
                                              **options), "qwen-magic-complete")


# -- the model file on this machine (the local provider's; for the CLI and %qwen pull) -------


def pull_model(source: str = "auto", dest: str | None = None, *, model: str | None = None,
               force: bool = False, progress: bool = True) -> Path:
    """Download a catalog model by name or alias (default: the default model), sha256-verified,
    atomic and resumable; its path."""
    from .providers.local.pull import pull

    return pull(source, dest, model=model, force=force, progress=progress)


def installed_model(entry: CatalogEntry) -> Path | None:
    """Where a catalog model is installed (the loader's search order), or None."""
    from .providers.local.choose import installed_path

    return installed_path(entry)


def model_file(provider: Provider) -> Path | None:
    """The model file ``provider`` loads (or has loaded) in this process; None for any other."""
    if not isinstance(provider, ReportsStatus):
        return None
    try:
        local = provider.status().local
    except QwenMagicError:
        return None
    return local.path if local is not None else None


def default_completion_model(chat_model: Path | None) -> str | None:
    """The catalog model that completes as you type when none is named: a base model when one
    is installed (they fill in the middle better), else the smallest installed one — or None
    when that is the chat model itself, which then completes in its own context as before."""
    from .catalog import entries

    installed = [(entry, path) for entry in entries() if "completion" in entry.roles
                 and (path := installed_model(entry)) is not None]
    if not installed:
        return None
    base = [pair for pair in installed if "chat" not in pair[0].roles]
    entry, path = min(base or installed, key=lambda pair: pair[0].file_size)
    if chat_model is not None and path.resolve() == chat_model.resolve():
        return None
    return str(path)


def bigger_chat_model(provider: Provider, n_ctx: int) -> CatalogEntry | None:
    """The smallest installed catalog chat model bigger than the one ``provider`` runs that
    fits in free memory at ``n_ctx`` — what to suggest when an answer fell short (the 1.5B
    fixes half again as many failed cells as the 0.5B: docs/performance.md); None when there
    is none, or ``provider`` runs no catalog model of this machine's."""
    from .catalog import fitting
    from .providers.local.choose import entry_for

    current = model_file(provider)
    own = entry_for(current) if current is not None else None
    if own is None:
        return None
    return next((entry for entry in fitting(n_ctx, available_memory(), role="chat")
                 if entry.file_size > own.file_size and installed_model(entry) is not None), None)


def available_memory() -> int:
    """Bytes of memory free for a model now."""
    from .providers.local.models import available_memory as free

    return int(free())


def model_search_path(path: str | None = None) -> list[Path]:
    """Where the local provider looks for the model file, in order (``qwen-magic info``)."""
    from .providers.local.models import candidate_paths

    return candidate_paths(path)


def model_file_info(path: Path, n_ctx: int) -> dict[str, Any]:
    """What the GGUF header of ``path`` says (read in pure Python; nothing is loaded), and the
    memory a model of it needs at ``n_ctx``. Raises a QwenMagicError for a file it cannot run."""
    from .providers.local.models import required_memory, validate_model

    gguf = validate_model(path)
    return {
        "name": gguf.name,
        "architecture": gguf.architecture,
        "gguf_version": gguf.version,
        "tensors": gguf.tensor_count,
        "context_length": gguf.context_length,
        "blocks": gguf.block_count,
        "chat_template": bool(gguf.chat_template),
        "eos_token_id": gguf.eos_token_id,
        "memory_needed_mb": required_memory(gguf, n_ctx) // 1024**2,
    }
