"""What crosses the broker: observations from a host, the leader's decisions, tasks for workers.

Everything is JSON validated by pydantic on the way in; a message that does not validate is
reported and set aside (terminated), never retried for ever and never half-applied.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from pydantic import BaseModel, Field

from conscious.model import ActionType, Decision, DecisionRecord, Observation, Task, TaskState


class Sent(BaseModel):
    """One observation as its host journaled it."""

    host: str
    id: int
    """Its id in that host's journal: with the host, its identity in the cluster."""
    project: str
    observation: Observation
    task: int | None = None
    """The cluster task it reports on (a worker's result), by the sequence of its decision."""

    @property
    def key(self) -> tuple[str, int]:
        return (self.host, self.id)

    @property
    def msg_id(self) -> str:
        return f"{self.host}:{self.id}"

    def restored(self) -> Observation:
        """The observation to journal here (a fresh row: its ids are this journal's)."""
        return self.observation.model_copy(update={"id": None, "decision_id": None})


class Assignment(BaseModel):
    """A task for a worker: the decision's sequence in the log is its identity everywhere."""

    seq: int
    agent: str
    command: str
    project: str
    priority: str = "medium"
    reasoning: str = ""
    brain: str = ""
    """The host of the brain that decided it."""

    @property
    def msg_id(self) -> str:
        return f"task-{self.seq}"


class Logged(BaseModel):
    """One decision of the cluster's log, with what it covers, so any brain can commit it."""

    brain: str
    decision: Decision
    covers: list[tuple[str, int]]
    observations: list[Sent] = Field(default_factory=list)
    """The covered observations themselves: a follower need not wait for them to arrive."""
    verdict: str
    verdict_reason: str | None = None
    action: ActionType | None = None
    """What happens (None from a brain before it was sent: the decision's own when accepted)."""
    origin: str
    task_agent: str | None = None
    task_command: str | None = None
    task_state: TaskState | None = None
    approval_expires: datetime | None = None
    latency_ms: float | None = None
    prompt_tokens: int | None = None
    cached_tokens: int | None = None

    def record(self, covers: Sequence[int]) -> DecisionRecord:
        """The decision record to commit here (``covers``: this journal's ids of what it covers)."""
        task = None
        if self.task_agent and self.task_command and self.task_state:
            task = Task(decision_id=0, agent=self.task_agent, command=self.task_command, state=self.task_state)
        accepted = self.verdict in ("accepted", "awaiting-approval")
        return DecisionRecord(
            decision=self.decision,
            covers=covers,
            action=self.action or (self.decision.action_type if accepted else "observe"),
            verdict=self.verdict,
            verdict_reason=self.verdict_reason,
            origin=self.origin,
            task=task,
            approval_expires=self.approval_expires,
            latency_ms=self.latency_ms,
            prompt_tokens=self.prompt_tokens,
            cached_tokens=self.cached_tokens,
        )
