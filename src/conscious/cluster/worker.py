"""A worker runs the cluster's tasks for the agents and the project it serves, with the local
dispatcher (worktrees, the gate at every tool call, time limits) as on one machine.

Before it spawns anything it creates the task's "started" key (``t<seq>``): only one worker
ever can. A task handed out again — its worker died or went silent past the ack wait — whose
key exists is never started twice: if this worker has it in its journal it was reported here
(``Dispatcher.recover`` after a restart), if the worker holding it is still there running it, it
is that worker's and the message is handed back to be looked at again a presence period later —
a message is handed out again only when its worker stopped acknowledging it, so a holder that
still looks present is, most of the time, a dead worker whose presence entry has not expired:
acknowledging it away left the task ``running`` forever; otherwise it is reported
``interrupted``, as on one machine. A lost worker's task is thus reported within the ack wait
plus ``STALE_S``, whatever the timing of its death. While the agent
runs, the message is kept alive with in-progress acks; it is acknowledged once the outcome is
in the journal (the outbox sends it on).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, Protocol

import nats
from nats.aio.msg import Msg
from pydantic import ValidationError

from conscious.cluster.broker import TASKS_STREAM, Broker, said, subject_part, task_subject
from conscious.cluster.messages import Assignment
from conscious.cluster.presence import EVERY_S
from conscious.cluster.reconnect import Reconnecting, pause
from conscious.delegate.dispatcher import LocalDispatcher
from conscious.errors import BrokerError
from conscious.journal.decisions import Committed
from conscious.journal.rows import JournaledTurn
from conscious.model import Decision, DecisionRecord, Observation, Task

log = logging.getLogger("conscious")

STALE_S = 2 * EVERY_S + 1.0
"""Seconds after which a presence entry nobody rewrote says nothing: its host is gone."""


class WorkerJournal(Protocol):
    """The journal as a worker uses it: an assignment taken once, as a decision of its own."""

    def worker_task(self, seq: int) -> dict[str, Any] | None: ...

    def record_decision(
        self, record: DecisionRecord, *, turns: Sequence[JournaledTurn] = (), cluster_seq: int | None = None
    ) -> Committed: ...


class Worker:
    def __init__(
        self,
        journal: WorkerJournal,
        broker: Broker,
        dispatcher: LocalDispatcher,
        host: str,
        project: str,
        agents: list[str],
        *,
        ack_wait: float,
        capacity: int,
        accept: Callable[[Observation], object],
        on_trouble: Callable[[str | None], None] = lambda _: None,
    ) -> None:
        self.journal = journal
        self.broker = broker
        self.dispatcher = dispatcher
        self.host = host
        self.project = project
        self.agents = [a for a in agents if a in dispatcher.delegates]
        self.ack_wait = ack_wait
        self.capacity = capacity
        self.accept = accept
        self.trouble = Reconnecting(on_trouble)
        self.seqs: dict[int, int] = {}
        """Local task id → the cluster's sequence, for the tasks running here."""
        self.started = 0
        self.alive: dict[int, asyncio.Task[None]] = {}

    def running(self) -> list[int]:
        return sorted(self.seqs.values())

    async def run(self, stop: asyncio.Event) -> None:
        subs: list[nats.js.JetStreamContext.PullSubscription] = []
        while not stop.is_set():
            try:
                if not subs:
                    subs = [
                        await self.broker.consumer(
                            TASKS_STREAM,
                            f"work-{self.project}-{agent}",
                            task_subject(self.project, agent),
                            ack_wait=self.ack_wait,
                        )
                        for agent in self.agents
                    ]
                took = False
                for sub in subs:
                    if len(self.dispatcher.running()) >= self.capacity:
                        break  # busy: what is queued waits for another worker, or for this one
                    took = await self._take(sub) or took
            except BrokerError as exc:
                await self.trouble.failed(exc, stop)
                continue
            self.trouble.ok()
            if not took:
                await pause(stop, 0.2)

    async def _take(self, sub: nats.js.JetStreamContext.PullSubscription) -> bool:
        try:
            msgs = await sub.fetch(1, timeout=0.3)
        except TimeoutError:  # nothing came (nats' own, or asyncio's when the loop was busy)
            return False
        except nats.errors.Error as exc:
            raise BrokerError(f"cannot take tasks from the broker: {said(exc)}") from None
        for msg in msgs:
            try:
                assignment = Assignment.model_validate_json(msg.data)
            except ValidationError as exc:
                log.error("a task on %s cannot be read; set aside: %s", msg.subject, str(exc).splitlines()[0])
                await msg.term()
                continue
            await self.handle(assignment, msg)
        return bool(msgs)

    async def handle(self, assignment: Assignment, msg: Msg) -> None:
        key = f"t{assignment.seq}"
        try:
            await self.broker.started.create(key, json.dumps({"host": self.host, "at": time.time()}).encode())
        except nats.js.errors.KeyWrongLastSequenceError:
            await self._again(assignment, msg)
            return
        except (TimeoutError, nats.errors.Error) as exc:
            await _quietly(msg.nak(delay=1.0))
            raise BrokerError(f"cannot take the started fence of task {assignment.seq}: {said(exc)}") from None
        task = Task(decision_id=0, agent=assignment.agent, command=assignment.command)
        decision = Decision(
            action_type="delegate",
            reasoning=assignment.reasoning or f"task {assignment.seq} of the cluster",
            target_agent=assignment.agent,
            command=assignment.command,
            priority=assignment.priority,  # type: ignore[arg-type]
            confidence=1.0,
            metadata={"cluster_task": assignment.seq, "brain": assignment.brain},
        )
        made = self.journal.record_decision(
            DecisionRecord.of(decision, verdict_reason="cluster", origin="cluster", task=task)
        ).task
        assert made is not None and made.id is not None
        self.seqs[made.id] = assignment.seq
        self.started += 1
        self.dispatcher.start(made)
        self.alive[made.id] = asyncio.create_task(self._keep_alive(made.id, msg), name=f"keep-alive-{made.id}")

    async def _keep_alive(self, task_id: int, msg: Msg) -> None:
        """In-progress acks while the agent runs; the ack once its outcome is journaled."""
        try:
            while any(run.task.id == task_id for run in self.dispatcher.running()):
                with contextlib.suppress(TimeoutError, nats.errors.Error):
                    await msg.in_progress()
                await asyncio.sleep(self.ack_wait / 3)
            await _quietly(msg.ack())
        finally:
            self.seqs.pop(task_id, None)
            self.alive.pop(task_id, None)

    async def _again(self, assignment: Assignment, msg: Msg) -> None:
        """A task handed out again whose started fence exists: never started twice."""
        if self.journal.worker_task(assignment.seq) is not None:
            await _quietly(msg.ack())  # it ran here: its outcome (or interruption) is reported from here
            return
        holder = await self._holder(assignment.seq)
        if holder is not None:
            await _quietly(msg.nak(delay=STALE_S))  # its worker says it runs it: look again later
            return
        self.accept(
            Observation(
                source="agent",
                event_type="interrupted",
                target=f"{assignment.agent}#cluster-{assignment.seq}",
                severity="warning",
                details={
                    "cluster_task": assignment.seq,
                    "agent": assignment.agent,
                    "command": assignment.command[:200],
                    "state": "interrupted",
                    "result": "its worker went away while it ran; not started again",
                },
            )
        )
        await _quietly(msg.ack())

    async def _holder(self, seq: int) -> str | None:
        """The host that runs task ``seq`` now, by its presence (None: nobody says so lately)."""
        try:
            entry = await self.broker.started.get(f"t{seq}")
            host = json.loads(entry.value or b"{}").get("host")
            presence = json.loads((await self.broker.hosts.get(subject_part(str(host)))).value or b"{}")
            running, updated = presence.get("running", []), float(presence.get("updated", 0))
        except (TimeoutError, nats.errors.Error, ValueError, TypeError):
            return None
        fresh = time.time() - updated <= STALE_S  # an entry lives longer than its writer may be silent
        return str(host) if seq in running and fresh else None


async def _quietly(ack: Awaitable[object]) -> None:
    with contextlib.suppress(TimeoutError, nats.errors.Error):
        await ack
