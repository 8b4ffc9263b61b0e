"""The brain's ``Dispatcher``: a delegation goes to the work queue, and its outcome comes back
from the worker that ran it, as an observation.

It answers the loop, the gate and the daemon as the local dispatcher does (``running()``, the
events), so the gate's budgets, duplicates and concurrency count the whole cluster's tasks; it
runs nothing itself, and has no folders, stalls or leftovers of its own (the workers report
theirs). A task is sent with the message id ``task-<seq>``: sent again after a failover, the
broker drops it within its duplicate window and the workers' started fence after that.
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import Any, Protocol

from conscious.cluster.broker import Broker, task_subject
from conscious.cluster.messages import Assignment
from conscious.delegate.base import Outcome
from conscious.delegate.dispatch import RecordedEvents, TaskEvent, TaskEvents, ended
from conscious.errors import BrokerError
from conscious.loop.backoff import backoff
from conscious.model import Decision, Observation, RunningTask, Task, utcnow

log = logging.getLogger("conscious")

ENDED: frozenset[str] = frozenset({"succeeded", "failed", "timeout", "interrupted"})


class RelayJournal(Protocol):
    """The journal as the relay uses it: the cluster's tasks, their decisions and ends."""

    def cluster_seq_of(self, decision_id: int) -> int | None: ...

    def task_at(self, seq: int) -> Task | None: ...

    def unfinished_cluster_tasks(self) -> list[tuple[int, Task]]: ...

    def decision(self, decision_id: int) -> Decision | None: ...

    def update_task(self, task_id: int, **fields: Any) -> None: ...

    def finish_task(self, task_id: int, outcome: Observation, **fields: Any) -> int: ...


class Relay:
    def __init__(
        self,
        journal: RelayJournal,
        broker: Broker,
        host: str,
        project: str,
        *,
        cwd: Path,
        events: TaskEvents | None = None,
    ) -> None:
        self.journal = journal
        self.broker = broker
        self.host = host
        self.project = project
        self.cwd = cwd
        """Where the brain says its tasks work (each worker has its own checkout)."""
        self.events: TaskEvents = events or RecordedEvents()
        self.queued = 0
        self._tasks: dict[int, Task] = {}
        """Sent or being sent, with no outcome yet."""
        self._sending: dict[int, asyncio.Task[None]] = {}

    def running(self) -> list[RunningTask]:
        return [RunningTask(task, self.cwd) for task in self._tasks.values()]

    def start(self, task: Task) -> None:
        assert task.id is not None
        self._tasks[task.id] = task
        sending = asyncio.create_task(self._send(task), name=f"task-{task.id}")
        self._sending[task.id] = sending
        sending.add_done_callback(lambda _: self._sending.pop(task.id or 0, None))

    async def _send(self, task: Task) -> None:
        """Sent to the work queue: the task runs on a worker."""
        assert task.id is not None
        seq = self.journal.cluster_seq_of(task.decision_id)
        if seq is None:  # decided before this brain joined a cluster: nobody can run it now
            outcome = Outcome("interrupted", "decided outside the cluster's log: never sent to a worker")
            obs = ended(task, outcome, {})
            self.journal.finish_task(task.id, obs, **outcome.row())
            self._end(task, outcome)
            self.events.noticed(obs)
            return
        decision = self.journal.decision(task.decision_id)
        assignment = Assignment(
            seq=seq,
            agent=task.agent,
            command=task.command,
            project=self.project,
            priority=decision.priority if decision else "medium",
            reasoning=decision.reasoning[:300] if decision else "",
            brain=self.host,
        )
        failures = 0
        while True:
            try:
                await self.broker.publish(
                    task_subject(self.project, task.agent), assignment.model_dump(mode="json"), msg_id=assignment.msg_id
                )
                break
            except BrokerError as exc:
                failures += 1
                if failures == 1:
                    log.warning("task %d waits for the broker: %s", task.id, exc)
                await asyncio.sleep(min(10.0, backoff(failures, 0.5)))
        self.queued += 1
        if task.state == "pending":
            task.state = "running"
            self.journal.update_task(task.id, state="running", started=utcnow())
            self._emit("started", task)

    def adopt(self) -> int:
        """On taking the lead: the log's tasks with no outcome yet are followed (and sent
        again, in case the last leader died before it could)."""
        found = self.journal.unfinished_cluster_tasks()
        for _, task in found:
            if task.id is not None and task.id not in self._tasks:
                self.start(task)
        return len(found)

    def recover(self) -> int:
        """Workers own the tasks' processes: nothing here was interrupted by a restart."""
        return 0

    async def shutdown(self, grace: float | None = None) -> None:
        """The tasks run on, on their workers; only the sending stops."""
        for sending in list(self._sending.values()):
            sending.cancel()
        self._sending.clear()
        self._tasks.clear()

    def stalls(self, after: float) -> list[Observation]:
        """None here: a worker reports its own tasks' silences."""
        return []

    def stalled(self) -> list[dict[str, object]]:
        return []

    async def sweep(self) -> list[str]:
        """Nothing here: the task folders and clones are the workers'."""
        return []

    async def describe(self) -> dict[str, str]:
        return {"workspace": "on the workers", "sandbox": "on the workers"}

    def renamed(self, seq: int, obs: Observation, worker: str) -> Observation | None:
        """A worker's report on task ``seq`` as this journal names it (``agent#<id here>``, the
        worker's own ids kept beside); None while the task's decision is not applied here yet."""
        task = self.journal.task_at(seq)
        if task is None or task.id is None:
            return None
        if obs.source != "agent" or obs.event_type == "stalled":
            return obs
        details = {**obs.details, "task_id": task.id, "cluster_task": seq, "worker": worker}
        if "task_id" in obs.details:
            details["worker_task_id"] = obs.details["task_id"]
        return obs.model_copy(update={"target": f"{task.agent}#{task.id}", "details": details})

    def settled(self, obs: Observation) -> None:
        """A report journaled here (once: a redelivered copy is not) that ends a cluster task."""
        seq = obs.details.get("cluster_task")
        if obs.source != "agent" or obs.event_type == "stalled" or not isinstance(seq, int):
            return
        task = self.journal.task_at(seq)
        if task is None:
            return
        state = str(obs.details.get("state") or obs.event_type)
        self._settle(
            task,
            Outcome(
                state=state if state in ENDED else "failed",  # type: ignore[arg-type]
                result=str(obs.details.get("result", "")),
                exit_code=obs.details.get("exit_code"),
                cost_usd=obs.details.get("cost_usd"),
                num_turns=obs.details.get("num_turns"),
                session_id=obs.details.get("session_id"),
            ),
        )

    def _settle(self, task: Task, outcome: Outcome) -> None:
        assert task.id is not None
        self.journal.update_task(task.id, **outcome.row())
        self._end(task, outcome)

    def _end(self, task: Task, outcome: Outcome) -> None:
        self._tasks.pop(task.id or 0, None)
        self._emit("finished", task, outcome)

    def _emit(self, what: TaskEvent, task: Task, outcome: Outcome | None = None) -> None:
        self.events.task_event(what, RunningTask(task, self.cwd), outcome)
