"""What a provider is doing now: one record, rendered by ``%qwen status``, the panel's model
line and ``qwen-magic info``.

:func:`provider_status` never loads a model, and contacts a server only when asked to
(``check=True``, for ``%qwen status``): the panel polls it. Imports neither IPython nor
ipywidgets.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .errors import QwenMagicError
from .providers.fallback import FallbackProvider


@dataclass(frozen=True)
class LocalModelStatus:
    """The GGUF model of a local provider: loaded into this process or not (yet)."""

    path: Path  # the loaded file, else the one a request would load
    size_mb: float | None  # None if the file cannot be read any more
    loaded: bool
    loading: bool  # the extension's background load is running
    n_ctx: int  # the loaded model's, else the configured one
    n_threads: int
    load_seconds: float | None  # unrounded
    busy: bool  # a generation holds the model


@dataclass(frozen=True)
class RemoteStatus:
    """A model this process does not load: an OpenAI-compatible server's (or a test fake's)."""

    endpoint: str | None
    model: str | None  # None: the server's only model, not asked for yet
    api_key: str | None = None  # where the key comes from ("from $QWEN_MAGIC_API_KEY", "none")
    reachable: bool | None = None  # None: not checked
    served_models: list[str] | None = None


@dataclass(frozen=True)
class ProviderStatus:
    provider: str  # the provider's name: "local", "openai", "fallback" (no model found), ...
    local: LocalModelStatus | None = None
    remote: RemoteStatus | None = None
    problem: str | None = None  # what keeps it from answering (no model, unreachable server)
    process_rss_mb: int | None = None

    def as_dict(self) -> dict[str, Any]:
        """The fields that apply, in ``%qwen status``'s order and names."""
        info: dict[str, Any] = {"provider": self.provider}
        local, remote = self.local, self.remote
        if local is not None:
            info.update({
                "model": str(local.path), "size_mb": local.size_mb, "loaded": local.loaded,
                "loading": local.loading, "n_ctx": local.n_ctx, "n_threads": local.n_threads,
                "load_seconds": None if local.load_seconds is None else round(local.load_seconds, 2),
                "busy": local.busy,
            })
        elif remote is not None:
            if remote.endpoint is not None:
                info["endpoint"] = remote.endpoint
            info["model"] = remote.model or "(the server's only model)"
            if remote.api_key is not None:
                info["api_key"] = remote.api_key
            if remote.served_models is not None:
                info["served_models"] = remote.served_models
            if remote.reachable is not None:
                info["reachable"] = remote.reachable
        else:
            info["model"] = None
        if self.problem is not None:
            info["problem"] = self.problem
        info["process_rss_mb"] = self.process_rss_mb
        return info


def model_lock(provider: Any) -> Any:
    """The lock that serialises generation on ``provider``'s model, if there is one yet.

    The local provider's lock lives on the loaded model (``LoadedModel.lock``); other
    providers (the fake one in tests) may keep their own ``lock``.
    """
    loader = getattr(provider, "loader", None)
    if loader is not None:
        model = loader.cached()
        return None if model is None else model.lock
    return getattr(provider, "lock", None)


def provider_status(provider: Any, *, loading: bool = False, check: bool = False) -> ProviderStatus:
    """The status of ``provider``: ``loading`` says the extension's background load is running;
    ``check`` asks a remote server which models it serves (a network round trip)."""
    name = str(getattr(provider, "name", type(provider).__name__))
    rss = process_rss_mb()
    if isinstance(provider, FallbackProvider):
        return ProviderStatus(name, problem=str(provider.error), process_rss_mb=rss)
    if getattr(provider, "loader", None) is not None:
        try:
            local = _local_status(provider, loading)
        except QwenMagicError as exc:  # the file went away since the provider was made
            return ProviderStatus(name, problem=str(exc), process_rss_mb=rss)
        return ProviderStatus(name, local=local, process_rss_mb=rss)
    remote, problem = _remote_status(provider, check)
    return ProviderStatus(name, remote=remote, problem=problem, process_rss_mb=rss)


def _local_status(provider: Any, loading: bool) -> LocalModelStatus:
    loader = provider.loader
    model = loader.cached()
    path = model.path if model is not None else loader.resolve()
    try:
        size_mb: float | None = round(path.stat().st_size / 1024**2, 1)
    except OSError:
        size_mb = None
    config = model.config if model is not None else loader.config
    return LocalModelStatus(
        path=path, size_mb=size_mb, loaded=model is not None, loading=loading,
        n_ctx=config.n_ctx, n_threads=config.n_threads,
        load_seconds=model.load_seconds if model is not None else None,
        busy=bool(model is not None and model.lock.locked()),
    )


def _remote_status(provider: Any, check: bool) -> tuple[RemoteStatus, str | None]:
    from .providers.openai import OpenAICompatibleProvider

    about = provider.describe()  # no network: what a notebook saves as provenance
    endpoint, model = about.get("endpoint"), about.get("model")
    if not isinstance(provider, OpenAICompatibleProvider):
        return RemoteStatus(endpoint, model), None
    from .settings import api_key_source

    if not check:
        return RemoteStatus(endpoint, model, api_key_source()), None
    live = provider.status()  # endpoint, model, key set or not (never the key), live check
    remote = RemoteStatus(endpoint, model, live["api_key"], live["reachable"],
                          live.get("served_models"))
    return remote, live.get("problem")


def process_rss_mb() -> int:
    """This process's resident memory in MB (the model is most of it once loaded)."""
    import psutil

    return round(psutil.Process().memory_info().rss / 1024**2)


__all__ = ["LocalModelStatus", "ProviderStatus", "RemoteStatus", "model_lock", "process_rss_mb",
           "provider_status"]
