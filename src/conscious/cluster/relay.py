"""The brain's dispatcher: a delegation goes to the work queue, and its outcome comes back
from the worker that ran it, as an observation.

It keeps the dispatcher's face (``running``, ``active()``, the events), so the gate's budgets,
duplicates and concurrency count the whole cluster's tasks. A task is sent with the message id
``task-<seq>``: sent again after a failover, the broker drops it within its duplicate window and
the workers' started fence after that.
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

from conscious.cluster.broker import Broker, task_subject
from conscious.cluster.wire import Assignment
from conscious.delegate.base import Outcome
from conscious.delegate.dispatcher import Dispatcher
from conscious.errors import BrokerError
from conscious.journal import Journal
from conscious.loop.backoff import backoff
from conscious.model import Observation, Task, utcnow

log = logging.getLogger("conscious")

ENDED: frozenset[str] = frozenset({"succeeded", "failed", "timeout", "interrupted"})


class Relay(Dispatcher):
    def __init__(self, journal: Journal, broker: Broker, host: str, project: str, *, cwd: Path, max_concurrent: int):
        super().__init__(journal, {}, cwd=cwd, max_concurrent=max_concurrent)
        self.broker = broker
        self.host = host
        self.project = project
        self.queued = 0

    async def _run(self, task: Task) -> None:
        """Sent to the work queue (``start`` runs this): the task runs on a worker."""
        assert task.id is not None
        seq = self.journal.cluster_seq_of(task.decision_id)
        if seq is None:  # decided before this brain joined a cluster: nobody can run it now
            self._finish(task, Outcome("interrupted", "decided outside the cluster's log: never sent to a worker"))
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
            self._emit("started", task, None)

    def adopt(self) -> int:
        """On taking the lead: the log's tasks with no outcome yet are followed (and sent
        again, in case the last leader died before it could)."""
        found = self.journal.unfinished_cluster_tasks()
        for _, task in found:
            if task.id is not None and task.id not in self.running:
                self.start(task)
        return len(found)

    def recover(self) -> int:
        """Workers own the tasks' processes: nothing here was interrupted by a restart."""
        return 0

    async def shutdown(self, grace: float | None = None) -> None:
        """The tasks run on, on their workers; only the sending stops."""
        for _, sending in self.running.values():
            sending.cancel()
        self.running.clear()

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
        self.running.pop(task.id, None)
        self._emit("finished", task, outcome)
