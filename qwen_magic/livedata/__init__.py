"""What the notebook's live values are, as Python text a completion prompt can hold.

The model lives in the kernel, so it can be told what ``df``'s columns are, which keys a dict
built by a loop has, or the keyword names of a function imported from the user's own module
— none of which the cells spell out. :func:`names_used` finds the names the code cells use
(newest first); :func:`describe` writes a short line for each live value they name, within a
budget, reading values only through an allow-list of types and never running user code
(:mod:`.values`, :mod:`.static`, :mod:`.callables`).

Plain Python below the front ends: it imports neither IPython nor pandas nor numpy (pandas
and numpy objects are recognised through ``sys.modules``); the front end passes its
namespace and, for reading cells, its own transform (IPython's ``shell.transform_cell``;
terminal IPython's ``In`` holds inputs already transformed)::

    text = describe(shell.user_ns, names_used(executed_cells, shell.transform_cell))

Build it after a cell ran, from the cells that ran — not from the one being typed, whose
names change with every key: the description is part of the prompt's stable start, read
ahead with the notebook, and must not move while the user types.
"""

from .cells import names_used
from .description import BUDGET_CHARS, describe

__all__ = ["BUDGET_CHARS", "describe", "names_used"]
