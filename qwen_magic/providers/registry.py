"""The providers by name: each one's factory, the options that belong to it, and plugins.

``local`` (the GGUF model in this process) and ``openai`` (any OpenAI-compatible server) are
registered here; another package adds its own through the ``qwen_magic.providers`` entry point,
as jupyter-ai's ``jupyter_ai.model_providers`` and simonw/llm's ``register_models`` hook do::

    [project.entry-points."qwen_magic.providers"]
    mine = "my_package.qwen:ENTRY"          # a ProviderEntry, or a function returning one

Every list of provider names — ``--provider``'s choices in the CLI, the ``QwenMagics.provider``
trait, ``$QWEN_MAGIC_PROVIDER``'s check, ``qwen-magic info`` — comes from :func:`names`.
A plugin that fails to import is skipped with one warning line naming it; the others work.
"""

from __future__ import annotations

import threading
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib.metadata import entry_points

from .. import settings
from ..errors import ConfigError
from ..options import ModelConfig
from .base import Provider

ENTRY_POINT_GROUP = "qwen_magic.providers"


@dataclass(frozen=True)
class ProviderSettings:
    """What the front ends know of where answers should come from; each provider reads what
    belongs to it (:attr:`ProviderEntry.options`)."""

    #: local: a .gguf path (None: the search path); a server: its model name (None: its only one).
    model: str | None = None
    model_config: ModelConfig = field(default_factory=ModelConfig)
    base_url: str | None = None  # a server's URL (None: $QWEN_MAGIC_BASE_URL, then the default)
    #: "chat", or "completion": a provider that loads models here keeps the completion model
    #: apart (its own context), even on the same file. Others may ignore it.
    role: str = "chat"


@dataclass(frozen=True)
class ProviderEntry:
    """One provider: how to make it, and what it reads."""

    name: str
    #: Makes the provider (or returns a cached one) — nothing is loaded or contacted yet.
    factory: Callable[[ProviderSettings], Provider]
    help: str
    #: The settings it reads, by option name (``model``, ``base_url``, ``remote_model``, ...).
    options: tuple[str, ...] = ()
    #: Environment variables it reads an API key from, in order.
    api_key_variables: tuple[str, ...] = ()
    #: It sends prompts off this machine (data such as variable names stay home by default).
    remote: bool = False
    #: Checks and normalizes a ``base_url`` setting (raises ConfigError); None: no URL.
    check_base_url: Callable[[str], str] | None = None


_lock = threading.RLock()
_entries: dict[str, ProviderEntry] = {}
_plugins_loaded = False


def register(entry: ProviderEntry) -> None:
    """Add ``entry`` (replacing one of the same name): what the entry point's target does."""
    if not entry.name or not entry.name.isidentifier():
        raise ConfigError(f"A provider's name must be a word, got {entry.name!r}.")
    with _lock:
        _entries[entry.name.lower()] = entry


def unregister(name: str) -> None:
    with _lock:
        _entries.pop(name.lower(), None)


def names() -> tuple[str, ...]:
    """Every registered provider's name, the built-in ones first."""
    _load_plugins()
    with _lock:
        return tuple(_entries)


def entry(name: str, *, source: str = "provider") -> ProviderEntry:
    """The entry named ``name``; a ConfigError listing the names otherwise."""
    _load_plugins()
    with _lock:
        found = _entries.get(str(name).strip().lower())
    if found is None:
        raise ConfigError(f"{source} must be one of {', '.join(names())}, got {name!r}.")
    return found


def create(name: str, provider_settings: ProviderSettings) -> Provider:
    return entry(name).factory(provider_settings)


def default_name() -> str:
    """$QWEN_MAGIC_PROVIDER, checked against the registry; "local" when unset."""
    return entry(settings.provider_kind(), source=settings.PROVIDER_VARIABLE).name


def owner_of(option: str) -> str:
    """The provider a setting implies when given alone (``--base-url`` → ``openai``)."""
    for candidate in names():
        if option in _entries[candidate].options:
            return candidate
    raise ConfigError(f"No provider reads the setting {option!r}.")


def check_base_url(url: str) -> str:
    """A server URL normalized by the provider that reads one (ConfigError if malformed)."""
    checker = entry(owner_of("base_url")).check_base_url
    return checker(url) if checker is not None else url


def _load_plugins() -> None:
    """Register the ``qwen_magic.providers`` entry points, once per process."""
    global _plugins_loaded
    with _lock:
        if _plugins_loaded:
            return
        _plugins_loaded = True
        for point in entry_points(group=ENTRY_POINT_GROUP):
            load_plugin(point.name, point.value, point.load)


def load_plugin(name: str, where: str, load: Callable[[], object]) -> bool:
    """Register what one entry point names; a failure is one warning line and False."""
    try:
        target = load()
        found = target() if callable(target) and not isinstance(target, ProviderEntry) else target
        if not isinstance(found, ProviderEntry):
            raise TypeError(f"it gave {type(found).__name__}, not a ProviderEntry")
        register(found)
        return True
    except Exception as exc:  # noqa: BLE001 - a broken plugin must not break the others
        warnings.warn(f"qwen-magic: skipped the provider plugin {name!r} ({where}): "
                      f"{type(exc).__name__}: {exc}", RuntimeWarning, stacklevel=2)
        return False


# -- the built-in providers ----------------------------------------------------------------------


def _local(provider_settings: ProviderSettings) -> Provider:
    from .local.entry import create_local

    return create_local(provider_settings.model, provider_settings.model_config,
                        provider_settings.role)


def _openai(provider_settings: ProviderSettings) -> Provider:
    from .openai.entry import create_openai

    return create_openai(provider_settings.base_url, provider_settings.model)


def _normalize_url(url: str) -> str:
    from .openai.urls import normalize_base_url

    return normalize_base_url(url)


register(ProviderEntry(
    "local", _local, "the GGUF model, loaded once into this process (llama-cpp-python)",
    options=("model", "model_path", "completion_model", "n_ctx", "n_threads")))
register(ProviderEntry(
    "openai", _openai, "an OpenAI-compatible server: qwen-magic serve, llama-server, vLLM, "
    "Ollama (docs/remote-engines.md)", options=("base_url", "remote_model", "model"),
    api_key_variables=settings.API_KEY_VARIABLES, remote=True, check_base_url=_normalize_url))

__all__ = ["ENTRY_POINT_GROUP", "ProviderEntry", "ProviderSettings", "check_base_url", "create",
           "default_name", "entry", "load_plugin", "names", "owner_of", "register", "unregister"]
