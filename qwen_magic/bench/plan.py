"""How much `qwen-magic bench` runs, in which order, and how every request samples."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TypeVar

from ..config import GenerationConfig
from ..options import CONTEXT_TOKENS

#: The sections ``--only`` can pick, in the order they run (load and memory always run).
SECTIONS = ("short", "shared_prefix", "deterministic", "alternating", "edits", "completion",
            "live_data", "follow_up", "examples", "check_isolation", "check", "fix",
            "remote_completion", "two_models")
#: What a bare ``qwen-magic bench`` runs: ``check`` asks the whole problem set, with repairs
#: (about an hour on 2 cores), ``fix`` asks %qwen fix on 64 cells twice (half an hour), and
#: ``remote_completion`` starts a ``qwen-magic serve`` of its own and ``two_models`` loads a
#: second model (more memory), so they run only when named: ``--only check``.
DEFAULT_SECTIONS = tuple(section for section in SECTIONS
                         if section not in ("check", "fix", "remote_completion", "two_models"))

T = TypeVar("T")


@dataclass(frozen=True)
class Plan:
    """How much to run. ``quick`` is about a minute on 2 idle cores; the default ~10."""

    rounds: int = 3
    short_prompts: int = 3
    short_tokens: int = 128
    context_tokens: int = CONTEXT_TOKENS.default
    context_answer_tokens: int = 16
    alternations: int = 3  # visits of each of the two contexts
    edit_prompts: int = 3
    edit_tokens: int = 256
    probes: int = 2
    raw_alternating: bool = True
    control_tokens: int = 128  # a non-edit request with code in its prompt (0: skip)
    completion_single: int = 30  # FIM holes of each kind scored (bench/holes.py)
    completion_multi: int = 30
    #: Skip this many holes of each kind (single, multi): a run of holes 15-29 only, so a
    #: long quality run can be split in turns on a shared machine (``--holes 15:30,0``).
    completion_first: tuple[int, int] = (0, 0)
    follow_up_turns: int = 7  # %%qwen -c turns in one conversation (bench/checking.py)
    follow_up_tokens: int = 128
    isolation_runs: int = 20  # passing checks per isolation level (bench/checking.py)
    check_problems: int | None = None  # problems per category (None: the whole set)
    check_categories: tuple[str, ...] = ("strings", "lists", "dicts", "math", "dates", "pandas")
    fix_splits: tuple[str, ...] = ("tune", "heldout")  # of the fix set (problems/fix.toml)
    fix_cases: int | None = None  # the first this many of them (None: all)
    context_rounds: int | None = None  # rounds of the long-context sections (None: rounds)
    edit_rounds: int | None = None

    @classmethod
    def quick(cls) -> Plan:
        return cls(rounds=3, short_prompts=1, short_tokens=32, context_tokens=400,
                   context_answer_tokens=4, alternations=2, edit_prompts=1, edit_tokens=48,
                   probes=1, raw_alternating=False, control_tokens=0, context_rounds=1,
                   edit_rounds=2, completion_single=4, completion_multi=4,
                   follow_up_turns=3, follow_up_tokens=32, check_problems=1, isolation_runs=5,
                   fix_cases=2)

    def rounds_for(self, section: str) -> int:
        chosen = {"context": self.context_rounds, "edits": self.edit_rounds}.get(section)
        return chosen or self.rounds


def greedy(seed: int, max_tokens: int) -> GenerationConfig:
    """Temperature 0 and a fixed seed: every path decodes the same tokens, so their rates compare."""
    return GenerationConfig(temperature=0.0, seed=seed, max_tokens=max_tokens)


def rotated(items: Sequence[T], shift: int) -> list[T]:
    """``items`` starting at ``shift``: the order of the paths in one trial.

    Rotating it from trial to trial makes slow drift on a shared machine (other processes,
    thermal limits) fall on every path alike.
    """
    shift %= len(items)
    return list(items[shift:]) + list(items[:shift])
