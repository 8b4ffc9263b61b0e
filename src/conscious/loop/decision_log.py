"""The ``DecisionLog`` plug point: where a decision is made final before this process commits it.

On one machine there is none: the journal's commit is the decision. With several brains
(``cluster/``), the leader appends each decision to the cluster's log first; the log takes it
only if nothing was appended since this brain last read it, so two brains never both decide.
"""

from __future__ import annotations

from typing import Protocol

from conscious.model import DecisionRecord


class DecisionLog(Protocol):
    def leads(self) -> bool:
        """Whether this process may decide now."""

    async def append(self, entry: DecisionRecord) -> int:
        """Make the decision final in the shared log: its sequence there. Raises ``Fenced``
        when another brain appended first (the decision must then be dropped)."""
