"""Every option, defined once: its type, range, default, help, flags, and where it appears.

An option used to be restated in six files (the config dataclass and its checks, the
``%%qwen`` parser, the ``%config`` traits, the CLI, the API's keywords, the panel's sliders),
so adding one meant editing all of them. As simonw/llm keeps one Options model per model and
derives the rest, each option here is ONE entry and every front end is derived from it:

* the fields of :class:`GenerationConfig` and :class:`ModelConfig` ARE entries:
  ``temperature: float = option(0.2, ...)`` is the typed field, and carries its
  :class:`Option` in the field's metadata; the annotation gives the option its type;
* the front ends' own switches (``--context``, ``-o``, ``--model``...) are :class:`Option`
  constants below, with no config field behind them.

An option appears on the surfaces it names: ``api`` (a keyword of ``qwen_magic.generate``),
``cli`` (a flag of ``qwen-magic generate``), ``magic`` (a ``%%qwen`` flag), ``trait`` (a
``%config QwenMagics`` trait) and ``panel`` (a control of the tuning panel).

A leaf: it imports only :mod:`.errors` and :mod:`.settings` (the environment's defaults), so
the CLI, the providers and plain Python read it without IPython, traitlets or ipywidgets. The
traits are made in ``notebook/traits.py``, the panel's controls in ``widgets/view.py``, the
API's signature in ``api.py``.
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import os
import types
import typing
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Literal

from . import settings
from .errors import ConfigError

Surface = Literal["api", "cli", "magic", "trait", "panel"]
SURFACES: tuple[Surface, ...] = ("api", "cli", "magic", "trait", "panel")
#: The usual home of a generation option; the panel has room for the most used ones only.
FRONT_ENDS: tuple[Surface, ...] = ("api", "cli", "magic", "trait")
#: ``slider``: a number; ``optional_int``: a "fixed <label>" checkbox and a number box;
#: ``textarea``: text in a collapsed section; ``checkbox``: a switch.
Widget = Literal["slider", "optional_int", "textarea", "checkbox"]

_KEY = "qwen_magic.option"


@dataclass(frozen=True)
class Option:
    """One setting and everything the front ends need to offer it."""

    name: str
    type: type  # of one value: float, int, str or bool (a repeatable option holds a tuple)
    default: Any
    help: str  # lower case, no final stop, as argparse shows it; a trait capitalizes it
    low: float | None = None  # numbers: the valid range, inclusive
    high: float | None = None
    nullable: bool = False  # None is a valid value ("not set")
    choices: tuple[str, ...] = ()
    repeatable: bool = False  # given several times (``--stop a --stop b``): a tuple
    flags: tuple[str, ...] = ()  # short first, long last; default ``--<name-with-dashes>``
    metavar: str | None = None
    surfaces: tuple[Surface, ...] = ()
    widget: Widget | None = None  # the panel's control (with the ``panel`` surface)
    step: float | None = None  # slider step
    widget_range: tuple[float, float] | None = None  # slider ends, if narrower than low-high
    grows: bool = False  # the slider stretches to hold a larger starting value
    label: str = ""  # the panel's label; default: the name with spaces
    remote: tuple[str, ...] = ()  # its name(s) in an OpenAI-compatible request; () = not sent
    remote_if_set: bool = False  # send it only when it differs from the default
    default_factory: Callable[[], Any] | None = None  # a default computed on this machine
    #: A default read from the ``QWEN_MAGIC_*`` environment when a setting is first read
    #: (a trait's dynamic default), so a team sets it once where Jupyter starts.
    environment: Callable[[], Any] | None = None

    def __post_init__(self) -> None:
        if self.name:  # an entry of a config class is completed by options_of()
            self._complete()

    def _complete(self) -> None:
        if not self.flags:
            object.__setattr__(self, "flags", ("--" + self.name.replace("_", "-"),))
        if not self.label:
            object.__setattr__(self, "label", self.name.replace("_", " "))
        numeric = self.type in (int, float)
        if (not set(self.surfaces) <= set(SURFACES)
                or ("panel" in self.surfaces) != (self.widget is not None)
                or (numeric and (self.low is None or self.high is None))):
            raise ValueError(f"option {self.name!r} is inconsistent: {self}")

    @property
    def long_flag(self) -> str:
        return self.flags[-1]

    def default_value(self) -> Any:
        return self.default_factory() if self.default_factory is not None else self.default

    def describe(self, surface: Surface) -> str:
        """The help text as ``surface`` shows it: the range, and the CLI's default."""
        text = self.help
        if self.type in (int, float) and self.high is not None and self.high < 10_000:
            text += f"; {self.low:g} to {self.high:g}"
        if surface == "cli" and self.type in (int, float) and self.default_value() is not None:
            text += f" (default {self.default_value()})"
        return text[:1].upper() + text[1:] + "." if surface == "trait" else text

    def check(self, value: Any) -> Any:
        """``value`` if valid for this option (a list of a repeatable option as a tuple);
        else a ConfigError that says what is valid."""
        if value is None and self.nullable:
            return None
        name = self.name
        if self.repeatable:
            items = (value,) if isinstance(value, str) else value
            if not isinstance(items, (tuple, list)) or not all(isinstance(s, str) and s for s in items):
                raise ConfigError(f"{name} must be a list of non-empty strings, got {value!r}.")
            return tuple(items)
        if self.choices:
            if value not in self.choices:
                raise ConfigError(
                    f"{name} must be one of {', '.join(self.choices)}, got {value!r}.")
        elif self.type is bool:
            if not isinstance(value, bool):
                raise ConfigError(f"{name} must be True or False, got {value!r}.")
        elif self.type is str:
            if not isinstance(value, str):
                none = " or None" if self.nullable else ""
                raise ConfigError(f"{name} must be text{none}, got {type(value).__name__}.")
        else:
            _check_range(name, value, self.low, self.high, integer=self.type is int)
        return value


