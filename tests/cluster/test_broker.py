"""The broker as the roles use it: a clear line when it is not there, a message id never
stored twice, and an append that names the wrong last sequence refused (the fence)."""

from __future__ import annotations

import pytest

from conscious.cluster.broker import DECISIONS, DECISIONS_STREAM, Broker, obs_subject, subject_part, task_subject
from conscious.config import ClusterConfig
from conscious.errors import BrokerError, Fenced
from tests.cluster.conftest import NatsServer, free_port


async def test_unreachable_broker_is_one_line() -> None:
    with pytest.raises(BrokerError) as caught:
        await Broker.connect(ClusterConfig(broker=[f"nats://127.0.0.1:{free_port()}"]), "test")
    assert "cannot reach the broker at nats://127.0.0.1:" in str(caught.value)
    assert "\n" not in str(caught.value)


async def test_no_broker_configured() -> None:
    with pytest.raises(BrokerError, match="no broker configured"):
        await Broker.connect(ClusterConfig(), "test")


async def test_duplicates_dropped_and_fence(nats_server: NatsServer) -> None:
    broker = await Broker.connect(ClusterConfig(broker=[nats_server.url]), "test")
    try:
        first = await broker.publish(obs_subject("h", "files"), {"n": 1}, msg_id="h:1")
        again = await broker.publish(obs_subject("h", "files"), {"n": 1}, msg_id="h:1")
        assert first == (1, False) and again == (1, True)

        assert await broker.last_seq(DECISIONS_STREAM) == 0
        seq, _ = await broker.publish(DECISIONS, {"d": 1}, after=0)
        assert seq == 1
        with pytest.raises(Fenced):
            await broker.publish(DECISIONS, {"d": 2}, after=0)  # a brain that did not see entry 1
        assert await broker.last_seq(DECISIONS_STREAM) == 1
    finally:
        await broker.close()


def test_names_become_subject_tokens() -> None:
    assert subject_part("laptop.local") == "laptop_local"
    assert obs_subject("a b", "user") == "conscious.obs.a_b.user"
    assert task_subject("my.proj", "claude-code") == "conscious.tasks.my_proj.claude-code"


async def test_the_lease_is_what_the_latest_brain_says(nats_server: NatsServer) -> None:
    async def lease_now() -> float:
        reader = await Broker.connect(ClusterConfig(broker=[nats_server.url], lease_s=1.0), "reader")
        try:
            return float((await reader.js.stream_info("KV_conscious-leader")).config.max_age or 0)
        finally:
            await reader.close()

    for lease in (3.0, 7.0, 2.0):  # shorter than the bucket's duplicate window too
        brain = await Broker.connect(ClusterConfig(broker=[nats_server.url], lease_s=lease), "b", brain=True)
        await brain.close()
        assert await lease_now() == lease  # an observer or the status command (lease 1) changes nothing
