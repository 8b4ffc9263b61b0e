"""The ``Ledger`` plug point: where a decision is made final before this process commits it.

On one machine there is none: the journal's commit is the decision. With several brains
(``cluster/``), the leader appends each decision to the cluster's log first; the log takes it
only if nothing was appended since this brain last read it, so two brains never both decide.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from conscious.model import Decision, Task


@dataclass(frozen=True)
class DecisionRecord:
    """A decision as the log keeps it: everything needed to commit it anywhere."""

    decision: Decision
    covers: Sequence[int]
    """The observations it decides (this journal's ids)."""
    verdict: str
    verdict_reason: str | None
    origin: str
    task: Task | None
    approval_expires: datetime | None = None
    raw_reply: str | None = None
    latency_ms: float | None = None
    prompt_tokens: int | None = None
    cached_tokens: int | None = None


class Ledger(Protocol):
    def leads(self) -> bool:
        """Whether this process may decide now."""

    async def append(self, entry: DecisionRecord) -> int:
        """Make the decision final in the shared log: its sequence there. Raises ``Fenced``
        when another brain appended first (the decision must then be dropped)."""
