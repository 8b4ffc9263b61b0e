"""The cluster's decision log: the leader appends, every brain applies, in order.

The stream ``CONSCIOUS_DECISIONS`` is the one order of decisions. The leader appends a decision
naming the sequence it last applied (``Nats-Expected-Last-Sequence``): if any other brain
appended since, the stream refuses it (``Fenced``) and the decision is dropped before it is
committed or acted on. So two brains never both decide a batch, even in the moments when each
believes it leads. Every brain (the leader too, after a restart) applies the log to its own
journal in order, so a standby that takes over knows every decision, task and what each covered.

The leader's own entry is committed by its loop, right after the append returns; a catch-up
running meanwhile (the inbox's, at every round) could read the new last sequence while the
append was still on its way back and apply the same entry, which the journal then refused as a
second copy — and the inbox died of it while the brain kept its lease. So appending and catching
up take turns (one lock), and applying skips an entry the journal already holds: one row per
sequence, by construction.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable, Sequence
from typing import Protocol

import nats
from pydantic import ValidationError

from conscious.cluster.broker import DECISIONS, DECISIONS_STREAM, Broker, said
from conscious.cluster.messages import Logged, Sent
from conscious.errors import BrokerError, Fenced
from conscious.journal.cluster import Key
from conscious.journal.decisions import Committed
from conscious.journal.rows import JournaledTurn
from conscious.model import DecisionRecord, Observation

log = logging.getLogger("conscious")


class LogJournal(Protocol):
    """The journal as the decision log uses it: where it stands in the log, and what it applies."""

    def applied_seq(self) -> int: ...

    def holds_seq(self, seq: int) -> bool: ...

    def ingest(self, obs: Observation, key: Key) -> int | None: ...

    def keyed(self, ids: Iterable[int], me: str) -> list[tuple[Key, Observation, bool]]: ...

    def local_ids(self, keys: Iterable[Key], me: str) -> dict[Key, int]: ...

    def record_decision(
        self, record: DecisionRecord, *, turns: Sequence[JournaledTurn] = (), cluster_seq: int | None = None
    ) -> Committed: ...


class ClusterLog:
    """The ``DecisionLog`` of a brain on several machines."""

    def __init__(self, journal: LogJournal, broker: Broker, host: str, project: str) -> None:
        self.journal = journal
        self.broker = broker
        self.host = host
        self.project = project
        self.leading = False
        """Set by the lease, once this brain holds it and has applied the whole log."""
        self.position = journal.applied_seq()
        """The last entry of the log read here: applied, or set aside as unreadable."""
        self._turn = asyncio.Lock()
        """Appending (until the loop has committed what it appended) and catching up take turns."""
        self.behind = False
        """The last catch-up stopped short (an entry's observations still on their way)."""

    @property
    def applied(self) -> int:
        return self.position

    def leads(self) -> bool:
        return self.leading and not self.behind

    async def append(self, entry: DecisionRecord) -> int:
        """Its sequence in the log. The caller commits it to the journal before its next await:
        the lock is released on return, and a catch-up waiting for it resumes only after that."""
        async with self._turn:
            return await self._append(entry)

    async def _append(self, entry: DecisionRecord) -> int:
        if not self.leading:
            raise Fenced("this brain does not hold the lease")
        keyed = self.journal.keyed(entry.covers, self.host)
        task = entry.task
        logged = Logged(
            brain=self.host,
            decision=entry.decision,
            covers=[key for key, _, _ in keyed],
            observations=[
                Sent(host=self.host, id=key[1], project=self.project, observation=obs) for key, obs, own in keyed if own
            ],
            verdict=entry.verdict,
            verdict_reason=entry.verdict_reason,
            action=entry.action,
            origin=entry.origin,
            task_agent=task.agent if task else None,
            task_command=task.command if task else None,
            task_state=task.state if task else None,
            approval_expires=entry.approval_expires,
            latency_ms=entry.latency_ms,
            prompt_tokens=entry.prompt_tokens,
            cached_tokens=entry.cached_tokens,
        )
        try:
            seq, _ = await self.broker.publish(DECISIONS, logged.model_dump(mode="json"), after=self.position)
        except Fenced:
            await self._catch_up()  # what the other brain decided, before anything else is
            raise
        self.position = seq
        return seq

    async def catch_up(self) -> int:
        """Apply what the log holds beyond this journal; how many. Stops at an entry whose
        observations have not arrived yet (the next call goes on). Raises ``BrokerError``."""
        async with self._turn:
            return await self._catch_up()

    async def _catch_up(self) -> int:
        last = await self.broker.last_seq(DECISIONS_STREAM)
        done = 0
        self.position = max(self.position, self.journal.applied_seq())
        while self.position < last:
            seq = self.position + 1
            try:
                raw = await self.broker.js.get_msg(DECISIONS_STREAM, seq)
            except nats.js.errors.NotFoundError:
                self.position = seq  # removed from the stream by its limits: nothing to apply
                continue
            except (TimeoutError, nats.errors.Error) as exc:
                raise BrokerError(f"cannot read the decision log: {said(exc)}") from None
            try:
                logged = Logged.model_validate_json(raw.data or b"")
            except ValidationError as exc:
                log.error("decision log entry %d cannot be read; set aside: %s", seq, str(exc).splitlines()[0])
                self.position = seq
                continue
            if not self.apply(seq, logged):
                self.behind = True
                return done
            self.position = seq
            done += 1
        self.behind = False
        return done

    def apply(self, seq: int, logged: Logged) -> bool:
        """Commit one entry of the log here; False when observations it covers are still on their way.
        An entry the journal holds already is applied (once is enough)."""
        if self.journal.holds_seq(seq):
            return True
        for sent in logged.observations:
            if sent.host != self.host:
                self.journal.ingest(sent.restored(), sent.key)
        ids = self.journal.local_ids(logged.covers, self.host)
        if len(ids) < len(logged.covers):
            return False
        self.journal.record_decision(logged.record(list(ids.values())), cluster_seq=seq)
        return True
