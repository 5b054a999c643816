"""The panel's buttons as a small explicit state machine.

Button clicks (comm messages on the kernel thread), the worker thread and the watcher thread
all move the panel along; a table of allowed transitions, rather than enable/disable calls
scattered over the handlers, keeps their races harmless and lets the unit tests check every
state without a browser. Pure: no ipywidgets here.
"""

from __future__ import annotations

import enum


class State(str, enum.Enum):
    IDLE = "idle"              # ready for Generate
    BUSY = "busy"              # someone else (a %%qwen cell, another panel) holds the model
    WAITING = "waiting"        # Generate pressed; the model is loading or still busy
    GENERATING = "generating"  # tokens are streaming into the panel
    STOPPING = "stopping"      # Stop pressed; the worker ends at the next token


class Event(str, enum.Enum):
    GENERATE = "generate"  # the Generate button
    STARTED = "started"    # the provider holds the model and read the prompt
    STOP = "stop"          # the Stop button
    FINISHED = "finished"  # the worker is done (finished, stopped or failed)
    BUSY = "busy"          # the watcher saw another generation take the model
    FREE = "free"          # ... and give it back


TRANSITIONS: dict[tuple[State, Event], State] = {
    (State.IDLE, Event.GENERATE): State.WAITING,
    (State.IDLE, Event.BUSY): State.BUSY,
    (State.BUSY, Event.FREE): State.IDLE,
    (State.WAITING, Event.STARTED): State.GENERATING,
    (State.WAITING, Event.STOP): State.STOPPING,
    (State.WAITING, Event.FINISHED): State.IDLE,
    (State.GENERATING, Event.STOP): State.STOPPING,
    (State.GENERATING, Event.FINISHED): State.IDLE,
    (State.STOPPING, Event.FINISHED): State.IDLE,
}
# Anything else (a double click on Generate, a late STARTED after Stop) leaves the state as
# it is: button clicks and worker callbacks race, and ignoring is the safe answer.

RUNNING = frozenset({State.WAITING, State.GENERATING, State.STOPPING})

#: The panel's buttons, by the names :func:`buttons_for` answers for.
BUTTONS = ("generate", "stop", "insert", "copy", "defaults")


def next_state(state: State, event: Event) -> State | None:
    """The state after ``event``, or None when the event does not apply in ``state``."""
    return TRANSITIONS.get((state, event))


def buttons_for(state: State, has_code: bool, complete: bool) -> dict[str, bool]:
    """Which buttons are enabled. Insert needs a complete answer (as a cell does: a stopped
    answer's code is cut off mid-way); Copy takes whatever code is shown."""
    running = state in RUNNING
    return {
        "generate": state is State.IDLE,
        "stop": state in (State.WAITING, State.GENERATING),
        "insert": not running and has_code and complete,
        "copy": not running and has_code,
        "defaults": True,
    }


__all__ = ["BUTTONS", "RUNNING", "TRANSITIONS", "Event", "State", "buttons_for", "next_state"]
