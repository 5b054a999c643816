"""``%%qwen`` and ``%qwen``: the notebook face of the API.

Thin by design, like IPython's own extensions: one ``Magics`` class holding the settings as
traitlets (so ``%config QwenMagics.temperature = 0.2`` and ``ipython_config.py`` work as for
any IPython extension), its three magic methods, and the orchestration of one cell
(:meth:`QwenMagics.ask`). The rest sits beside it: the argument grammar in :mod:`.grammar`,
the ``%qwen`` subcommands in :mod:`.commands`, the background load in :mod:`.preload`, the
cell's output in :mod:`.output`, insertion in :mod:`.insert`, prompt building in
:mod:`qwen_magic.prompting` and generation in :mod:`qwen_magic.api`.
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, TypeVar, cast

from IPython.core.magic import Magics, cell_magic, line_magic, magics_class, no_var_expand
from traitlets import TraitError, default, validate

from .. import api, livedata, session, settings
from ..checking import isolation_label
from ..errors import ConfigError, GenerationCancelled, QwenMagicError
from ..fixing import Failure, fix_prompt
from ..options import (
    CHARS_PER_TOKEN,
    GENERATION,
    MODEL_SETTINGS,
    GenerationConfig,
    ModelConfig,
    given,
    on,
)
from ..prompting import build_context, compose_prompt, interpolate, written_examples
from ..providers.base import GenerationRequest, Provider
from ..result import GenerationResult
from ..status import is_busy, provider_status
from . import commands
from .cell_python import cell_scope, fix_rules
from .completer import CompletionFrontEnds
from .conversation import Conversation
from .failures import FailureLog
from .grammar import HELP, guard_doctest_prompts, one_line_cells, parse_cell_args, unguard
from .insert import insert_code_cell
from .output import CellOutput, cell_output
from .preload import Preload
from .traits import option_traits

# The option traits (temperature ... n_ctx, n_threads, provider, base_url, format) come from
# the registry (qwen_magic/options.py); only the magics' own settings are written out here.
if TYPE_CHECKING:  # mypy cannot follow a class made at import; its traits read as Any
    from IPython.core.interactiveshell import InteractiveShell

    _OptionTraits: Any = object
else:
    _OptionTraits = option_traits()

_F = TypeVar("_F", bound=Callable[..., Any])
#: Answers a request in a cell's output: ``(prompt, config, provider, sink) -> result``.
Answer = Callable[[str, GenerationConfig, Provider, Any], GenerationResult]


def _magic(kind: Literal["line", "cell"], name: str) -> Callable[[_F], _F]:
    """IPython's ``line_magic(name)`` / ``cell_magic(name)``, typed as the decorators they are.

    IPython annotates both as returning ``_F | Callable[[_F], _F]`` (one signature for the
    bare and the named use), which mypy cannot apply; given a name, they return the decorator.
    """
    return cast("Callable[[_F], _F]", (line_magic if kind == "line" else cell_magic)(name))


def _suggest_a_bigger_model(result: GenerationResult, provider: Provider, n_ctx: int,
                            command: str) -> None:
    """Under a fix the model could not stand behind (marked for review, not verified, or
    nothing inserted), one line naming the bigger installed model, when there is one."""
    fix = result.fix
    if fix is None or fix.verified or (fix.insert and not fix.mark):
        return
    try:
        bigger = api.bigger_chat_model(provider, n_ctx)
    except Exception:  # noqa: BLE001 - only a tip: the fix above stands without it
        return
    if bigger is not None:
        print(f"tip: the bigger {bigger.short} is installed and fixes more cells: "
              f"%qwen {command} --model {bigger.short}")


@magics_class
class QwenMagics(Magics, _OptionTraits):
    """Generate code with a local Qwen2.5-Coder. Settings below are ``%config`` traits."""

    # Every trait comes from the option registry (qwen_magic/options.py), those whose default
    # is read from the environment ($QWEN_MAGIC_PROVIDER, ...) included; only their checks
    # against the provider registry are written here.

    @validate("provider")
    def _validate_provider(self, proposal: Any) -> Any:
        try:
            return api.provider_entry_name(proposal["value"])
        except ConfigError as exc:
            raise TraitError(str(exc)) from None

    @default("base_url")
    def _default_base_url(self) -> str | None:
        # $QWEN_MAGIC_BASE_URL as the provider will use it (defaults skip @validate).
        url = settings.base_url()
        return api.check_base_url(url) if url else None

    @validate("base_url")
    def _validate_base_url(self, proposal: Any) -> Any:
        if proposal["value"] is None:
            return None
        try:
            return api.check_base_url(proposal["value"])
        except ConfigError as exc:
            raise TraitError(str(exc)) from None

    def __init__(self, shell: InteractiveShell | None = None, **kwargs: Any) -> None:
        super().__init__(shell=shell, **kwargs)
        self._preload = Preload()
        #: The output of the last ``%%qwen`` cell: its sink (``ThrottledSink(NotebookSink)``
        #: in a kernel) and status line. The benchmark reports from it which path it timed.
        self.last_output: CellOutput | None = None
        #: The turns ``%%qwen -c`` continues; a cell without ``-c`` starts it over.
        self.conversation = Conversation()
        #: The failed cells ``%qwen fix`` and ``%qwen explain`` read (hooked at %load_ext).
        self.failures = FailureLog(self.ipython) if shell is not None else None
        #: Set by the first ``--context`` cell: from then on, a finished cell has the model
        #: read the next ``--context`` prompt's start while idle (:meth:`context_read_ahead`).
        self.context_used = False

    # -- shared pieces --------------------------------------------------------------------

    @property
    def ipython(self) -> InteractiveShell:
        """The shell these magics serve (``%load_ext`` always passes one)."""
        if self.shell is None:
            raise RuntimeError("QwenMagics has no shell: register it with %load_ext qwen_magic.")
        return self.shell

    def generation_config(self, **overrides: Any) -> GenerationConfig:
        """The traits' settings, with ``overrides`` (None: "not given") on top."""
        traits = {spec.name: getattr(self, spec.name) for spec in on("trait", GENERATION)}
        return GenerationConfig(**traits).replace(**overrides)

    def model_config(self, path: str | None = None) -> ModelConfig:
        """The model settings; the model is ``path`` (a cell's --model), else
        ``QwenMagics.model``, else ``QwenMagics.model_path`` (the README's table)."""
        traits = {spec.name: getattr(self, spec.name) for spec in on("trait", MODEL_SETTINGS)}
        return ModelConfig(path=path or self.model or self.model_path, **traits)

    def get_provider(
        self, path: str | None = None, *, kind: str | None = None, base_url: str | None = None
    ) -> Provider:
        """The provider for one request: a cell's --provider/--base-url win over the traits.

        A --base-url on the cell means the openai provider; there ``path`` (--model) is the
        server's model name rather than a file.
        """
        if kind is None:
            kind = api.provider_entry_name(self.provider) if not base_url \
                else api.provider_reading("base_url")
        if api.provider_reads(kind, "base_url"):  # a server: --model names its model
            return api.get_provider(path or self.model or self.remote_model, self.model_config(),
                                    provider=kind, base_url=base_url or self.base_url)
        return api.get_provider(model_config=self.model_config(path), provider=kind)

    def completion_provider(self) -> Provider:
        """The provider that completes code as you type: the chat provider, except that with
        one that loads models here, ``QwenMagics.completion_model`` (default: a base or the
        smallest installed model, when the chat model is another) in a context of its own."""
        chat = self.get_provider()
        if chat.name not in api.provider_names() \
                or not api.provider_reads(chat.name, "completion_model"):
            return chat  # a server's, a plugin's, or the one that says no model was found
        named = self.completion_model or api.default_completion_model(api.model_file(chat))
        if named is None:
            return chat
        return api.get_provider(model_config=self.model_config(named), provider=chat.name,
                                role="completion")

    def start_preload(self) -> None:
        """Load the model in a background thread so %load_ext returns at once (a provider
        that loads one into this kernel only: a server's loads nothing here). A bad setting
        ($QWEN_MAGIC_PROVIDER naming no provider) does not stop %load_ext: the first cell
        says what is wrong."""
        try:
            provider = self.get_provider()
        except ConfigError:
            return
        self._preload.start(provider)

    @property
    def loading(self) -> bool:
        """Whether the background load started by %load_ext is still running."""
        return self._preload.running

    def wait_for_preload(self, status: Callable[[str], object]) -> None:
        """Wait for the background load, if one runs (see :meth:`.preload.Preload.wait`)."""
        self._preload.wait(status)

    def status_info(self) -> dict[str, Any]:
        provider = self.get_provider()
        info = provider_status(provider, loading=self.loading, check=True).as_dict()
        completion = self.completion_provider()
        if completion is not provider:  # a model of its own completes as you type
            about = provider_status(completion).as_dict()
            state = "loaded" if about.get("loaded") else "not loaded yet"
            memory = f", {about['memory_mb']:,} MB" if about.get("memory_mb") else ""
            info["completion_model"] = f"{about.get('model')} ({state}{memory})"
        # How --check (and %qwen fix --check) would isolate the code it runs, found out once
        # per kernel by trying (docs/checking.md).
        info["check_isolation"] = isolation_label()
        return info

    def _notice(self, message: str) -> None:
        print(message, file=sys.stderr)

    # -- %%qwen ---------------------------------------------------------------------------

    # no_var_expand on every entry point: IPython would otherwise evaluate `{expr}` and
    # `$name` in the magic line as Python before we see it — running code the user meant
    # as prompt text, and undoing the `{{name}}` escape — whenever the whole line expands.
    @_magic("cell", "qwen")
    @no_var_expand
    def qwen_cell(self, line: str, cell: str | None = None) -> None:
        args, words = parse_cell_args(line)
        if args.help:
            print(HELP)
            return
        body = unguard(cell or "").strip()
        prompt = "\n".join(part for part in (words.strip(), body) if part)
        self.ask(prompt, args)

    def ask(self, prompt: str, args: Any, *, literal: bool = False,
            answer: Answer | None = None) -> GenerationResult:
        """One request: ``literal`` prompts (``%qwen fix``: code with braces) skip ``{name}``.

        ``answer`` replaces ``api.run`` for a request that is answered its own way
        (``%qwen fix``: :meth:`fix`); the cell's output, waits and insertion stay the same.
        """
        shell = self.ipython
        namespace = shell.user_ns
        written = prompt
        if not literal:
            prompt = interpolate(prompt, namespace, self._notice)
        api.check_prompt(prompt)
        config = self.generation_config(**given(args, on("magic", GENERATION)))  # the cell's win
        # --check runs the examples the user wrote: not those in a {variable}'s text, nor
        # asserts that --context brings along.
        examples = written_examples(written, namespace, literal=literal) if config.check else None
        if args.context:
            self.context_used = True
            prompt = compose_prompt(prompt, self._context(self._previous_cells()))
        messages, note = self._follow_up(prompt, config, bool(args.follow_up))
        provider = self.get_provider(args.model, kind=args.provider, base_url=args.base_url)
        output = self.last_output = cell_output(
            shell, args.format or self.format, self.footer and not args.no_footer,
            self.update_interval, note)
        status = output.status
        if args.model is None:
            self.wait_for_preload(status)
        try:
            if not api.model_loaded(provider):
                status("⏳ loading the model…")
            elif is_busy(provider):
                status("⏳ the model is busy with another generation (the panel?); waiting…")
            if answer is not None:
                result = answer(prompt, config, provider, output.sink)
            else:
                result = api.run(prompt, config, provider=provider, sinks=[output.sink],
                                 messages=messages, examples=examples)
        except KeyboardInterrupt:
            # An interrupt that lands before the streamer takes over (it turns later ones
            # into a cancelled result): one line, not a traceback through the display code.
            status("⏹ interrupted — nothing inserted")
            raise GenerationCancelled("interrupted — nothing was inserted.") from None
        except Exception:
            # The error below says it all; a "⏳ loading…" left above it would say the cell
            # is still working.
            status("")
            raise
        shell.user_ns["_qwen"] = result
        if result.finish_reason != "cancelled":
            self.conversation.add(prompt, result.text)
        if args.out:
            shell.user_ns[args.out] = result
        if result.interrupted:
            raise GenerationCancelled(
                "interrupted — the partial answer is kept above; nothing was inserted.", result
            )
        wanted = result.fix is None or result.fix.insert
        if result.finish_reason != "cancelled" and self.insert and not args.no_insert and wanted:
            insert_code_cell(shell, result.cell_source())
        return result

    def fix(self, failure: Failure, args: Any) -> GenerationResult:
        """``%qwen fix [--check]``: a diagnosis and the whole corrected cell, inserted below
        (never run in the kernel). With ``--check`` a self-contained cell's correction runs in
        ``--check``'s separate process until one runs cleanly and prints what another answer
        prints; a cell that reads the kernel's
        variables or files is not run, and the footer says why."""
        check, not_checked = bool(args.check), ""
        command = "fix --check" if check else "fix"  # as typed, for the tip below
        namespace = self.ipython.user_ns
        scope = cell_scope(failure.source, namespace)
        # A cell that does not parse says nothing of what it reads: each corrected cell is
        # judged on its own (the not_runnable of fix_rules).
        if check and not scope.self_contained and scope.syntax_error is None:
            check, not_checked = False, f"not checked: {scope.reason()}"
        args.check = False  # not --check's examples: the fix is judged by running the cell

        def answer(prompt: str, config: GenerationConfig, provider: Provider,
                   sink: Any) -> GenerationResult:
            result = api.fix_cell(prompt, config, fix_rules(failure, namespace), check=check,
                                  not_checked=not_checked, provider=provider, sinks=[sink])
            _suggest_a_bigger_model(result, provider, int(self.n_ctx), command)
            return result

        live_values = self._live_values(scope.notebook_names, namespace, args)
        return self.ask(fix_prompt(failure, live_values), args, literal=True, answer=answer)

    def _live_values(self, names: tuple[str, ...], namespace: dict[str, Any], args: Any) -> str:
        """What the notebook's variables ``names`` hold (never running user code), when the
        values may go to the provider the answer comes from."""
        try:
            if not names or not self.live_values_allowed(
                    self.get_provider(args.model, kind=args.provider, base_url=args.base_url)):
                return ""
            return livedata.describe(namespace, names)
        except Exception:  # noqa: BLE001 - only a help to the fix: the fix goes on without it
            return ""

    def live_values_allowed(self, provider: Any) -> bool:
        """``completion_variables``: True or False as set; None (auto) is on unless the
        provider sends what it is given to a server (ghost text and ``%qwen fix``)."""
        setting = self.completion_variables
        if setting is not None:
            return bool(setting)
        try:
            return not api.sends_data_away(provider)
        except QwenMagicError:  # no provider yet (a bad setting): the cell will say so
            return False

    def _follow_up(
        self, prompt: str, config: GenerationConfig, follow_up: bool
    ) -> tuple[list[dict[str, str]] | None, str]:
        """The messages of a ``-c`` follow-up and its footer note; a new cell starts over."""
        if not follow_up:
            self.conversation.clear()
            return None, ""
        budget = max(256, int(self.n_ctx) - config.max_tokens)
        messages, dropped = self.conversation.messages(prompt, config.system, budget)
        note = f"{dropped} earlier turn{'s' * (dropped != 1)} dropped" if dropped else ""
        return messages, note

    def _context(self, cells: list[str]) -> str:
        shell = self.ipython
        return build_context(cells, shell.user_ns, hidden=shell.user_ns_hidden,
                             budget_chars=self.context_tokens * CHARS_PER_TOKEN)

    def context_read_ahead(self) -> Callable[[threading.Event], None] | None:
        """What the model may read ahead for the next ``%%qwen --context`` cell: its prompt as
        the notebook is now, up to where the request goes; None when there is nothing to read.

        Called after a cell ran, once ``--context`` has been used here. The prompt is built
        now, on the main thread, because it describes the user's variables; the kernel's
        background worker reads it later (``CompletionService.read_when_idle``).
        """
        provider = self.get_provider()
        config = self.generation_config()
        # A deterministic request re-reads its prompt in aligned chunks anyway; a provider
        # that cannot read ahead, or whose model is not loaded, has nothing to gain.
        if not api.can_read_ahead(provider) or not api.model_loaded(provider) \
                or config.deterministic:
            return None
        history = list(self.ipython.user_ns.get("In", []))[1:]  # the cell that ran included
        marker = "\ue000"  # a private-use character: where the request will go
        request = GenerationRequest.from_prompt(compose_prompt(marker, self._context(history)),
                                                config)

        def read(cancel: threading.Event) -> None:
            api.prefill_request(provider, request, marker, cancel)

        return read

    def _previous_cells(self) -> list[str]:
        history = list(self.ipython.user_ns.get("In", []))
        return history[1:-1]  # In[0] is empty; the last entry is this very cell

    # -- %qwen ----------------------------------------------------------------------------

    @_magic("line", "qwen")
    @no_var_expand
    def qwen_line(self, line: str) -> Any:
        """A subcommand (:mod:`.commands`), else a one-line prompt."""
        subcommand = commands.parse(line)
        if subcommand is not None:
            return subcommand.run(self)
        self.qwen_cell(line, None)
        return None

    @_magic("line", "qwen_oneline")
    @no_var_expand
    def qwen_oneline(self, line: str) -> None:
        """A ``%%qwen <prompt>`` cell with no body, rewritten by :func:`.grammar.one_line_cells`."""
        self.qwen_cell(line, None)


