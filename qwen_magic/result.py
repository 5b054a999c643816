"""GenerationResult: one answer, how it ended and how it was produced.

A plain record, shared by every front end (the API returns it, ``%%qwen`` stores it as
``_qwen``, the panel and the CLI show its :meth:`~GenerationResult.stats_line`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .checking.outcome import CheckOutcome
from .codeblocks import extract_code
from .config import GenerationConfig


@dataclass(frozen=True)
class FixOutcome:
    """How ``%qwen fix`` judged its corrected cell: insert it or not, and the footer's line."""

    line: str  # "checked: the corrected cell runs cleanly", "not checked: reads files: …"
    insert: bool = True  # False: no code, or only the failed cell again
    mark: str = ""  # the first line of the inserted cell, when it needs a warning
    verified: bool = False  # it ran cleanly in --check's process
    attempts: int = 1  # answers asked for (repairs and fresh ones included)


@dataclass
class GenerationResult:
    """One finished (or stopped) answer and how it was produced."""

    text: str
    finish_reason: str  # "stop", "length" or "cancelled"
    prompt_tokens: int = 0
    completion_tokens: int = 0
    ttft_s: float | None = None
    tokens_per_s: float | None = None
    prompt_tokens_per_s: float | None = None
    reused_tokens: int = 0
    total_s: float = 0.0
    config: GenerationConfig | None = field(default=None, repr=False)
    provenance: dict[str, Any] = field(default_factory=dict, repr=False)
    interrupted: bool = field(default=False, repr=False)  # by KeyboardInterrupt, not Stop
    check: CheckOutcome | None = field(default=None, repr=False)  # only with --check
    fix: FixOutcome | None = field(default=None, repr=False)  # only from %qwen fix
    #: The code a caller picked from the answer (``%qwen fix``: the one block that is the
    #: corrected cell); None: :func:`~qwen_magic.codeblocks.extract_code`'s.
    chosen_code: str | None = field(default=None, repr=False)

    @property
    def code(self) -> str:
        return extract_code(self.text) if self.chosen_code is None else self.chosen_code

    @property
    def cut(self) -> bool:
        """Whether the answer stopped at ``max_tokens`` rather than where the model ended it."""
        return self.finish_reason == "length"

    def _cut_note(self) -> str:
        limit = f"max_tokens={self.config.max_tokens}" if self.config else "max_tokens"
        return f"cut at {limit} — incomplete"

    def cell_source(self) -> str:
        """The code as a new cell holds it: a cut or unverified answer says so first.

        Code cut mid-way often does not parse, and code that failed the request's own
        examples looks just like code that passed; nothing else in the cell would tell the
        user. An answer that was neither never carries such a line.
        """
        code = self.code
        if not code.strip():
            return code
        marks = []
        if self.fix is not None and self.fix.mark:
            marks.append(self.fix.mark)
        if self.check is not None and self.check.examples and not self.check.verified:
            marks.append(f"# qwen: {self.check.line()} — review before use")
        if self.cut:
            marks.append(f"# qwen: {self._cut_note()}, raise -n to get the rest")
        return "\n".join([*marks, code])

    def stats_line(self) -> str:
        """``128 tokens · 31.2 tok/s · first token 0.31 s`` — the footer under an answer."""
        parts = [f"{self.completion_tokens} tokens"]
        if self.tokens_per_s:
            parts.append(f"{self.tokens_per_s:.1f} tok/s")
        if self.ttft_s is not None:
            parts.append(f"first token {self.ttft_s:.2f} s")
        parts.append(f"prompt {self.prompt_tokens} tokens")
        if self.finish_reason != "stop":
            parts.append({"length": self._cut_note(), "cancelled": "stopped"}.get(
                self.finish_reason, self.finish_reason))
        if self.check is not None:
            parts.append(self.check.line())
        if self.fix is not None and self.fix.line:
            parts.append(self.fix.line)
        return " · ".join(parts)

    def __repr__(self) -> str:
        preview = self.text if len(self.text) <= 60 else self.text[:57] + "..."
        return f"GenerationResult({preview!r}, {self.stats_line()})"

    def _repr_markdown_(self) -> str:
        return f"{self.text}\n\n*{self.stats_line()}*"
