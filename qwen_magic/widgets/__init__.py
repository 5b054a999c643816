"""The tuning panel (``%qwen panel``, ``qwen_magic.panel()``), one job per module.

:mod:`.state` — the buttons' state machine (pure); :mod:`.view` — the widgets and the HTML
they show; :mod:`.frontend` — the browser side of Insert and Copy (ipylab, clipboard JS);
:mod:`.panel` — :class:`QwenPanel`, which wires them to a worker thread and to the kernel's
:mod:`qwen_magic.session`. Not called ``panel/``: that would shadow ``qwen_magic.panel()``.
"""

from __future__ import annotations

from .frontend import FrontEnd, copy_script, shared_frontend
from .panel import DEFAULT_UPDATE_INTERVAL, QwenPanel
from .state import BUTTONS, RUNNING, TRANSITIONS, Event, State, buttons_for, next_state
from .view import CURSOR, PANEL_SETTINGS, SLIDERS, SliderSpec

__all__ = [
    "BUTTONS", "CURSOR", "DEFAULT_UPDATE_INTERVAL", "PANEL_SETTINGS", "RUNNING", "SLIDERS",
    "TRANSITIONS", "Event", "FrontEnd", "QwenPanel", "SliderSpec", "State", "buttons_for",
    "copy_script", "next_state", "shared_frontend",
]
