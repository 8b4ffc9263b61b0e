"""The ``Reporter`` plug point: how the loop tells whoever watches what it does.

The terminal (``control/terminal.py``) is one implementation; ``control/events.Broadcast``
wraps any other to publish the same reports on the live stream (API, page, metrics, logs).
The loop, the gate and the daemon see only this protocol.
"""

from __future__ import annotations

from typing import Any, Protocol

from conscious.delegate.base import Outcome
from conscious.model import DecisionRecord, Observation, Task


class Reporter(Protocol):
    def info(self, text: str) -> None: ...

    def warn(self, text: str) -> None: ...

    def observation(self, obs: Observation) -> None: ...

    def thinking(self, turn: int, observations: list[int]) -> None:
        """A thought begins on these observations."""

    def streamed(self, turn: int, text: str) -> None:
        """A piece of the thought being streamed."""

    def decision(self, decision_id: int, record: DecisionRecord) -> None:
        """A decision made final (journaled as ``decision_id``)."""

    def task(self, what: str, task: Task, outcome: Outcome | None) -> None: ...

    def approval(self, what: str, request: dict[str, Any]) -> None: ...

    def tool_call(self, task: Task, call: str, allowed: bool, reason: str) -> None:
        """A running agent's tool call, as the gate judged it (``call``: ``Tool: input``)."""

    def health(self, status: str, checks: dict[str, Any]) -> None: ...


class Silent:
    """A reporter that tells no one and keeps the decisions it was told: for running the loop
    where nobody watches (``conscious eval`` scores them)."""

    def __init__(self) -> None:
        self.decisions: list[tuple[int, DecisionRecord]] = []

    def info(self, text: str) -> None:
        pass

    def warn(self, text: str) -> None:
        pass

    def observation(self, obs: Observation) -> None:
        pass

    def thinking(self, turn: int, observations: list[int]) -> None:
        pass

    def streamed(self, turn: int, text: str) -> None:
        pass

    def decision(self, decision_id: int, record: DecisionRecord) -> None:
        self.decisions.append((decision_id, record))

    def task(self, what: str, task: Task, outcome: Outcome | None) -> None:
        pass

    def approval(self, what: str, request: dict[str, Any]) -> None:
        pass

    def tool_call(self, task: Task, call: str, allowed: bool, reason: str) -> None:
        pass

    def health(self, status: str, checks: dict[str, Any]) -> None:
        pass
