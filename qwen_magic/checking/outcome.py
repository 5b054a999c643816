"""What ``--check`` found: a plain record the result carries and every front end shows."""

from __future__ import annotations

from dataclasses import dataclass

from qwen_magic.checking.isolation import Isolation


@dataclass(frozen=True)
class CheckOutcome:
    """How the inserted answer fared against the request's examples, and what it took."""

    examples: int  # found in the request; 0: nothing could be run
    passed: int  # by the answer that is inserted (the best attempt)
    repairs: int = 0  # repair rounds asked for
    candidates: int = 0  # fresh answers sampled after the repairs (the last one passed, if any)
    failure: str = ""  # the inserted answer's first failure, one line
    interrupted: bool = False  # Ctrl-C or Stop ended the checking early
    seconds: float = 0.0  # spent after the first answer: runs, repairs, candidates
    isolation: str = ""  # the Isolation level the inserted answer's run had ("" if none ran)

    @property
    def verified(self) -> bool:
        return self.examples > 0 and self.passed == self.examples

    def line(self) -> str:
        """``checked: 3/3 examples pass after 1 repair · isolated: namespaces`` — the cell's
        one line about it, with how isolated the run was (docs/checking.md)."""
        return self._verdict() + (f" · {self.isolation_footer}" if self.isolation_footer else "")

    @property
    def isolation_footer(self) -> str:
        """``isolated: namespaces`` / ``partly isolated: namespaces`` / ``limited process
        only``; "" when no run is known."""
        try:
            return Isolation(self.isolation).footer if self.isolation else ""
        except ValueError:
            return ""

    def _verdict(self) -> str:
        if not self.examples:
            return f"could not verify: {self.failure or 'no examples in the request'}"
        score = f"{self.passed}/{self.examples}"
        if self.verified:
            how = []
            if self.repairs:
                how.append(f"{self.repairs} repair{'s' * (self.repairs != 1)}")
            if self.candidates:
                how.append(f"{self.candidates} fresh answer{'s' * (self.candidates != 1)}")
            return f"checked: {score} examples pass" + (f" after {' and '.join(how)}" if how else "")
        stopped = "check stopped — " if self.interrupted else ""
        why = f" ({self.failure})" if self.failure else ""
        return f"{stopped}{score} pass — best attempt inserted, marked{why}"


__all__ = ["CheckOutcome"]
