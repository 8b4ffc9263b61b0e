"""Memory: the durable side of the context window.

What the window holds is kept in the journal as it changes — the turns (committed with their
decisions), and at each compaction the archived turns with the summary and memory block that
stand for them — so the window can be rebuilt from the journal at any time: after a restart
(clean or crash), or after many failures in a row.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from typing import Any, Protocol

from conscious.config import Config
from conscious.errors import LLMError, LLMUnavailable
from conscious.model import Observation
from conscious.think.backends.base import LLMBackend, estimate_tokens
from conscious.think.context import Turn
from conscious.think.identity import identity_line, turns_to_restore
from conscious.think.summary import memory_block
from conscious.think.thinker import Compaction, Thinker


class MemoryJournal(Protocol):
    """The journal as the window's durable copy uses it: turns, summaries, the memory block."""

    def identity(self) -> dict[str, Any]: ...

    def totals(self) -> dict[str, int]: ...

    def latest_summary(self) -> str: ...

    def live_turns(self) -> list[dict[str, Any]]: ...

    def archive_turn_ids(self, ids: Sequence[int]) -> None: ...

    def record_compaction(
        self,
        up_to_id: int | None,
        summary: str,
        *,
        memory: str,
        evicted: int,
        error: str | None,
        observation: Observation | None,
    ) -> None: ...


class Memory:
    def __init__(
        self, journal: MemoryJournal, thinker: Thinker, backend: LLMBackend, config: Config, *, first_start: str
    ) -> None:
        self.journal = journal
        self.thinker = thinker
        self.backend = backend
        self.config = config
        self.first_start = first_start

    def identity_line(self) -> str:
        return identity_line(self.first_start, self.journal.totals(), self.config)

    async def count(self, text: str, stored: int | None = None) -> int:
        """The server's count; when it is down (a rebuild during an outage), what we had."""
        try:
            return await self.backend.tokenize(text)
        except LLMError:
            return stored if stored is not None else estimate_tokens(text)

    async def restore(self, *, fresh: bool = False) -> int:
        """The window as the journal has it: the memory block and the newest live turns
        (``fresh``: the memory block rewritten, not the stored one). Returns how many turns
        were restored."""
        window = self.thinker.window
        self.thinker.summary = self.journal.latest_summary()
        stored = self.journal.identity().get("memory")
        if isinstance(stored, str) and stored and not fresh:
            # The very block the last run had: a server that kept its cache (LM Studio) still matches.
            window.set_memory(stored, await self.count(stored))
        else:
            memory = memory_block(self.identity_line(), self.thinker.summary)
            window.set_memory(memory, await self.count(memory))
        live = self.journal.live_turns()
        window.turns = []
        restored = turns_to_restore(live, window.budget - window.used)
        for row in restored:
            # Counted again: the model (and its tokenizer) may have changed since.
            tokens = await self.count(row["content"], row["tokens"])
            window.turns.append(Turn(row["role"], row["content"], tokens, id=row["id"]))
        kept = {row["id"] for row in restored}
        dropped = [row["id"] for row in live if row["id"] not in kept]
        if dropped:
            # Older than the window can hold (a smaller model now), or a question a crash left
            # unanswered: out of the window, still found by recall.
            self.journal.archive_turn_ids(dropped)
        if window.would_overflow(0):
            with contextlib.suppress(LLMUnavailable):  # then the next thought compacts
                await self.thinker.compact()  # the usual way out: summarised, then archived
        return len(restored)

    def archive(self, compaction: Compaction) -> None:
        """Archive what left the window together with the summary that now stands for it."""
        ids = [t.id for t in compaction.evicted if t.id is not None]
        observation = None
        if compaction.evicted:
            details: dict[str, Any] = {
                "evicted_turns": len(compaction.evicted),
                "tokens_before": compaction.used_before,
                "tokens_after": compaction.used_after,
                "budget": self.thinker.window.budget,
                "summary_ms": round(compaction.latency_ms),
            }
            if compaction.error:
                details["summary_error"] = compaction.error
            observation = Observation(
                source="self",
                event_type="compacted",
                target="context window",
                severity="warning" if compaction.error else "info",
                details=details,
            )
        self.journal.record_compaction(
            max(ids) if ids else None,
            compaction.summary,
            memory=self.thinker.window.memory,
            evicted=len(compaction.evicted),
            error=compaction.error,
            observation=observation,
        )
