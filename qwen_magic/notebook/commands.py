"""The ``%qwen`` subcommands: plain functions and the table that names them.

As in IPython's own ``storemagic.py``, the logic sits in functions beside the one small
``Magics`` class; as in jupyter-ai's magics, the line magic hands them a parse result
(:func:`parse`) rather than deciding anything itself. A subcommand sees the magics only
through :class:`Host` — the few things it needs of them — so this module does not import
:mod:`.magics` (which imports it).

A new subcommand is a function ``(host, rest)`` here, one entry in :data:`COMMANDS`, and a
line in :data:`.grammar.LINE_HELP`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from IPython.core.error import UsageError

from .. import api, catalog, session
from ..fixing import explain_prompt
from ..providers.base import Provider
from .conversation import Conversation
from .failures import FailureLog
from .grammar import LINE_HELP, parse_cell_args
from .insert import insert_code_cell

if TYPE_CHECKING:
    from IPython.core.interactiveshell import InteractiveShell


class Host(Protocol):
    """What a subcommand uses of the magics that run it (:class:`.magics.QwenMagics`)."""

    model_path: str | None
    conversation: Conversation
    failures: FailureLog | None

    @property
    def ipython(self) -> InteractiveShell: ...

    def get_provider(
        self, path: str | None = None, *, kind: str | None = None, base_url: str | None = None
    ) -> Provider: ...

    def status_info(self) -> dict[str, Any]: ...

    def trait_names(self, **metadata: Any) -> list[str]: ...

    def ask(self, prompt: str, args: Any, *, literal: bool = False) -> Any: ...

    def fix(self, failure: Any, args: Any) -> Any: ...


Handler = Callable[[Host, str], Any]


def cmd_help(host: Host, rest: str) -> None:
    print(LINE_HELP)


def cmd_status(host: Host, rest: str) -> None:
    for key, value in host.status_info().items():
        print(f"{key:<15} {value}")


def cmd_load(host: Host, path: str) -> None:
    # `load` is about this kernel: the model file, even when answers come from a server.
    provider = host.get_provider(path or None, kind="local")
    loaded = api.load_model(provider)
    if loaded is None:
        raise UsageError(f"%qwen load: the {provider.name} provider loads no model in this kernel.")
    if path:  # only once it loaded: a bad path must not break every later cell
        host.model_path = path
    print(f"Loaded {loaded.name} (n_ctx {loaded.n_ctx}, "
          f"{loaded.n_threads} threads) in {loaded.load_seconds:.2f} s.")


def cmd_unload(host: Host, rest: str) -> None:
    unloaded = api.unload_model(host.get_provider(kind="local"))
    print("Model unloaded." if unloaded else "No model was loaded.")


def cmd_config(host: Host, rest: str) -> None:
    for name in sorted(host.trait_names(config=True)):
        print(f"QwenMagics.{name:<16} = {getattr(host, name)!r}")


def cmd_pull(host: Host, rest: str) -> None:
    """``%qwen pull [NAME|SOURCE]``: a catalog model by name, or the default from a source."""
    if rest in ("", "auto", "hub", "pypi-mirror"):
        api.pull_model(rest or "auto")
    else:
        api.pull_model("auto", model=rest)


def cmd_panel(host: Host, rest: str) -> Any:
    # The panel finds the magics' defaults through the session (registered at %load_ext),
    # not through the magics: it never imports the notebook package.
    from ..widgets import QwenPanel

    return QwenPanel()


def cmd_insert(host: Host, rest: str) -> None:
    code = session.current().last_code
    if not code:
        raise UsageError("The panel has produced no code yet; press Generate in `%qwen panel` first.")
    insert_code_cell(host.ipython, code)


def _last_failure(host: Host, what: str) -> Any:
    failure = host.failures.last if host.failures is not None else None
    if failure is None:
        hint = "; `%qwen explain N` explains cell In[N]" if what == "explain" else ""
        raise UsageError(f"%qwen {what}: no cell has failed so far in this session{hint}.")
    return failure


def cmd_fix(host: Host, rest: str) -> None:
    """The last failed cell, corrected by the model: a diagnosis, then the whole corrected
    cell as a new cell below (never run in the kernel; the failed cell stays as it was).
    ``--check`` runs the correction in --check's separate process when the cell is
    self-contained."""
    args, _ = parse_cell_args(rest)
    host.fix(_last_failure(host, "fix"), args)  # shown live, no Out


def cmd_explain(host: Host, rest: str) -> None:
    """Cell ``In[N]`` (default: the last failed one) explained; nothing is inserted."""
    args, _ = parse_cell_args("")
    args.no_insert = True
    if not rest:
        failure = _last_failure(host, "explain")
        host.ask(explain_prompt(failure.source, failure), args, literal=True)
        return
    number = int(rest)
    manager = host.ipython.history_manager
    history: list[str] = manager.input_hist_raw if manager is not None else []
    if not 0 < number < len(history) or not history[number].strip():
        raise UsageError(f"%qwen explain: there is no cell In[{number}] in this session.")
    failure = host.failures.by_count.get(number) if host.failures is not None else None
    host.ask(explain_prompt(history[number], failure), args, literal=True)


def cmd_new(host: Host, rest: str) -> None:
    """Forget the conversation ``%%qwen -c`` continues."""
    host.conversation.clear()
    print("Started a new conversation.")


#: Every ``%qwen`` subcommand by name (LINE_HELP describes them).
COMMANDS: dict[str, Handler] = {
    "status": cmd_status, "load": cmd_load, "unload": cmd_unload, "config": cmd_config,
    "pull": cmd_pull, "help": cmd_help, "panel": cmd_panel, "insert": cmd_insert,
    "fix": cmd_fix, "explain": cmd_explain, "new": cmd_new,
}


def is_subcommand(command: str, rest: str) -> bool:
    """Whether ``%qwen <command> <rest>`` is a subcommand or a prompt starting with that word.

    "%qwen help me parse dates" and "%qwen load a CSV into pandas" are prompts; "%qwen help"
    and "%qwen load models/x.gguf" are subcommands. "%qwen explain" and "%qwen explain 3"
    are subcommands, "%qwen explain decorators" a prompt; "%qwen fix" with options only
    ("%qwen fix --check --model 1.5b") is a subcommand, "%qwen fix the bug in my parser" a
    prompt.
    """
    if command not in COMMANDS:
        return False
    if command == "load":
        return not rest or rest.endswith(".gguf") or "/" in rest or catalog.find(rest) is not None
    if command == "pull":
        return rest in ("", "auto", "hub", "pypi-mirror") or catalog.find(rest) is not None
    if command == "explain":
        return not rest or rest.isdigit()
    if command == "fix":  # options only: fix --check, fix --model 1.5b
        return _only_options(rest)
    return not rest


def _only_options(rest: str) -> bool:
    if not rest.startswith("-"):
        return not rest
    try:
        _, prompt = parse_cell_args(rest)
    except UsageError:  # a mistyped option: the subcommand, which says what is wrong
        return True
    return not prompt.strip()


@dataclass(frozen=True)
class Subcommand:
    """A ``%qwen`` line that names a subcommand: its handler and the rest of the line."""

    name: str
    rest: str

    def run(self, host: Host) -> Any:
        return COMMANDS[self.name](host, self.rest)


def parse(line: str) -> Subcommand | None:
    """The subcommand ``%qwen <line>`` runs, or None when the line is a one-line prompt."""
    command, _, rest = line.strip().partition(" ")
    rest = rest.strip()
    if not command:
        raise UsageError("%qwen needs a subcommand or a prompt; `%qwen help` lists them.")
    return Subcommand(command, rest) if is_subcommand(command, rest) else None


__all__ = ["COMMANDS", "Handler", "Host", "Subcommand", "is_subcommand", "parse"]
