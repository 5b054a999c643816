"""What a provider is doing now: one record, rendered by ``%qwen status``, the panel's model
line and ``qwen-magic info``.

The record is the provider's own (:class:`~.providers.base.ReportsStatus`); this adds what
only the front end knows — whether the extension's background load is running, and this
process's resident memory. :func:`provider_status` never loads a model, and contacts a server
only when asked to (``check=True``, for ``%qwen status``): the panel polls it. Imports neither
IPython nor ipywidgets, and no provider class: it asks what a provider can do.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from .errors import QwenMagicError
from .providers.base import Completes, ReportsStatus, ServesOneAtATime
from .providers.status import LocalModelStatus, ProviderStatus, RemoteStatus, completion_line


def is_busy(provider: Any) -> bool:
    """Whether a generation holds ``provider``'s model now (False when it loads none here)."""
    return isinstance(provider, ServesOneAtATime) and provider.is_busy()


def provider_status(provider: Any, *, loading: bool = False, check: bool = False) -> ProviderStatus:
    """The status of ``provider``: ``loading`` says the extension's background load is running;
    ``check`` asks a remote server which models it serves (a network round trip)."""
    rss = process_rss_mb()
    name = str(provider.name)
    if isinstance(provider, ReportsStatus):
        try:
            status = provider.status(check=check)
        except QwenMagicError as exc:  # e.g. the model file went away since the provider was made
            status = ProviderStatus(name, problem=str(exc))
    else:  # a provider that only streams: what its describe() says
        about = provider.describe()
        status = ProviderStatus(name, remote=RemoteStatus(about.get("endpoint"), about.get("model")))
    if status.completion is None and isinstance(provider, Completes):
        status = dataclasses.replace(
            status, completion=completion_line(provider.completion_problem(check=check),
                                               "fill in the middle"))
    if status.local is not None and loading:
        status = dataclasses.replace(status, local=dataclasses.replace(status.local, loading=True))
    return dataclasses.replace(status, process_rss_mb=rss)


def process_rss_mb() -> int:
    """This process's resident memory in MB (the model is most of it once loaded)."""
    import psutil

    return round(psutil.Process().memory_info().rss / 1024**2)


__all__ = ["LocalModelStatus", "ProviderStatus", "RemoteStatus", "is_busy", "process_rss_mb",
           "provider_status"]
