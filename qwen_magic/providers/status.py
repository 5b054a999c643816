"""The status record a provider reports (:class:`~.base.ReportsStatus`).

One record for every provider, rendered by ``%qwen status``, the panel's model line and
``qwen-magic info`` (:mod:`qwen_magic.status` adds what only the front end knows: whether the
extension's background load runs, and this process's memory).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class LocalModelStatus:
    """A model loaded into this process, or not (yet)."""

    path: Path  # the loaded file, else the one a request would load
    size_mb: float | None  # None if the file cannot be read any more
    loaded: bool
    loading: bool  # the extension's background load is running
    n_ctx: int  # the loaded model's, else the configured one
    n_threads: int
    load_seconds: float | None  # unrounded
    busy: bool  # a generation holds the model
    memory_mb: int | None = None  # what it takes loaded (weights, context, buffers): estimated


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
    provider: str  # the provider's registered name: "local", "openai", ...
    local: LocalModelStatus | None = None
    remote: RemoteStatus | None = None
    problem: str | None = None  # what keeps it from answering (no model, unreachable server)
    process_rss_mb: int | None = None
    #: "available (…how…)", "unavailable — <why>", or None when the provider cannot complete.
    completion: str | None = None
    #: No model file was found: ``%qwen pull`` is the fix (the panel says so).
    needs_model: bool = False

    def as_dict(self) -> dict[str, Any]:
        """The fields that apply, in ``%qwen status``'s order and names."""
        info: dict[str, Any] = {"provider": self.provider}
        local, remote = self.local, self.remote
        if local is not None:
            info.update({
                "model": str(local.path), "size_mb": local.size_mb, "loaded": local.loaded,
                "loading": local.loading, "n_ctx": local.n_ctx, "n_threads": local.n_threads,
                "load_seconds": None if local.load_seconds is None else round(local.load_seconds, 2),
                "busy": local.busy, "memory_mb": local.memory_mb,
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
        info["completion"] = self.completion or "unavailable — this provider does not fill in the middle"
        info["process_rss_mb"] = self.process_rss_mb
        return info


def completion_line(problem: str | None, how: str) -> str:
    """The ``completion`` field: "available (how)" or "unavailable — why"."""
    return f"unavailable — {problem}" if problem else f"available ({how})"


__all__ = ["LocalModelStatus", "ProviderStatus", "RemoteStatus", "completion_line"]
