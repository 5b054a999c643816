"""The kernel's running conversation, for ``%%qwen -c`` follow-ups ("now handle empty lists").

Every ``%%qwen`` answer becomes the last turn of it; a cell without ``-c`` starts a new one,
``%qwen new`` forgets it. It must fit the context window with the new request and the
answer, and when it does not, the OLDEST turns go — half of them at once, not one per
request: the start of the prompt then changes rarely, and the local provider's prefix cache
keeps reusing it. Plain Python (no IPython), so the unit tests drive it directly.
"""

from __future__ import annotations

from dataclasses import dataclass, field

Message = dict[str, str]
CHARS_PER_TOKEN = 3  # a conservative estimate for code: it errs towards dropping earlier


@dataclass
class Conversation:
    """User/assistant turns, oldest first."""

    turns: list[tuple[str, str]] = field(default_factory=list)

    def clear(self) -> None:
        self.turns.clear()

    def add(self, request: str, answer: str) -> None:
        self.turns.append((request, answer))

    def messages(self, request: str, system: str | None, budget_tokens: int) -> tuple[list[Message], int]:
        """The messages of a follow-up, and how many earlier turns were dropped to fit them.

        ``budget_tokens`` is what the prompt may take (the window minus the answer's room).
        """
        def size(turns: list[tuple[str, str]]) -> int:
            chars = len(request) + len(system or "") + sum(len(u) + len(a) for u, a in turns)
            return chars // CHARS_PER_TOKEN

        dropped = 0
        while self.turns and size(self.turns) > budget_tokens:
            cut = max(1, len(self.turns) // 2)
            del self.turns[:cut]
            dropped += cut
        messages: list[Message] = [{"role": "system", "content": system}] if system else []
        for user, assistant in self.turns:
            messages += [{"role": "user", "content": user}, {"role": "assistant", "content": assistant}]
        messages.append({"role": "user", "content": request})
        return messages, dropped


__all__ = ["Conversation", "Message"]
