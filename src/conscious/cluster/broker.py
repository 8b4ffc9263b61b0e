"""The broker: one NATS connection with JetStream, and the streams and buckets the roles share.

    subject                              stream / bucket        what
    conscious.obs.<host>.<source>        CONSCIOUS_OBS          every host's observations, deduplicated
                                                                by message id ``<host>:<id>``
    conscious.decisions                  CONSCIOUS_DECISIONS    the leading brain's log; an append names
                                                                the sequence it follows (the fence)
    conscious.tasks.<project>.<agent>    CONSCIOUS_TASKS        the work queue, id ``task-<seq>``
    bucket conscious-leader              key ``brain``          the leader's lease (expires)
    bucket conscious-started             key ``t<seq>``         a task's "started" fence
    bucket conscious-hosts               key ``<host>``         who is there and what it does (expires)

Every error from the client becomes a ``BrokerError`` with one line for the user; a decision
the stream refuses because another brain appended first is ``Fenced``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import ssl
from typing import Any

import nats
from nats.aio.client import Client
from nats.js import JetStreamContext
from nats.js.api import (
    AckPolicy,
    ConsumerConfig,
    DeliverPolicy,
    KeyValueConfig,
    RetentionPolicy,
    StorageType,
    StreamConfig,
)
from nats.js.kv import KeyValue

from conscious.config import ClusterConfig
from conscious.errors import BrokerError, Fenced

OBS_STREAM, DECISIONS_STREAM, TASKS_STREAM = "CONSCIOUS_OBS", "CONSCIOUS_DECISIONS", "CONSCIOUS_TASKS"
DECISIONS = "conscious.decisions"
LEADER, STARTED, HOSTS = "conscious-leader", "conscious-started", "conscious-hosts"
DEDUP_WINDOW_S = 600.0
"""How long the broker remembers a message id: a re-send within it is dropped by the broker
(beyond it, by the journal's unique origin, or the task's started fence)."""
CONNECT_TIMEOUT_S = 5.0
WRONG_LAST_SEQUENCE = 10071


def subject_part(name: str) -> str:
    """A name as one subject token (no dots, spaces or wildcards)."""
    return re.sub(r"[^A-Za-z0-9_-]", "_", name) or "_"


def obs_subject(host: str, source: str) -> str:
    return f"conscious.obs.{subject_part(host)}.{subject_part(source)}"


def task_subject(project: str, agent: str) -> str:
    return f"conscious.tasks.{subject_part(project)}.{subject_part(agent)}"


def encode(value: dict[str, Any]) -> bytes:
    return json.dumps(value, default=str, separators=(",", ":")).encode()


class Broker:
    """A connection to the broker, its JetStream context and the three buckets."""

    def __init__(self, nc: Client, js: JetStreamContext, config: ClusterConfig) -> None:
        self.nc = nc
        self.js = js
        self.config = config
        self.leader: KeyValue
        self.started: KeyValue
        self.hosts: KeyValue

    @classmethod
    async def connect(cls, config: ClusterConfig, name: str, *, brain: bool = False) -> Broker:
        """Connect (reconnecting by itself after that) and make sure the streams and buckets
        exist; a ``brain`` sets the leader's lease to its own ``lease_s``."""
        if not config.broker:
            raise BrokerError("no broker configured: set [cluster] broker = ['nats://host:4222']")
        nc = Client()
        options: dict[str, Any] = {
            "servers": config.broker,
            "name": name,
            "max_reconnect_attempts": -1,
            "reconnect_time_wait": 1,
            "connect_timeout": 2,
            "error_cb": _quiet,
        }
        if config.credentials:
            options["user_credentials"] = config.credentials
        if config.token:
            options["token"] = config.token
        if config.tls_ca or config.tls_cert or any(u.startswith("tls://") for u in config.broker):
            options["tls"] = _tls(config)
        where = ", ".join(config.broker)
        try:
            await asyncio.wait_for(nc.connect(**options), CONNECT_TIMEOUT_S)
        except (TimeoutError, OSError, nats.errors.Error) as exc:
            await _close(nc)
            raise BrokerError(f"cannot reach the broker at {where}: {said(exc) or 'no answer'}") from None
        broker = cls(nc, nc.jetstream(timeout=5.0), config)
        try:
            await broker._ensure(brain)
        except BrokerError:
            await _close(nc)
            raise
        return broker

    async def _ensure(self, brain: bool) -> None:
        replicas = self.config.replicas
        streams = [
            StreamConfig(
                name=OBS_STREAM,
                subjects=["conscious.obs.>"],
                duplicate_window=DEDUP_WINDOW_S,
                storage=StorageType.FILE,
                num_replicas=replicas,
            ),
            StreamConfig(name=DECISIONS_STREAM, subjects=[DECISIONS], storage=StorageType.FILE, num_replicas=replicas),
            StreamConfig(
                name=TASKS_STREAM,
                subjects=["conscious.tasks.>"],
                retention=RetentionPolicy.WORK_QUEUE,
                duplicate_window=DEDUP_WINDOW_S,
                storage=StorageType.FILE,
                num_replicas=replicas,
            ),
        ]
        try:
            for stream in streams:
                try:
                    await self.js.stream_info(stream.name or "")
                except nats.js.errors.NotFoundError:
                    await self.js.add_stream(stream)
            self.leader = await self._bucket(LEADER, ttl=self.config.lease_s, renew=brain)
            self.started = await self._bucket(STARTED, ttl=None)
            self.hosts = await self._bucket(HOSTS, ttl=max(15.0, 3 * self.config.lease_s))
        except (TimeoutError, nats.errors.Error) as exc:
            raise BrokerError(f"the broker at {', '.join(self.config.broker)} has no JetStream: {said(exc)}") from None

    async def _bucket(self, name: str, ttl: float | None, *, renew: bool = False) -> KeyValue:
        try:
            bucket = await self.js.key_value(name)
        except nats.js.errors.BucketNotFoundError:
            pass
        else:
            # An entry's life is the bucket's: the lease is what the latest brain to start says.
            info = await self.js.stream_info(f"KV_{name}")
            if renew and ttl is not None and info.config.max_age != ttl:
                info.config.max_age = ttl
                info.config.duplicate_window = min(info.config.duplicate_window or ttl, ttl)
                await self.js.update_stream(info.config)
            return bucket
        try:
            return await self.js.create_key_value(
                KeyValueConfig(bucket=name, history=1, ttl=ttl, replicas=self.config.replicas)
            )
        except nats.js.errors.BadRequestError:  # made by another process meanwhile
            return await self.js.key_value(name)

    async def publish(
        self, subject: str, value: dict[str, Any], *, msg_id: str | None = None, after: int | None = None
    ) -> tuple[int, bool]:
        """Append to a stream: (its sequence, whether the broker had it already). ``after``:
        only if the stream's last message is that sequence, else ``Fenced``."""
        headers: dict[str, str] = {}
        if msg_id is not None:
            headers["Nats-Msg-Id"] = msg_id
        if after is not None:
            headers["Nats-Expected-Last-Sequence"] = str(after)
        try:
            ack = await self.js.publish(subject, encode(value), headers=headers or None)
        except nats.js.errors.APIError as exc:
            if exc.err_code == WRONG_LAST_SEQUENCE:
                raise Fenced(f"the decision log moved past {after}: another brain decided") from None
            raise BrokerError(f"the broker refused a message on {subject}: {said(exc)}") from None
        except (TimeoutError, nats.errors.Error) as exc:
            raise BrokerError(f"cannot publish to the broker: {said(exc) or 'no answer'}") from None
        return ack.seq, bool(ack.duplicate)

    async def consumer(
        self, stream: str, durable: str, subject: str, *, ack_wait: float = 30.0, from_start: bool = True
    ) -> JetStreamContext.PullSubscription:
        """A durable pull consumer (one position per name, kept by the broker)."""
        config = ConsumerConfig(
            ack_policy=AckPolicy.EXPLICIT,
            ack_wait=ack_wait,
            deliver_policy=DeliverPolicy.ALL if from_start else DeliverPolicy.NEW,
            max_ack_pending=1000,
        )
        try:
            return await self.js.pull_subscribe(subject, durable=subject_part(durable), stream=stream, config=config)
        except (TimeoutError, nats.errors.Error) as exc:
            raise BrokerError(f"cannot follow {stream} on the broker: {said(exc)}") from None

    async def last_seq(self, stream: str) -> int:
        try:
            info = await self.js.stream_info(stream)
        except (TimeoutError, nats.errors.Error) as exc:
            raise BrokerError(f"cannot read {stream} on the broker: {said(exc)}") from None
        return int(info.state.last_seq)

    async def pending(self, stream: str, durable: str) -> int | None:
        """Messages a consumer has not yet taken (None: no such consumer)."""
        try:
            info = await self.js.consumer_info(stream, subject_part(durable))
        except (TimeoutError, nats.errors.Error):
            return None
        return int(info.num_pending or 0) + int(info.num_ack_pending or 0)

    @property
    def connected(self) -> bool:
        return bool(self.nc.is_connected)

    async def close(self) -> None:
        await _close(self.nc)


def _tls(config: ClusterConfig) -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=config.tls_ca)
    if config.tls_cert:
        context.load_cert_chain(config.tls_cert, config.tls_key)
    return context


def said(exc: BaseException) -> str:
    """A client error in a few words (some have no message of their own)."""
    if isinstance(exc, TimeoutError):
        return "no answer"
    if isinstance(exc, nats.js.errors.APIError) and exc.description:
        return str(exc.description)
    return str(exc).strip() or type(exc).__name__


async def _quiet(exc: Exception) -> None:
    """The client's own error callback: reconnects are expected; the roles report what matters."""


async def _close(nc: Client) -> None:
    with contextlib.suppress(TimeoutError, nats.errors.Error, OSError):
        await asyncio.wait_for(nc.close(), 5.0)