def _check_range(name: str, value: Any, low: Any, high: Any, *, integer: bool) -> None:
    # Ints are accepted where floats are meant (``temperature=0``), bools nowhere.
    kind = "an integer" if integer else "a number"
    bad_type = isinstance(value, bool) or not isinstance(value, int if integer else (int, float))
    if bad_type or (not integer and not math.isfinite(value)) or not low <= value <= high:
        high_text = "∞" if high == math.inf else f"{high:g}"
        raise ConfigError(f"{name} must be {kind} from {low:g} to {high_text}, got {value!r}.")


def option(
    default: Any = None,
    help: str = "",
    *,
    default_factory: Callable[[], Any] | None = None,
    low: float | None = None,
    high: float | None = None,
    choices: tuple[str, ...] = (),
    flags: tuple[str, ...] = (),
    metavar: str | None = None,
    surfaces: tuple[Surface, ...] = (),
    widget: Widget | None = None,
    step: float | None = None,
    widget_range: tuple[float, float] | None = None,
    grows: bool = False,
    label: str = "",
    remote: str | tuple[str, ...] = (),
    remote_if_set: bool = False,
) -> Any:
    """A config field that is also an option's one entry; name and type come from the field."""
    spec = Option(
        "", object, default, help, low=low, high=high, choices=choices, flags=flags,
        metavar=metavar, surfaces=surfaces, widget=widget, step=step, widget_range=widget_range,
        grows=grows, label=label, remote=(remote,) if isinstance(remote, str) else remote,
        remote_if_set=remote_if_set, default_factory=default_factory,
    )
    if default_factory is not None:
        return field(default_factory=default_factory, metadata={_KEY: spec})
    return field(default=default, metadata={_KEY: spec})


_bound: dict[type, tuple[Option, ...]] = {}


def options_of(cls: type) -> tuple[Option, ...]:
    """The options declared as fields of ``cls``, in field order.

    The first call completes each field's Option with the field's name and, from its
    annotation, its type (``int | None``: nullable; ``tuple[str, ...]``: repeatable) — once,
    while the module is imported, as ``__set_name__`` would for a descriptor.
    """
    if cls not in _bound:
        hints = typing.get_type_hints(cls)
        found = []
        for f in dataclasses.fields(cls):
            spec = f.metadata.get(_KEY)
            if spec is not None:
                kind, nullable, repeatable = _unpack(hints[f.name])
                for attr, value in (("name", f.name), ("type", kind), ("nullable", nullable),
                                    ("repeatable", repeatable)):
                    object.__setattr__(spec, attr, value)
                spec._complete()
                found.append(spec)
        _bound[cls] = tuple(found)
    return _bound[cls]


def _unpack(hint: Any) -> tuple[type, bool, bool]:
    """(type of one value, nullable, repeatable) of a field annotation."""
    args = typing.get_args(hint)
    nullable = typing.get_origin(hint) in (typing.Union, types.UnionType) and type(None) in args
    if nullable:
        (hint,) = [a for a in args if a is not type(None)]
    repeatable = typing.get_origin(hint) is tuple
    if repeatable:
        hint = typing.get_args(hint)[0]
    return hint, nullable, repeatable


