"""The dispatcher plug point: whatever runs the tasks the loop decided, and what it tells back.

``dispatcher.LocalDispatcher`` runs each task here, as its own process group in its own
workspace and wall; the cluster's ``Relay`` sends each to a work queue and follows what the
workers report. The loop, the gate and the daemon know only ``Dispatcher``. What a dispatcher
tells of its tasks goes to one ``TaskEvents``, given when it is made (``DispatcherFactory``:
the orchestrator makes its dispatcher with itself to be told); ``RecordedEvents`` is the fake.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal, Protocol

from conscious.delegate.base import Outcome
from conscious.model import Observation, RunningTask, Severity, Task

RESULT_LIMIT = 500
"""Characters of an agent's result shown back to the model; the journal keeps more."""

TaskEvent = Literal["started", "stalled", "resumed", "finished"]


class TaskEvents(Protocol):
    """What a dispatcher tells whoever it works for."""

    def task_event(self, what: TaskEvent, run: RunningTask, outcome: Outcome | None) -> None:
        """A task started, went silent, wrote again, or ended (with its outcome)."""

    def noticed(self, obs: Observation) -> None:
        """An observation of a task's, journaled already: its end, or what its workspace found."""

    def changes(self, task_id: int) -> Mapping[str, object] | None:
        """What the task changed in its folder, as far as seen, for its result."""


class Dispatcher(Protocol):
    """What the loop, the gate and the daemon ask of whatever runs the decided tasks."""

    def start(self, task: Task) -> None:
        """Run a task journaled as decided (never twice: it is keyed by its decision)."""

    def running(self) -> list[RunningTask]:
        """The tasks not finished, with where each works."""

    def recover(self) -> int:
        """After a restart: what the last run left unfinished, reported; how many."""

    async def shutdown(self, grace: float | None = None) -> None:
        """Stop starting; give what runs here ``grace`` seconds, then stop it."""

    def stalls(self, after: float) -> list[Observation]:
        """Tasks silent for ``after`` seconds, each reported once per silence (journaled)."""

    def stalled(self) -> list[dict[str, object]]:
        """The tasks silent now, as ``conscious status`` shows them."""

    async def sweep(self) -> list[str]:
        """What finished tasks left and nothing needs (folders, clones), let go; a note for each kind."""

    async def describe(self) -> dict[str, str]:
        """Where its tasks work and what walls them in, as ``conscious status`` shows it."""


DispatcherFactory = Callable[[TaskEvents], Dispatcher]


def ended(task: Task, outcome: Outcome, extra: Mapping[str, object]) -> Observation:
    """How a task's end comes back into the loop: an ``agent`` observation."""
    assert task.id is not None
    details: dict[str, object] = {
        "task_id": task.id,
        "decision_id": task.decision_id,
        "agent": task.agent,
        "command": task.command[:200],
        "state": outcome.state,
        "result": outcome.result[:RESULT_LIMIT],
    }
    for key in ("exit_code", "cost_usd", "num_turns", "session_id"):
        if (value := getattr(outcome, key)) is not None:
            details[key] = value
    details.update(extra)
    severity: Severity = (
        "info" if outcome.state == "succeeded" else "warning" if outcome.state == "interrupted" else "error"
    )
    return Observation(
        source="agent",
        event_type=outcome.event or outcome.state,
        target=f"{task.agent}#{task.id}",
        severity=severity,
        details=details,
    )


@dataclass
class RecordedEvents:
    """``TaskEvents`` that keeps what it is told (tests, and whoever needs nothing more)."""

    events: list[tuple[TaskEvent, RunningTask, Outcome | None]] = field(default_factory=list)
    observations: list[Observation] = field(default_factory=list)

    def task_event(self, what: TaskEvent, run: RunningTask, outcome: Outcome | None) -> None:
        self.events.append((what, run, outcome))

    def noticed(self, obs: Observation) -> None:
        self.observations.append(obs)

    def changes(self, task_id: int) -> Mapping[str, object] | None:
        return None

    def said(self) -> Sequence[TaskEvent]:
        return [what for what, _, _ in self.events]
