"""The journal is the outbox: observations go out in order, once; while the broker is down
they are kept; a re-send after a crash is never a second observation at a brain."""

from __future__ import annotations

import asyncio
from pathlib import Path

import nats

from conscious.cluster.broker import OBS_STREAM, Broker
from conscious.cluster.messages import Sent
from conscious.cluster.outbox import Outbox
from conscious.config import ClusterConfig
from conscious.errors import BrokerError
from conscious.journal import Journal
from conscious.model import Observation
from tests.cluster.conftest import NatsServer


def seen(n: int) -> Observation:
    return Observation(source="filesystem", event_type="modified", target=f"/w/f{n}.py")


async def stream_messages(broker: Broker) -> list[Sent]:
    sub = await broker.consumer(OBS_STREAM, "reader", "conscious.obs.>")
    found: list[Sent] = []
    while True:
        try:
            msgs = await sub.fetch(100, timeout=0.5)
        except nats.errors.TimeoutError:
            return found
        for m in msgs:
            found.append(Sent.model_validate_json(m.data))
            await m.ack()


async def test_sent_once_in_order_and_forwarded(nats_server: NatsServer, tmp_path: Path) -> None:
    journal = Journal(tmp_path / "j.db")
    broker = await Broker.connect(ClusterConfig(broker=[nats_server.url]), "t")
    try:
        for n in range(5):
            journal.append(seen(n))
        outbox = Outbox(journal, broker, "obs1", "proj", forwarded=True)
        assert await outbox.flush() == 5
        assert await outbox.flush() == 0
        assert journal.pending() == []  # decided elsewhere: not pending here
        assert journal.outbox_backlog() == 0
        got = await stream_messages(broker)
        assert [s.observation.target for s in got] == [f"/w/f{n}.py" for n in range(5)]
        assert {s.host for s in got} == {"obs1"} and [s.id for s in got] == sorted(s.id for s in got)
    finally:
        await broker.close()
        journal.close()


async def test_kept_while_the_broker_is_down_then_sent(nats_server: NatsServer, tmp_path: Path) -> None:
    journal = Journal(tmp_path / "j.db")
    broker = await Broker.connect(ClusterConfig(broker=[nats_server.url]), "t")
    troubles: list[str | None] = []
    outbox = Outbox(journal, broker, "obs1", "proj", forwarded=True, on_trouble=troubles.append)
    stop = asyncio.Event()
    running = asyncio.create_task(outbox.run(stop))
    try:
        journal.append(seen(0))
        await asyncio.sleep(1.0)
        nats_server.stop()
        for n in range(1, 4):
            journal.append(seen(n))
        for _ in range(100):  # a publish with no broker fails once its wait for the ack is over
            if troubles:
                break
            await asyncio.sleep(0.1)
        assert troubles and troubles[0] is not None
        assert journal.outbox_backlog() == 3  # kept, not lost, not marked sent
        nats_server.start()
        for _ in range(100):
            if journal.outbox_backlog() == 0:
                break
            await asyncio.sleep(0.2)
        assert journal.outbox_backlog() == 0
        assert troubles[-1] is None  # said when it works again
        got = await stream_messages(broker)
        assert sorted(s.observation.target for s in got) == [f"/w/f{n}.py" for n in range(4)]
    finally:
        stop.set()
        await running
        await broker.close()
        journal.close()


async def test_resent_after_a_crash_is_not_a_second_observation(nats_server: NatsServer, tmp_path: Path) -> None:
    journal = Journal(tmp_path / "j.db")
    brain = Journal(tmp_path / "brain.db")
    broker = await Broker.connect(ClusterConfig(broker=[nats_server.url]), "t")
    try:
        journal.append(seen(0))
        journal.append(seen(1))
        outbox = Outbox(journal, broker, "obs1", "proj", forwarded=False)
        await outbox.flush()
        # A crash after the broker took them but before the cursor was written: all sent again.
        journal.set_identity(outbox_sent=0)
        await outbox.flush()
        got = await stream_messages(broker)
        assert len(got) == 2  # the broker dropped the re-sends (same message ids)
        for sent in got + got:  # and a brain taking them twice journals them once
            brain.ingest(sent.restored(), sent.key)
        assert len(brain.pending()) == 2
    finally:
        await broker.close()
        journal.close()
        brain.close()


async def test_flush_raises_a_broker_error_when_it_is_gone(nats_server: NatsServer, tmp_path: Path) -> None:
    journal = Journal(tmp_path / "j.db")
    broker = await Broker.connect(ClusterConfig(broker=[nats_server.url]), "t")
    try:
        nats_server.stop()
        journal.append(seen(0))
        outbox = Outbox(journal, broker, "obs1", "proj", forwarded=True)
        try:
            await outbox.flush()
        except BrokerError as exc:
            assert "broker" in str(exc)
        else:
            raise AssertionError("sent with no broker")
        assert journal.outbox_backlog() == 1 and len(journal.pending()) == 1
    finally:
        await broker.close()
        journal.close()