class _Checked:
    """``__post_init__`` of a config dataclass: each option field checked by its Option."""

    def __post_init__(self) -> None:
        for spec in options_of(type(self)):
            value = getattr(self, spec.name)
            checked = spec.check(value)
            if checked is not value:
                object.__setattr__(self, spec.name, checked)


# -- generation -------------------------------------------------------------------------------

# Why these defaults: a 0.5B model wanders quickly when sampled hot, and code has to be
# exact, so the temperature sits well below Qwen's chat default (0.7) while top-p/top-k keep
# Qwen's own recommended values (0.8 / 20) so that low-probability junk tokens are cut off.
# A mild repeat penalty (Qwen ships 1.05-1.1) stops the small model from looping on a line.
# 512 new tokens fit a function with its explanation without a runaway answer.
DEFAULT_SYSTEM_PROMPT = (
    "You are Qwen, a coding assistant inside a Jupyter notebook. Answer with correct, "
    "idiomatic Python in a single ```python code block, followed by at most two short "
    "sentences of explanation."
)

SPECULATIVE_MODES = ("auto", "on", "off")


@dataclass(frozen=True)
class GenerationConfig(_Checked):
    """How to sample one answer. Immutable: use :meth:`replace` to derive a variant.

    The field order is the order of the options in every help text and of the panel's
    controls. ``remote`` names what an OpenAI-compatible request calls a field: top_k, min_p
    and the repeat penalty are not OpenAI's own, but llama.cpp, llama-cpp-python and vLLM
    read them (Ollama ignores them), and without them the panel's knobs would do nothing.
    """

    temperature: float = option(
        0.2, "sampling temperature (0 = greedy)", low=0, high=5, flags=("-t", "--temperature"),
        surfaces=SURFACES, widget="slider", step=0.05, widget_range=(0, 2), remote="temperature")
    top_p: float = option(
        0.8, "nucleus sampling: keep the likeliest tokens up to this probability mass",
        low=0, high=1, surfaces=SURFACES, widget="slider", step=0.01, label="top-p",
        remote="top_p")
    top_k: int = option(
        20, "sample among the k likeliest tokens (0 = all)", low=0, high=1_000_000,
        surfaces=SURFACES, widget="slider", step=1, widget_range=(0, 200), label="top-k",
        remote="top_k")
    min_p: float = option(
        0.0, "drop tokens below min-p × the top token's probability", low=0, high=1,
        surfaces=FRONT_ENDS, remote="min_p")
    # A %config max_tokens above the slider's end must not be cut down by opening the panel.
    max_tokens: int = option(
        512, "most tokens in the answer", low=1, high=1_000_000, flags=("-n", "--max-tokens"),
        surfaces=SURFACES, widget="slider", step=1, widget_range=(1, 2048), grows=True,
        remote="max_tokens")
    repeat_penalty: float = option(
        1.05, "penalty for repeating recent tokens (1 = none)", low=0.5, high=2,
        surfaces=SURFACES, widget="slider", step=0.01,
        remote=("repeat_penalty", "repetition_penalty"))  # llama.cpp's name, vLLM's name
    # 0.0 is every engine's default (OpenAI, llama.cpp, vLLM, Ollama), so a request that does
    # not set it stays exactly what it was and servers that reject it never see it.
    presence_penalty: float = option(
        0.0, "penalty for any token that already appeared among the recent ones, however "
        "often (0 = none)", low=-2, high=2, surfaces=SURFACES, widget="slider", step=0.05,
        remote="presence_penalty", remote_if_set=True)
    seed: int | None = option(
        None, "random seed (default: a new one for each answer, recorded with it)",
        low=0, high=2**32 - 1,
        surfaces=SURFACES, widget="optional_int", remote="seed", remote_if_set=True)
    stop: tuple[str, ...] = option(
        (), "stop when the model writes this text (repeatable)",
        surfaces=("api", "cli", "magic"), remote="stop", remote_if_set=True)
    system: str | None = option(
        DEFAULT_SYSTEM_PROMPT, "system prompt ('' for none)", surfaces=SURFACES,
        widget="textarea", label="system prompt")
    # Prompt-lookup speculative decoding (see speculative.py): "auto" turns it on only where
    # the benchmark shows it faster, "on"/"off" force it. See docs/performance.md.
    speculative: str = option(
        "auto", "prompt-lookup speculative decoding: auto (where measured faster), on or off",
        choices=SPECULATIVE_MODES)
    # Same request → same text whatever ran before in this process (docs/reproducibility.md):
    # prompt reuse is cut back to whole aligned chunks, so a warm read matches a cold one.
    deterministic: bool = option(
        False, "the same text for the same request whatever ran before in this process "
        "(at temperature 0 or with a seed; docs/reproducibility.md)", surfaces=FRONT_ENDS)
    # Opt-in, and the only path that runs generated code — in a separate, limited process,
    # never in the kernel (qwen_magic/checking, docs/checking.md). Off, nothing is run.
    check: bool = option(
        False, "run the code against the examples in the request (>>> lines, asserts) in a "
        "separate limited process; repair or resample it when they fail (docs/checking.md)",
        surfaces=SURFACES, widget="checkbox", label="check against the examples")

    def replace(self, **changes: Any) -> GenerationConfig:
        """A copy with ``changes`` applied; ``None`` values mean "keep the current one"."""
        unknown = set(changes) - {f.name for f in dataclasses.fields(self)}
        if unknown:
            raise ConfigError(
                f"Unknown generation setting(s): {', '.join(sorted(unknown))}. "
                f"Valid: {', '.join(f.name for f in dataclasses.fields(self))}."
            )
        kept = {k: v for k, v in changes.items() if v is not None}
        return dataclasses.replace(self, **kept)

    def as_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


