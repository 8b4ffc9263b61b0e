"""What crosses the broker: observations from a host, the leader's decisions, tasks for workers.

Everything is JSON validated by pydantic on the way in; a message that does not validate is
reported and set aside (terminated), never retried for ever and never half-applied.
"""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field

from conscious.model import Decision, Observation, TaskState


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
    origin: str
    task_agent: str | None = None
    task_command: str | None = None
    task_state: TaskState | None = None
    approval_expires: datetime | None = None
    latency_ms: float | None = None
    prompt_tokens: int | None = None
    cached_tokens: int | None = None
