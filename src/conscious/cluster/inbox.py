"""A brain takes in what every host observed: its own durable consumer on the observations
stream (each brain keeps a whole copy, so a standby is ready), the decision log applied first.

An observation is journaled here once (its origin is unique) and acknowledged only after that:
a brain that dies mid-batch is handed the rest again. A worker's report on a cluster task
settles the task's row here (``Relay.outcome``) and is then an observation like any other.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable

import nats
from pydantic import ValidationError

from conscious.cluster.broker import OBS_STREAM, Broker
from conscious.cluster.log import ClusterLog
from conscious.cluster.relay import Relay
from conscious.cluster.wire import Sent
from conscious.errors import BrokerError
from conscious.journal import Journal
from conscious.loop.backoff import backoff
from conscious.model import Observation

log = logging.getLogger("conscious")

FETCH = 200
WAIT_S = 0.5


class Inbox:
    def __init__(
        self,
        journal: Journal,
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
        self.on_trouble = on_trouble
        self.taken = 0
        self.trouble: str | None = None

    def take(self, sent: Sent) -> bool:
        """Journal one observation from another host; False when it must wait (its task's
        decision is not applied here yet)."""
        if sent.host == self.host:
            return True  # journaled here first: this is the copy the others get
        obs = sent.restored()
        if sent.task is not None:
            if self.journal.task_at(sent.task) is None:
                return False
            obs = self.relay.outcome(sent.task, obs)
        if self.journal.ingest(obs, sent.key) is not None:
            self.taken += 1
            self.noticed(obs)
        return True

    async def run(self, stop: asyncio.Event) -> None:
        failures = 0
        sub = None
        while not stop.is_set():
            try:
                if sub is None:
                    sub = await self.broker.consumer(OBS_STREAM, f"brain-{self.host}", "conscious.obs.>")
                await self.log.catch_up()
                await self._round(sub)
                failures = 0
                if self.trouble is not None:
                    self.trouble = None
                    self.on_trouble(None)
            except BrokerError as exc:
                failures += 1
                if self.trouble is None:
                    self.trouble = str(exc)
                    self.on_trouble(self.trouble)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), min(10.0, backoff(failures, 0.5)))

    async def _round(self, sub: nats.js.JetStreamContext.PullSubscription) -> None:
        try:
            msgs = await sub.fetch(FETCH, timeout=WAIT_S)
        except nats.errors.TimeoutError:
            return
        except (TimeoutError, nats.errors.Error) as exc:
            raise BrokerError(f"cannot take observations from the broker: {exc or 'no answer'}") from None
        for msg in msgs:
            try:
                sent = Sent.model_validate_json(msg.data)
            except ValidationError as exc:
                log.error("an observation on %s cannot be read; set aside: %s", msg.subject, str(exc).splitlines()[0])
                await msg.term()
                continue
            if self.take(sent):
                await msg.ack()
            else:
                await msg.nak(delay=1.0)