@dataclass(frozen=True)
class _SessionDefaults:
    """The magics as :class:`session.Defaults`: what the panel may read and set, no more.

    Equal for the same magics, so %unload_ext can unregister what %load_ext registered.
    """

    magics: QwenMagics

    @property
    def update_interval(self) -> float:
        return self.magics.update_interval

    def generation_config(self) -> GenerationConfig:
        return self.magics.generation_config()

    def set_generation_defaults(self, values: Mapping[str, Any]) -> None:
        # The traits %config sets: validated by them, and shown by `%qwen config`.
        for name, value in values.items():
            setattr(self.magics, name, value)

    def provider(self) -> Any:
        # The magics' own choice honours %config provider / model_path / n_ctx / n_threads.
        return self.magics.get_provider()

    def loading(self) -> bool:
        return self.magics.loading

    def publish(self, result: GenerationResult) -> None:
        # Like a %%qwen cell, the latest answer is `_qwen` in the user's namespace.
        if self.magics.shell is not None:
            self.magics.shell.user_ns["_qwen"] = result


# The magics of each shell, for %unload_ext (and tests/reliability, which reads their traits).
# The panel does not look here: it reads the session.
_registered: dict[int, QwenMagics] = {}


def load_ipython_extension(ipython: Any) -> None:
    magics = QwenMagics(shell=ipython)
    ipython.register_magics(magics)
    _registered[id(ipython)] = magics
    session.current().register(_SessionDefaults(magics))
    cleanup = ipython.input_transformers_cleanup
    if one_line_cells not in cleanup:
        cleanup.append(one_line_cells)
    if guard_doctest_prompts not in cleanup:
        # Before IPython's prompt stripper, which would take the examples' >>> away.
        cleanup.insert(_index_of_prompt_stripper(cleanup), guard_doctest_prompts)
    if magics.preload:
        magics.start_preload()
    if magics.failures is not None:
        magics.failures.install()
    magics.completion_front_ends = CompletionFrontEnds(ipython, magics)
    magics.completion_front_ends.install()


def _index_of_prompt_stripper(cleanup: list[Any]) -> int:
    from IPython.core.inputtransformer2 import classic_prompt

    return next((i for i, transformer in enumerate(cleanup) if transformer is classic_prompt), 0)


def unload_ipython_extension(ipython: Any) -> None:
    # The cached model is deliberately kept: %reload_ext must not load it again.
    magics = _registered.pop(id(ipython), None)
    table = ipython.magics_manager.magics
    for kind, name in (("line", "qwen"), ("line", "qwen_oneline"), ("cell", "qwen")):
        table[kind].pop(name, None)
    for transformer in (one_line_cells, guard_doctest_prompts):
        if transformer in ipython.input_transformers_cleanup:
            ipython.input_transformers_cleanup.remove(transformer)
    if magics is not None:
        ipython.magics_manager.registry.pop(type(magics).__name__, None)
        session.current().unregister(_SessionDefaults(magics))
        magics.completion_front_ends.uninstall()
        if magics.failures is not None:
            magics.failures.uninstall()

