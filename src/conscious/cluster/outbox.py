"""A host's journal is its outbox: its own observations are sent to the broker in order, each
with the message id ``<host>:<id>``, and marked sent only once the broker has acknowledged them.

A crash between the two re-sends them; the broker drops a re-send within its duplicate window
and every brain's journal drops it after that (the origin is unique), so a re-send is never a
second observation. While the broker is down, nothing is lost: the journal keeps them.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from typing import Protocol

from conscious.cluster.broker import Broker, obs_subject
from conscious.cluster.messages import Sent
from conscious.cluster.reconnect import Reconnecting
from conscious.errors import BrokerError
from conscious.model import Observation

log = logging.getLogger("conscious")

POLL_S = 0.2
"""How often the journal is looked at without a nudge (rows another process wrote)."""


class OutboxJournal(Protocol):
    """The journal as the outbox uses it: what is not sent yet, marked once sent."""

    def unsent(self, limit: int = 500) -> list[Observation]: ...

    def sent(self, up_to: int, *, forwarded: bool) -> None: ...

    def cluster_task_of(self, task_id: int) -> int | None: ...


class Outbox:
    def __init__(
        self,
        journal: OutboxJournal,
        broker: Broker,
        host: str,
        project: str,
        *,
        forwarded: bool,
        on_trouble: Callable[[str | None], None] = lambda _: None,
    ) -> None:
        self.journal = journal
        self.broker = broker
        self.host = host
        self.project = project
        self.forwarded = forwarded
        """No brain here: what is sent is decided elsewhere (no longer pending in this journal)."""
        self.wake = asyncio.Event()
        self.sent = 0
        self.trouble = Reconnecting(on_trouble)

    def message(self, obs: Observation) -> Sent:
        assert obs.id is not None
        task = obs.details.get("cluster_task")
        if task is None and obs.source == "agent" and isinstance(obs.details.get("task_id"), int):
            task = self.journal.cluster_task_of(obs.details["task_id"])
        return Sent(host=self.host, id=obs.id, project=self.project, observation=obs, task=task)

    async def flush(self) -> int:
        """Send what the journal holds unsent; how many. Raises ``BrokerError``."""
        total = 0
        while batch := self.journal.unsent():
            # Sent together, acknowledged together: marked sent only once the broker holds them all.
            await asyncio.gather(
                *(
                    self.broker.publish(
                        obs_subject(self.host, obs.source), sent.model_dump(mode="json"), msg_id=sent.msg_id
                    )
                    for obs in batch
                    for sent in [self.message(obs)]
                )
            )
            self.journal.sent(batch[-1].id or 0, forwarded=self.forwarded)
            total += len(batch)
        self.sent += total
        return total

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            try:
                await self.flush()
            except BrokerError as exc:
                await self.trouble.failed(exc, stop)
                continue
            self.trouble.ok()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.wake.wait(), POLL_S)
            self.wake.clear()
