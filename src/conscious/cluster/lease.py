"""Leadership among brains: a key in a bucket whose entries expire.

The leader renews the key ``brain`` (compare-and-set on its revision) every quarter of the
lease; a standby tries to create it, which succeeds only once the key is gone — the leader let
it go on a clean stop, or it expired ``lease_s`` after the last renewal. A new leader applies
the whole decision log before it decides anything, and follows the tasks still out. A leader
that cannot renew (the broker unreachable, or its key taken) stops deciding at once; the log's
fence covers the moments in between.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import Callable

import nats

from conscious.cluster.broker import Broker, said
from conscious.cluster.log import ClusterLog
from conscious.cluster.reconnect import pause
from conscious.cluster.relay import Relay
from conscious.errors import BrokerError

log = logging.getLogger("conscious")

KEY = "brain"


class Lease:
    def __init__(
        self,
        broker: Broker,
        host: str,
        clog: ClusterLog,
        relay: Relay,
        *,
        lease_s: float,
        on_change: Callable[[bool, str], None] = lambda leads, why: None,
    ) -> None:
        self.broker = broker
        self.host = host
        self.log = clog
        self.relay = relay
        self.lease_s = lease_s
        self.on_change = on_change
        self.revision: int | None = None
        self.follows: str | None = None
        """The leader this standby last said it follows."""
        self.since: float | None = None
        """When (``time.time()``) this brain took the lead."""

    @property
    def value(self) -> bytes:
        return json.dumps({"host": self.host, "since": self.since}).encode()

    async def run(self, stop: asyncio.Event) -> None:
        try:
            while not stop.is_set():
                await self.round()
                await pause(stop, self.lease_s / 4)
        finally:
            await self.release()

    async def round(self) -> None:
        try:
            if self.revision is not None:
                self.revision = await self.broker.leader.update(KEY, self.value, last=self.revision)
            else:
                await self._try_take()
        except (BrokerError, TimeoutError, nats.errors.Error) as exc:
            if self.revision is not None:
                self._lose(f"cannot renew the lease: {said(exc)}")

    async def _try_take(self) -> None:
        self.since = time.time()
        try:
            self.revision = await self.broker.leader.create(KEY, self.value)
            self.follows = None
        except nats.js.errors.KeyWrongLastSequenceError:
            self.since = None
            await self._standing_by()
            return
        try:
            await self.log.catch_up()
        except BrokerError as exc:
            self._lose(f"took the lease but cannot read the decision log: {exc}")
            return
        adopted = self.relay.adopt()
        self.log.leading = True
        self.on_change(True, f"leads (decision log at {self.log.applied}; {adopted} task(s) out)")

    async def _standing_by(self) -> None:
        """Said once per leader: who leads, while this brain stands by."""
        try:
            holder = str(json.loads((await self.broker.leader.get(KEY)).value or b"{}").get("host"))
        except (TimeoutError, nats.errors.Error, ValueError):
            return
        if holder != self.follows:
            self.follows = holder
            if holder == self.host:  # not this run: one before it, gone without handing the lease over
                self.on_change(
                    False,
                    f"an earlier run of {holder} holds the lease for up to {self.lease_s:g} s; then this run leads",
                )
            else:
                self.on_change(False, f"{holder} leads")

    def _lose(self, why: str) -> None:
        self.revision = None
        self.since = None
        if self.log.leading:
            self.log.leading = False
            self.on_change(False, why)

    async def release(self) -> None:
        """A clean stop hands the lead over at once instead of after the lease expires."""
        if self.revision is None:
            return
        self.log.leading = False
        with contextlib.suppress(TimeoutError, nats.errors.Error):
            await asyncio.wait_for(self.broker.leader.delete(KEY, last=self.revision), 3.0)
        self.revision = None
