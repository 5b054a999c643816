"""``%%qwen`` and ``%qwen``: the notebook face of the API.

Thin by design (like IPython's own extensions): argument grammar in :mod:`.grammar`,
prompt building in :mod:`qwen_magic.prompting`, generation in :mod:`qwen_magic.api`, output
in :mod:`.output`, insertion in :mod:`.insert`. This module wires them to IPython and holds the
settings as traitlets, so ``%config QwenMagics.temperature = 0.2`` and ``ipython_config.py``
work as for any IPython extension.
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from importlib.metadata import version as package_version
from typing import TYPE_CHECKING, Any

from IPython.core.error import UsageError
from IPython.core.magic import Magics, cell_magic, line_magic, magics_class, no_var_expand
from traitlets import Bool, Float, Int, TraitError, Unicode, default, validate

from .. import api, session, settings
from ..errors import ConfigError, GenerationCancelled
from ..options import GENERATION, MODEL_SETTINGS, GenerationConfig, ModelConfig, given, on
from ..prompting import build_context, compose_prompt, interpolate
from ..providers.fallback import FallbackProvider
from ..providers.local import models
from ..result import GenerationResult
from ..status import provider_status
from ..streaming import TextIOSink, ThrottledSink
from .completer import CompletionFrontEnds
from .grammar import HELP, LINE_HELP, parse_cell_args, split_line
from .insert import insert_code_cell, is_terminal
from .traits import option_traits

# The option traits (temperature ... n_ctx, n_threads, provider, base_url, format) come from
# the registry (qwen_magic/options.py); only the magics' own settings are written out here.
if TYPE_CHECKING:  # mypy cannot follow a class made at import; its traits read as Any
    _OptionTraits: Any = object
else:
    _OptionTraits = option_traits()


@magics_class
class QwenMagics(Magics, _OptionTraits):
    """Generate code with a local Qwen2.5-Coder. Settings below are ``%config`` traits."""

    model_path = Unicode(
        None, allow_none=True, help="Path of the .gguf model (default: the search path)."
    ).tag(config=True)
    preload = Bool(True, help="Start loading the model in the background at %load_ext.").tag(config=True)

    # Where answers come from (docs/remote-engines.md). Defaults come from the environment so
    # a team can point every notebook at one server without touching the notebooks.
    remote_model = Unicode(None, allow_none=True, help=(
        "The server's model name. Default $QWEN_MAGIC_REMOTE_MODEL, else the only model the "
        "server lists.")).tag(config=True)

    @default("provider")
    def _default_provider(self) -> str:
        return settings.provider_kind()

    @default("base_url")
    def _default_base_url(self) -> str | None:
        from ..providers.openai import normalize_base_url

        url = settings.base_url()
        return normalize_base_url(url) if url else None  # defaults skip @validate

    @default("remote_model")
    def _default_remote_model(self) -> str | None:
        return settings.remote_model()

    @validate("base_url")
    def _validate_base_url(self, proposal: Any) -> Any:
        from ..providers.openai import normalize_base_url

        if proposal["value"] is None:
            return None
        try:
            return normalize_base_url(proposal["value"])
        except ConfigError as exc:
            raise TraitError(str(exc)) from None

    insert = Bool(True, help="Insert the generated code as a new cell below (never run).").tag(config=True)
    footer = Bool(True, help="Show tokens, tok/s and time to first token under each answer.").tag(config=True)
    context_tokens = Int(1500, help="Token budget of --context (cells and variables).").tag(config=True)
    update_interval = Float(0.1, help="Seconds between live output updates.").tag(config=True)

    def __init__(self, shell: Any = None, **kwargs: Any) -> None:
        super().__init__(shell=shell, **kwargs)
        self._preload: threading.Thread | None = None

    # -- shared pieces --------------------------------------------------------------------

    def generation_config(self, **overrides: Any) -> GenerationConfig:
        """The traits' settings, with ``overrides`` (None: "not given") on top."""
        traits = {spec.name: getattr(self, spec.name) for spec in on("trait", GENERATION)}
        return GenerationConfig(**traits).replace(**overrides)

    def model_config(self, path: str | None = None) -> ModelConfig:
        traits = {spec.name: getattr(self, spec.name) for spec in on("trait", MODEL_SETTINGS)}
        return ModelConfig(path=path or self.model_path, **traits)

    def get_provider(
        self, path: str | None = None, *, kind: str | None = None, base_url: str | None = None
    ) -> Any:
        """The provider for one request: a cell's --provider/--base-url win over the traits.

        A --base-url on the cell means the openai provider; there ``path`` (--model) is the
        server's model name rather than a file.
        """
        kind = kind or ("openai" if base_url else self.provider)
        if kind == "openai":
            return api.get_provider(
                path or self.remote_model, provider="openai", base_url=base_url or self.base_url
            )
        return api.get_provider(model_config=self.model_config(path), provider="local")

    def start_preload(self) -> None:
        """Load the model in a background thread so %load_ext returns at once."""
        provider = self.get_provider()
        model_loader = getattr(provider, "loader", None)  # remote providers load nothing here
        if model_loader is None or model_loader.cached():
            return

        def load() -> None:
            try:
                model_loader.load()
            except Exception:  # noqa: BLE001 - the first cell loads again and shows the error
                pass

        self._preload = threading.Thread(target=load, name="qwen-magic-preload", daemon=True)
        self._preload.start()

    @property
    def loading(self) -> bool:
        """Whether the background load started by %load_ext is still running."""
        return bool(self._preload and self._preload.is_alive())

    def wait_for_preload(self, status: Any) -> None:
        thread = self._preload
        if thread is None or not thread.is_alive():
            return
        try:  # the status update too: an interrupt can land while it is being sent
            status("⏳ loading the model (first use in this kernel)…")
            while thread.is_alive():
                thread.join(0.1)  # short waits so Kernel → Interrupt gets through
        except KeyboardInterrupt:
            # llama.cpp cannot be stopped halfway through a load; it finishes in the
            # background. One line instead of a KeyboardInterrupt traceback from threading.
            status("⏹ interrupted — the model keeps loading in the background")
            raise GenerationCancelled(
                "interrupted while the model was loading; it keeps loading in the background "
                "— run the cell again."
            ) from None

    def _notice(self, message: str) -> None:
        print(message, file=sys.stderr)

    def provenance(self, result: GenerationResult) -> dict[str, Any]:
        return {"qwen_magic": {
            "version": package_version("qwen-magic"),
            **result.provenance,
            **(result.config.as_dict() if result.config else {}),
            "prompt_tokens": result.prompt_tokens,
            "completion_tokens": result.completion_tokens,
            "finish_reason": result.finish_reason,
        }}

    # -- %%qwen ---------------------------------------------------------------------------

    # no_var_expand on every entry point: IPython would otherwise evaluate `{expr}` and
    # `$name` in the magic line as Python before we see it — running code the user meant
    # as prompt text, and undoing the `{{name}}` escape — whenever the whole line expands.
    @cell_magic("qwen")
    @no_var_expand
    def qwen_cell(self, line: str, cell: str | None = None) -> None:
        args, words = parse_cell_args(line)
        if args.help:
            print(HELP)
            return
        prompt = "\n".join(part for part in (words.strip(), (cell or "").strip()) if part)
        self.ask(prompt, args)

    def ask(self, prompt: str, args: Any) -> GenerationResult:
        namespace = self.shell.user_ns
        prompt = interpolate(prompt, namespace, self._notice)
        api.check_prompt(prompt)
        config = self.generation_config(**given(args, on("magic", GENERATION)))  # the cell's win
        if args.context:
            context = build_context(
                self._previous_cells(), namespace, hidden=self.shell.user_ns_hidden,
                budget_chars=self.context_tokens * 4,
            )
            prompt = compose_prompt(prompt, context)
        provider = self.get_provider(args.model, kind=args.provider, base_url=args.base_url)
        fmt = args.format or self.format
        sink, status = self._output(fmt, args)
        if args.model is None and getattr(provider, "loader", None) is not None:
            self.wait_for_preload(status)
        loader_ = getattr(provider, "loader", None)  # only local providers load a model
        try:
            if loader_ is not None:
                model = loader_.cached()
                if model is None:
                    status("⏳ loading the model…")
                elif model.lock.locked():
                    status("⏳ the model is busy with another generation (the panel?); waiting…")
            result = api.run(prompt, config, provider=provider, sinks=[sink])
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
        self.shell.user_ns["_qwen"] = result
        if args.out:
            self.shell.user_ns[args.out] = result
        if result.interrupted:
            raise GenerationCancelled(
                "interrupted — the partial answer is kept above; nothing was inserted.", result
            )
        if result.finish_reason != "cancelled" and self.insert and not args.no_insert:
            insert_code_cell(self.shell, result.cell_source())
        return result

    def _output(self, fmt: str, args: Any) -> tuple[Any, Any]:
        if is_terminal(self.shell):
            sink = _TerminalSink(self.footer and not args.no_footer)
            return sink, lambda message: message and print(message, file=sys.stderr)
        from .output import NotebookSink

        inner = NotebookSink(fmt, self.footer and not args.no_footer, self.provenance)
        return ThrottledSink(inner, self.update_interval), inner.status

    def _previous_cells(self) -> list[str]:
        history = list(self.shell.user_ns.get("In", []))
        return history[1:-1]  # In[0] is empty; the last entry is this very cell

    # -- %qwen ----------------------------------------------------------------------------

    @line_magic("qwen")
    @no_var_expand
    def qwen_line(self, line: str) -> Any:
        command, _, rest = line.strip().partition(" ")
        rest = rest.strip()
        handlers = {
            "status": self.cmd_status, "load": self.cmd_load, "unload": self.cmd_unload,
            "config": self.cmd_config, "pull": self.cmd_pull, "help": self.cmd_help,
            "panel": self.cmd_panel, "insert": self.cmd_insert,
        }
        if not command:
            raise UsageError("%qwen needs a subcommand or a prompt; `%qwen help` lists them.")
        if command in handlers and is_subcommand(command, rest):
            return handlers[command](rest)
        return self.qwen_cell(line, None)

    @line_magic("qwen_oneline")
    @no_var_expand
    def qwen_oneline(self, line: str) -> None:
        """A ``%%qwen <prompt>`` cell with no body, rewritten by :func:`one_line_cells`."""
        return self.qwen_cell(line, None)

    def cmd_help(self, _: str) -> None:
        print(LINE_HELP)

    def status_info(self) -> dict[str, Any]:
        return provider_status(self.get_provider(), loading=self.loading, check=True).as_dict()

    def cmd_status(self, _: str) -> None:
        for key, value in self.status_info().items():
            print(f"{key:<15} {value}")

    def cmd_load(self, path: str) -> None:
        provider = self.get_provider(path or None, kind="local")  # `load` is about this kernel
        if isinstance(provider, FallbackProvider):
            raise provider.error
        model = provider.loader.load()
        if path:  # only once it loaded: a bad path must not break every later cell
            self.model_path = path
        print(f"Loaded {model.path.name} (n_ctx {model.config.n_ctx}, "
              f"{model.config.n_threads} threads) in {model.load_seconds:.2f} s.")

    def cmd_unload(self, _: str) -> None:
        print("Model unloaded." if models.unload() else "No model was loaded.")

    def cmd_config(self, _: str) -> None:
        for name in sorted(self.trait_names(config=True)):
            print(f"QwenMagics.{name:<16} = {getattr(self, name)!r}")

    def cmd_pull(self, rest: str) -> None:
        from ..providers.local.pull import pull

        source = rest or "auto"
        pull(source)

    def cmd_panel(self, _: str) -> Any:
        # The panel finds these magics' defaults through the session (registered at
        # %load_ext), not through this object: it never imports this module.
        from ..widgets import QwenPanel

        return QwenPanel()

    def cmd_insert(self, _: str) -> None:
        code = session.current().last_code
        if not code:
            raise UsageError("The panel has produced no code yet; press Generate in `%qwen panel` first.")
        insert_code_cell(self.shell, code)