# -- the model --------------------------------------------------------------------------------


def default_threads() -> int:
    """Threads for decoding: llama.cpp's rule of one per physical core.

    llama-cpp-python's own default (half of the logical CPUs) halves decode speed on a VM that
    reports no SMT siblings, so physical cores come from psutil, and when the machine does not
    say, every logical CPU is used rather than a guess of one.
    """
    try:
        import psutil

        physical = psutil.cpu_count(logical=False)
    except Exception:  # psutil missing or the platform cannot tell
        physical = None
    return max(1, physical or os.cpu_count() or 1)


@dataclass(frozen=True)
class ModelConfig(_Checked):
    """How to load the model. Part of the cache key, so two equal configs share one model."""

    path: str | None = None
    n_ctx: int = option(4096, "context window in tokens", low=256, high=1_048_576,
                        surfaces=("cli", "trait"))
    n_threads: int = option(help="CPU threads for llama.cpp", default_factory=default_threads,
                            low=1, high=1024, flags=("--threads",), surfaces=("cli", "trait"))
    # Measured (docs/performance.md, `qwen-magic bench --sweep`): n_batch 256 reads prompts at
    # least as fast as 512 (121 vs 120 tok/s on 1,476 tokens) with an 18 MB smaller compute
    # buffer; 128 reads them ~6% slower. Flash attention decodes ~6% slower here and a q8_0 KV
    # cache (which needs it) slower still; without mmap the load takes 0.70 s, not 0.40 s.
    n_batch: int = option(256, "prompt tokens read per batch", low=1, high=65_536)
    flash_attn: bool = False
    use_mmap: bool = True
    verbose: bool = False
    # RAM for the KV states of earlier prompt prefixes (prefix_cache.py): 48 MB holds 4,000
    # tokens of context (12 KB each) — the panel's and a cell's 1,500-token contexts — and keeps
    # a kernel's peak RSS under 800 MB at n_ctx 4096.
    prefix_cache_mb: int = option(48, "RAM for earlier prompts' KV states, in MB",
                                  low=0, high=1_048_576)

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.path is not None and not isinstance(self.path, (str, os.PathLike)):
            raise ConfigError(f"model path must be a file path, got {self.path!r}.")

    def replace(self, **changes: Any) -> ModelConfig:
        return dataclasses.replace(self, **{k: v for k, v in changes.items() if v is not None})


# -- the front ends' own switches --------------------------------------------------------------

MODEL = Option(
    "model", str, None, "the model: a catalog name (0.5b, 1.5b, ...: `qwen-magic models`) or "
    "a .gguf file (default: the search path, see `qwen-magic info`); with --provider openai, "
    "the server's model name", nullable=True, metavar="MODEL",
    surfaces=("api", "cli", "magic", "trait"))
