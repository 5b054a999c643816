"""What the magics and the panel share in one kernel, kept below both of them.

The panel needs the ``%%qwen`` defaults (to start from them, and to change them with "Use
as defaults"), the model the magics would use, and a place to leave its last code for
``%qwen insert``. Before this module the panel imported the magics for that and the magics
imported the panel back. Now the notebook side *registers* itself here at ``%load_ext``
(:meth:`Session.register`), the panel only reads and writes the session, and neither imports
the other.

Without a registration (``qwen_magic.panel()`` with no ``%load_ext``) the session answers
with :class:`GenerationConfig` defaults and the default local provider, as the panel did on
its own. Imports neither IPython nor ipywidgets: the CLI and plain Python can use it too.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol

from . import api
from .config import GenerationConfig
from .result import GenerationResult


class Defaults(Protocol):
    """What ``%load_ext`` registers: the ``%%qwen`` side seen only through what others need.

    The magics hand in an adapter over their ``%config`` traits (see ``notebook/magics.py``); tests
    hand in a plain object. Equality decides what :meth:`Session.unregister` removes.
    """

    @property
    def update_interval(self) -> float:
        """Seconds between live output updates (``%config QwenMagics.update_interval``)."""
        ...

    def generation_config(self) -> GenerationConfig:
        """The current ``%%qwen`` defaults."""
        ...

    def set_generation_defaults(self, values: Mapping[str, Any]) -> None:
        """Make ``values`` (GenerationConfig field names) the defaults of later cells."""
        ...

    def provider(self) -> Any:
        """The provider a ``%%qwen`` cell without options would use."""
        ...

    def loading(self) -> bool:
        """Whether the model is still loading in the background (started by ``%load_ext``)."""
        ...

    def publish(self, result: GenerationResult) -> None:
        """Show ``result`` to the user the way a cell does (``_qwen`` in the namespace)."""
        ...


class Session:
    """One kernel's shared state: the registered defaults, if any, and the panel's last code.

    Read from the panel's worker and watcher threads while the kernel thread registers and
    unregisters: every read takes the registration once into a local, so a concurrent
    ``%unload_ext`` yields either the old answer or the fallback, never a half of each.
    """

    def __init__(self) -> None:
        self._defaults: Defaults | None = None
        #: The code of the last complete panel answer (what ``%qwen insert`` inserts).
        self.last_code: str | None = None

    # -- registration (the notebook side) -------------------------------------------------

    def register(self, defaults: Defaults) -> None:
        """Make ``defaults`` the ones every panel reads and writes (``%load_ext``)."""
        self._defaults = defaults

    def unregister(self, defaults: Defaults) -> bool:
        """Forget ``defaults`` if they are still the registered ones (``%unload_ext``).

        A stale unregister (a newer ``%load_ext`` registered since) leaves the newer alone.
        """
        if self._defaults is not None and self._defaults == defaults:
            self._defaults = None
            return True
        return False

    @property
    def registered(self) -> bool:
        """Whether the extension is loaded: "Use as defaults" has somewhere to write."""
        return self._defaults is not None

    # -- what the panel reads and writes --------------------------------------------------

    def generation_defaults(self) -> GenerationConfig:
        """The ``%%qwen`` defaults, or :class:`GenerationConfig`'s own without the extension."""
        defaults = self._defaults
        return defaults.generation_config() if defaults is not None else GenerationConfig()

    def set_generation_defaults(self, values: Mapping[str, Any]) -> bool:
        """Write ``values`` through to the ``%%qwen`` defaults; False when none are registered.

        Options written on a ``%%qwen`` cell still win for that cell, exactly as with
        ``%config``: this changes the defaults, not the cells' arguments.
        """
        defaults = self._defaults
        if defaults is None:
            return False
        defaults.set_generation_defaults(values)
        return True

    def provider(self) -> Any:
        """The magics' provider (honouring ``%config`` provider / model_path / n_ctx /
        n_threads), else the default local one."""
        defaults = self._defaults
        return defaults.provider() if defaults is not None else api.get_provider()

    def loading(self) -> bool:
        """Whether the extension's background load of the model is still running."""
        defaults = self._defaults
        return defaults is not None and defaults.loading()

    def update_interval(self, fallback: float) -> float:
        """The magics' pace of live updates, or ``fallback`` without the extension."""
        defaults = self._defaults
        return defaults.update_interval if defaults is not None else fallback

    def record_answer(self, result: GenerationResult) -> None:
        """A finished panel answer: published like a cell's, and kept for ``%qwen insert``.

        Only a complete answer with code replaces the last code: a stopped answer's code is
        cut off mid-way, and an answer without code would leave ``%qwen insert`` nothing.
        """
        if result.finish_reason != "cancelled" and result.code.strip():
            self.last_code = result.code
        defaults = self._defaults
        if defaults is not None:
            defaults.publish(result)


_current = Session()


def current() -> Session:
    """This kernel's session (one per process, as there is one kernel per process)."""
    return _current


__all__ = ["Defaults", "Session", "current"]