class _TerminalSink(TextIOSink):
    """Terminal IPython: tokens printed as they come, stats after."""

    def __init__(self, footer: bool) -> None:
        super().__init__(None)
        self.footer = footer

    def on_finish(self, result: GenerationResult) -> None:
        super().on_finish(result)
        if result.finish_reason == "cancelled":
            print("[interrupted — nothing inserted]", file=sys.stderr)
        elif self.footer:
            print(f"[{result.stats_line()}]", file=sys.stderr)


def is_subcommand(command: str, rest: str) -> bool:
    """Whether ``%qwen <command> <rest>`` is a subcommand or a prompt starting with that word.

    "%qwen help me parse dates" and "%qwen load a CSV into pandas" are prompts; "%qwen help"
    and "%qwen load models/x.gguf" are subcommands.
    """
    if command == "load":
        return not rest or rest.endswith(".gguf") or "/" in rest
    if command == "pull":
        return rest in ("", "auto", "hub", "pypi-mirror")
    return not rest


def one_line_cells(lines: list[str]) -> list[str]:
    """Let ``%%qwen write hello world`` be a whole cell.

    IPython refuses a cell magic whose body is empty, so a cell holding only the magic line
    is rewritten to a line magic that runs the same code path with an empty body — but only
    when that line holds prompt words (or asks for --help). ``%%qwen -n 400`` alone is the
    start of a cell whose prompt follows as its body: terminal IPython must keep reading it.
    """
    if not lines or not lines[0].startswith("%%qwen ") or "".join(lines[1:]).strip():
        return lines
    line = lines[0][len("%%qwen "):].rstrip("\n")
    try:
        options, words = split_line(line)
    except UsageError:
        return ["%qwen_oneline " + line + "\n"]  # the magic reports the bad option
    if words.strip() or {"-h", "--help"} & set(options):
        return ["%qwen_oneline " + line + "\n"]
    return lines


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
    if one_line_cells not in ipython.input_transformers_cleanup:
        ipython.input_transformers_cleanup.append(one_line_cells)
    if magics.preload:
        magics.start_preload()
    magics.completion_front_ends = CompletionFrontEnds(ipython, magics)
    magics.completion_front_ends.install()


def unload_ipython_extension(ipython: Any) -> None:
    # The cached model is deliberately kept: %reload_ext must not load it again.
    magics = _registered.pop(id(ipython), None)
    table = ipython.magics_manager.magics
    for kind, name in (("line", "qwen"), ("line", "qwen_oneline"), ("cell", "qwen")):
        table[kind].pop(name, None)
    if one_line_cells in ipython.input_transformers_cleanup:
        ipython.input_transformers_cleanup.remove(one_line_cells)
    if magics is not None:
        ipython.magics_manager.registry.pop(type(magics).__name__, None)
        session.current().unregister(_SessionDefaults(magics))
        magics.completion_front_ends.uninstall()