# Which providers exist is the provider registry's to say (qwen_magic.providers.registry):
# plugins add names, so the name is checked there, not by a fixed list of choices here.
PROVIDER = Option(
    "provider", str, "local", "where answers come from: a registered provider — 'local', the "
    "GGUF model in this process, 'openai', an OpenAI-compatible server, or a plugin's "
    "(default $QWEN_MAGIC_PROVIDER; docs/remote-engines.md)", surfaces=FRONT_ENDS,
    metavar="NAME", environment=settings.provider_kind)
BASE_URL = Option(
    "base_url", str, None, "URL of the OpenAI-compatible server, e.g. http://127.0.0.1:8000/v1 "
    "(default $QWEN_MAGIC_BASE_URL, else that one: `qwen-magic serve`); given for one "
    "request, it implies provider openai", nullable=True, metavar="URL", surfaces=FRONT_ENDS,
    environment=settings.base_url)
REMOTE_MODEL = Option(
    "remote_model", str, None, "the server's model name (default $QWEN_MAGIC_REMOTE_MODEL, else "
    "the only model the server lists)", nullable=True, surfaces=("trait",),
    environment=settings.remote_model)
MODEL_PATH = Option("model_path", str, None, "path of the .gguf model (default: the search "
                    "path); QwenMagics.model wins when both are set", nullable=True,
                    surfaces=("trait",))
COMPLETION_MODEL = Option(
    "completion_model", str, None, "the model that completes code as you type: a catalog name "
    "or a .gguf file (default: a base model when one is installed, else the smallest installed "
    "one; the chat model itself when that is it). Kept in a context of its own, so a chat "
    "answer never evicts the notebook's completion state", nullable=True,
    surfaces=("trait",))
PRELOAD = Option("preload", bool, True, "start loading the model in the background at "
                 "%load_ext", surfaces=("trait",))
CONTEXT = Option("context", bool, False, "give the model earlier cells and your variables "
                 "(names, types, shapes)", surfaces=("magic",))
#: Characters per token in a text budget (code and English with this tokenizer, roughly).
CHARS_PER_TOKEN = 4
#: The notebook a prompt brings along by default, --context's and a completion's alike.
DEFAULT_CONTEXT_TOKENS = 1500
CONTEXT_TOKENS = Option("context_tokens", int, DEFAULT_CONTEXT_TOKENS, "token budget of "
                        "--context (cells and variables)", low=0, high=32768, surfaces=("trait",))
CONTINUE = Option("follow_up", bool, False, "continue the previous answer's conversation (a "
                  "follow-up; `%qwen new` starts over)", flags=("-c", "--continue"),
                  surfaces=("magic",))
NO_INSERT = Option("no_insert", bool, False, "do not insert the code as a new cell",
                   surfaces=("magic",))
INSERT = Option("insert", bool, True, "insert the generated code as a new cell below (never "
                "run)", surfaces=("trait",))
OUT = Option("out", str, None, "also store the GenerationResult in the variable VAR",
             nullable=True, flags=("-o", "--out"), metavar="VAR", surfaces=("magic",))
FORMAT = Option("format", str, "markdown", "how the answer is shown: markdown (all of it), "
                "code (only its code) or text (plain)", choices=("markdown", "code", "text"),
                surfaces=("magic", "trait"))
NO_FOOTER = Option("no_footer", bool, False, "no stats line under the answer",
                   surfaces=("magic",))
FOOTER = Option("footer", bool, True, "show tokens, tok/s and time to first token under each "
                "answer", surfaces=("trait",))
UPDATE_INTERVAL = Option("update_interval", float, 0.1, "seconds between live output updates",
                         low=0, high=10, surfaces=("trait",))
CODE_ONLY = Option("code_only", bool, False, "print only the extracted code", surfaces=("cli",))
NO_STATS = Option("no_stats", bool, False, "no stats line on stderr", surfaces=("cli",))

# Completion as you type (qwen_magic.completion): the kernel's settings; JupyterLab's own
# inline-completer settings (enabled, debounce, timeout) live in Lab. The labextension sends
# no length of its own: the kernel's completion_max_tokens is the one default.
COMPLETION = Option("completion", bool, True, "complete code as you type from this kernel's "
                    "model: JupyterLab's inline completer, and Ctrl-Q in terminal IPython",
                    surfaces=("trait",))
COMPLETION_MAX_TOKENS = Option("completion_max_tokens", int, 64, "most tokens in one "
                               "completion", low=1, high=512, surfaces=("trait",))
COMPLETION_CONTEXT_TOKENS = Option("completion_context_tokens", int, DEFAULT_CONTEXT_TOKENS,
                                   "token budget of the earlier cells a completion sees",
                                   low=0, high=32768, surfaces=("trait",))
