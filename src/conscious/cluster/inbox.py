"""A brain takes in what every host observed: its own durable consumer on the observations
stream (each brain keeps a whole copy, so a standby is ready), the decision log applied first.

An observation is journaled here once (its origin is unique) and acknowledged only after that:
a brain that dies mid-batch is handed the rest again. A worker's report on a cluster task
settles the task's row here (``Relay.outcome``) and is then an observation like any other.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterable
from typing import Protocol

import nats
from nats.aio.msg import Msg
from pydantic import ValidationError

from conscious.cluster.broker import OBS_STREAM, Broker, said
from conscious.cluster.log import ClusterLog
from conscious.cluster.messages import Sent
from conscious.cluster.reconnect import Reconnecting
from conscious.cluster.relay import Relay
from conscious.errors import BrokerError
from conscious.journal.cluster import Key
from conscious.model import Observation

log = logging.getLogger("conscious")

FETCH = 200
WAIT_S = 0.5


class InboxJournal(Protocol):
    """The journal as a brain's inbox uses it: what the other hosts sent, taken once each."""

    def ingest_many(self, items: Iterable[tuple[Observation, Key]]) -> list[Observation]: ...


class Inbox:
    def __init__(
        self,
        journal: InboxJournal,
        broker: Broker,
        host: str,
        clog: ClusterLog,
        relay: Relay,
        *,
        noticed: Callable[[Observation], None],
        on_trouble: Callable[[str | None], None] = lambda _: None,
    ) -> None:
        self.journal = journal
        self.broker = broker
        self.host = host
        self.log = clog
        self.relay = relay
        self.noticed = noticed
        self.trouble = Reconnecting(on_trouble)
        self.taken = 0

    def take(self, batch: list[Sent]) -> list[Sent]:
        """Journal a batch of observations from other hosts in one transaction; those that must
        wait (a task's outcome whose decision is not applied here yet) are returned. A task is
        settled by its report only once that report is journaled: a redelivered copy settles nothing."""
        later: list[Sent] = []
        items = []
        for sent in batch:
            if sent.host == self.host:
                continue  # journaled here first: this is the copy the others get
            obs = sent.restored()
            if sent.task is not None:
                named = self.relay.renamed(sent.task, obs, sent.host)
                if named is None:
                    later.append(sent)
                    continue
                obs = named
            items.append((obs, sent.key))
        for obs in self.journal.ingest_many(items):
            self.taken += 1
            self.relay.settled(obs)
            self.noticed(obs)
        return later

    async def run(self, stop: asyncio.Event) -> None:
        sub = None
        while not stop.is_set():
            try:
                if sub is None:
                    sub = await self.broker.consumer(OBS_STREAM, f"brain-{self.host}", "conscious.obs.>")
                await self.log.catch_up()
                await self._round(sub)
            except BrokerError as exc:
                await self.trouble.failed(exc, stop)
                continue
            self.trouble.ok()

    async def _round(self, sub: nats.js.JetStreamContext.PullSubscription) -> None:
        try:
            msgs = await sub.fetch(FETCH, timeout=WAIT_S)
        except TimeoutError:  # nothing came (nats' own, or asyncio's when the loop was busy)
            return
        except nats.errors.Error as exc:
            raise BrokerError(f"cannot take observations from the broker: {said(exc)}") from None
        batch: list[tuple[Sent, Msg]] = []
        for msg in msgs:
            try:
                batch.append((Sent.model_validate_json(msg.data), msg))
            except ValidationError as exc:
                log.error("an observation on %s cannot be read; set aside: %s", msg.subject, str(exc).splitlines()[0])
                await msg.term()
        later = {id(sent) for sent in self.take([sent for sent, _ in batch])}
        for sent, msg in batch:  # acknowledged once journaled: a brain dying before is handed them again
            await (msg.nak(delay=1.0) if id(sent) in later else msg.ack())
