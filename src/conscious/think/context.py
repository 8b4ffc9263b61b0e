"""The context window, treated as the server's KV cache.

Layout, most stable first::

    [system prompt — static] [memory: identity + summary — rewritten only at compaction] [turns … newest]

The system prompt and the memory block travel in the one system message (every chat
template accepts one; the server's cache works on the token prefix, so the static part stays
cached even when the memory after it changes). Between compactions the prompt only grows at
its end, so the server re-uses its cached prefix and each turn pays only for its new tokens.
When a new turn would cross the high-water mark, the oldest turns are evicted in one step
down to the low-water mark (one cache miss, then growth again) — unlike a drop-the-oldest-
each-turn window, which changes the prefix on every turn.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from conscious.think.backends.base import Message

MESSAGE_OVERHEAD = 4
"""Tokens a chat template adds around each message (role markers, separators)."""
MEMORY_SEPARATOR = "\n\n"


@dataclass
class Turn:
    role: str
    content: str
    tokens: int
    id: int | None = None
    """Journal row, once stored."""


@dataclass
class ContextWindow:
    system_prompt: str
    system_tokens: int
    budget: int
    """Tokens the prompt may use: context length - reserve - room for the reply."""
    high_water: float = 0.85
    low_water: float = 0.50
    turns: list[Turn] = field(default_factory=list)
    memory: str = ""
    """Identity and the summary of archived turns; changes only at compaction."""
    memory_tokens: int = 0

    @property
    def used(self) -> int:
        fixed = self.system_tokens + self.memory_tokens + MESSAGE_OVERHEAD
        return fixed + sum(t.tokens + MESSAGE_OVERHEAD for t in self.turns)

    @property
    def fill(self) -> float:
        return self.used / self.budget if self.budget else 1.0

    def system_message(self) -> Message:
        content = self.system_prompt + (MEMORY_SEPARATOR + self.memory if self.memory else "")
        return {"role": "system", "content": content}

    def messages(self) -> list[Message]:
        out: list[Message] = [self.system_message()]
        for t in self.turns:
            out.append({"role": "assistant" if t.role == "assistant" else "user", "content": t.content})
        return out

    def set_memory(self, memory: str, tokens: int) -> None:
        self.memory, self.memory_tokens = memory, tokens

    def would_overflow(self, tokens: int) -> bool:
        return self.used + tokens + MESSAGE_OVERHEAD > self.high_water * self.budget

    def add(self, turn: Turn) -> list[Turn]:
        """Append a turn, compacting first if it would cross the high-water mark (no summary:
        the thinker's ``compact`` is the one that also summarises).

        Returns the evicted turns (oldest first), for archiving.
        """
        evicted = self.compact(extra=turn.tokens + MESSAGE_OVERHEAD) if self.would_overflow(turn.tokens) else []
        self.turns.append(turn)
        return evicted

    def compact(self, extra: int = 0) -> list[Turn]:
        """Evict the oldest turns until, with ``extra`` added, the window is at the low-water mark.

        Whole exchanges go together so the window always starts with a user turn, and a user
        turn still waiting for its answer is never evicted.
        """
        target = self.low_water * self.budget - extra
        protected = 1 if self.turns and self.turns[-1].role == "user" else 0
        evicted: list[Turn] = []
        while len(self.turns) > protected and self.used > target:
            evicted.append(self.turns.pop(0))
            while len(self.turns) > protected and self.turns[0].role == "assistant":
                evicted.append(self.turns.pop(0))
        return evicted

    def drop_uncommitted(self) -> None:
        """Forget the turns whose exchange was never committed to the journal (they never happened)."""
        self.turns = [t for t in self.turns if t.id is not None]

    def pop_last(self) -> Turn | None:
        """Take back the newest turn (a request that never got an answer)."""
        return self.turns.pop() if self.turns else None