#: None is "auto": on for a provider that keeps the data on this machine, off for one that
#: sends it to a server (names and column names are data: there it is opt-in).
COMPLETION_VARIABLES = Option(
    "completion_variables", bool, None, "tell completion (and %qwen fix) what the notebook's "
    "live values are (a DataFrame's columns, a dict's keys, a function's signature), described "
    "without running your code; None (the default): on for the local model, off for a "
    "provider that sends data to a server unless set to True", nullable=True,
    surfaces=("trait",))

# -- the registry -----------------------------------------------------------------------------

GENERATION: tuple[Option, ...] = options_of(GenerationConfig)
MODEL_SETTINGS: tuple[Option, ...] = options_of(ModelConfig)
#: Every option, in the order help texts list them.
ALL: tuple[Option, ...] = (
    *GENERATION, MODEL, *MODEL_SETTINGS, PROVIDER, BASE_URL, REMOTE_MODEL, MODEL_PATH,
    COMPLETION_MODEL, PRELOAD,
    CONTEXT, CONTEXT_TOKENS, CONTINUE, NO_INSERT, INSERT, OUT, FORMAT, NO_FOOTER, FOOTER,
    UPDATE_INTERVAL, CODE_ONLY, NO_STATS, COMPLETION, COMPLETION_MAX_TOKENS,
    COMPLETION_CONTEXT_TOKENS, COMPLETION_VARIABLES,
)
OPTIONS: dict[str, Option] = {spec.name: spec for spec in ALL}


def on(surface: Surface, among: Iterable[Option] = ALL) -> tuple[Option, ...]:
    """The options of ``among`` that appear on ``surface``, in registry order."""
    return tuple(spec for spec in among if surface in spec.surfaces)


# -- what the front ends derive ---------------------------------------------------------------


def add_flags(parser: argparse.ArgumentParser, specs: Iterable[Option], surface: Surface) -> None:
    """One argparse flag per option; every default is None, meaning "not given here"."""
    for spec in specs:
        kwargs: dict[str, Any] = {"dest": spec.name,
                                  "help": spec.describe(surface).replace("%", "%%")}
        if spec.type is bool:  # a switch: the flag turns the option away from its default
            kwargs.update(action="store_const", const=not spec.default)
        else:
            kwargs.update(type=spec.type, metavar=spec.metavar, choices=spec.choices or None)
            if spec.repeatable:
                kwargs["action"] = "append"
        parser.add_argument(*spec.flags, **kwargs)


def given(namespace: Any, specs: Iterable[Option]) -> dict[str, Any]:
    """The values of ``specs`` in a parsed ``namespace`` (None: not given)."""
    return {spec.name: getattr(namespace, spec.name) for spec in specs}


def check_names(names: Iterable[str], specs: Iterable[Option], what: str) -> None:
    """A one-line ConfigError naming the valid options when ``names`` has an unknown one."""
    valid = [spec.name for spec in specs]
    unknown = sorted(set(names) - set(valid))
    if unknown:
        raise ConfigError(f"{what}: unknown option(s) {', '.join(unknown)}. "
                          f"Valid: {', '.join(valid)}.")


def remote_settings(config: GenerationConfig) -> dict[str, Any]:
    """The generation settings as fields of an OpenAI-compatible request (``Option.remote``)."""
    body: dict[str, Any] = {}
    for spec in GENERATION:
        value = getattr(config, spec.name)
        if spec.remote_if_set and value == spec.default:
            continue
        for name in spec.remote:
            body[name] = list(value) if isinstance(value, tuple) else value
    return body


def sampling_values(config: GenerationConfig) -> dict[str, Any]:
    """The numeric generation settings that are set, by option name.

    The names are also llama-cpp-python's ``create_chat_completion`` keywords and, as long
    flags, ``%%qwen``'s: the bench hands the same settings to each path it compares.
    """
    return {spec.name: value for spec in GENERATION if spec.type in (int, float)
            and (value := getattr(config, spec.name)) is not None}


__all__ = [
    "ALL", "CHARS_PER_TOKEN", "DEFAULT_SYSTEM_PROMPT", "FRONT_ENDS", "GENERATION", "MODEL_SETTINGS",
    "OPTIONS",
    "SPECULATIVE_MODES", "SURFACES", "GenerationConfig", "ModelConfig", "Option", "Surface",
    "add_flags", "check_names", "default_threads", "given", "on", "option", "options_of",
    "remote_settings", "sampling_values",
]
