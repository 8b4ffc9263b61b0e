"""The decision log and the lease with a real broker: the leader's decisions reach every
brain's journal with what they cover; a brain that did not see the last entry is fenced; a
standby leads once the leader is gone (at once on a clean stop, after the lease otherwise)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from conscious.cluster.broker import Broker
from conscious.cluster.lease import Lease
from conscious.cluster.log import ClusterLog
from conscious.cluster.relay import Relay
from conscious.config import ClusterConfig
from conscious.errors import Fenced
from conscious.journal import Journal
from conscious.model import Decision, DecisionRecord, Observation, Task
from tests.cluster.conftest import NatsServer


@dataclass
class Brain:
    host: str
    journal: Journal
    broker: Broker
    log: ClusterLog
    relay: Relay


@pytest.fixture
async def brains(nats_server: NatsServer, tmp_path: Path) -> AsyncIterator[tuple[Brain, Brain]]:
    made = []
    for host in ("brain1", "brain2"):
        journal = Journal(tmp_path / f"{host}.db")
        broker = await Broker.connect(ClusterConfig(broker=[nats_server.url], lease_s=2.0), host)
        relay = Relay(journal, broker, host, "proj", cwd=tmp_path)
        made.append(Brain(host, journal, broker, ClusterLog(journal, broker, host, "proj"), relay))
    yield made[0], made[1]
    for b in made:
        await b.relay.shutdown()
        await b.broker.close()
        b.journal.close()


def delegation(covers: list[int]) -> DecisionRecord:
    decision = Decision(action_type="delegate", reasoning="fix it", target_agent="claude-code", command="fix a.py")
    task = Task(decision_id=0, agent="claude-code", command="fix a.py")
    return DecisionRecord(
        decision=decision,
        covers=covers,
        action="delegate",
        verdict="accepted",
        verdict_reason=None,
        origin="llm",
        task=task,
    )


async def test_the_leader_s_decisions_reach_the_standby(brains: tuple[Brain, Brain]) -> None:
    one, two = brains
    # An observer's observation, taken in by both brains; one of the leader's own.
    remote = Observation(source="filesystem", event_type="modified", target="/w/a.py")
    for b in brains:
        b.journal.ingest(remote.model_copy(), ("obs1", 7))
    own = one.journal.append(Observation(source="self", event_type="started", target="session 1"))
    covers = [own, *one.journal.local_ids([("obs1", 7)], one.host).values()]
    one.log.leading = True
    entry = delegation(covers)
    seq = await one.log.append(entry)
    one.journal.record_decision(entry, cluster_seq=seq)  # the very record the log took

    assert await two.log.catch_up() == 1
    assert two.journal.pending() == []  # both covered: the remote one and the leader's own
    task = two.journal.task_at(seq)
    assert task is not None and task.command == "fix a.py" and task.state == "pending"
    assert [t.id for _, t in two.journal.unfinished_cluster_tasks()] == [task.id]
    assert await two.log.catch_up() == 0  # applied once


async def test_an_entry_waits_for_its_observations(brains: tuple[Brain, Brain]) -> None:
    one, two = brains
    one.journal.ingest(Observation(source="tests", event_type="failed", target="r.xml"), ("obs1", 1))
    one.log.leading = True
    await one.log.append(delegation(list(one.journal.local_ids([("obs1", 1)], one.host).values())))
    assert await two.log.catch_up() == 0 and two.log.behind  # obs1's observation not here yet
    two.log.leading = True
    assert not two.log.leads()  # behind the log: it must not decide
    two.journal.ingest(Observation(source="tests", event_type="failed", target="r.xml"), ("obs1", 1))
    assert await two.log.catch_up() == 1 and not two.log.behind
    assert two.journal.pending() == []


async def test_a_brain_that_missed_an_entry_is_fenced(brains: tuple[Brain, Brain]) -> None:
    one, two = brains
    for b in brains:
        b.journal.ingest(Observation(source="user", event_type="request", target="inbox"), ("obs1", 1))
        b.log.leading = True  # both believe they lead (the moment a lease changes hands)
    first = await one.log.append(delegation(list(one.journal.local_ids([("obs1", 1)], one.host).values())))
    with pytest.raises(Fenced):
        await two.log.append(delegation(list(two.journal.local_ids([("obs1", 1)], two.host).values())))
    # The fenced brain caught up with what the other decided instead.
    assert two.journal.task_at(first) is not None and two.journal.pending() == []
    assert two.log.applied == first


async def test_one_brain_leads_and_a_standby_takes_over(brains: tuple[Brain, Brain]) -> None:
    one, two = brains
    changes: list[tuple[str, bool]] = []
    leases = [
        Lease(
            b.broker,
            b.host,
            b.log,
            b.relay,
            lease_s=2.0,
            on_change=lambda leads, _, h=b.host: changes.append((h, leads)),
        )
        for b in brains
    ]
    await leases[0].round()
    await leases[1].round()
    assert one.log.leads() and not two.log.leads()
    # The leader stops renewing (it died): the standby leads once the lease has expired.
    for _ in range(60):
        await asyncio.sleep(0.1)
        await leases[1].round()
        if two.log.leads():
            break
    assert two.log.leads()
    await leases[0].round()  # the old leader finds its lease gone: it stops deciding
    assert not one.log.leads()
    assert changes == [("brain1", True), ("brain2", False), ("brain2", True), ("brain1", False)]
    # A clean stop hands over at once.
    await leases[1].release()
    await leases[0].round()
    assert one.log.leads() and not two.log.leads()


async def test_the_leaders_own_catch_up_never_applies_what_it_is_appending(brains: tuple[Brain, Brain]) -> None:
    """The inbox catches up at every round while the loop appends and commits: the same entry
    applied by both was refused as a second copy, and the inbox died holding the lease."""
    one, _ = brains
    one.log.leading = True
    stop = asyncio.Event()

    async def inbox_rounds() -> None:
        while not stop.is_set():
            await one.log.catch_up()
            await asyncio.sleep(0)

    rounds = asyncio.create_task(inbox_rounds())
    for i in range(60):
        obs = one.journal.append(
            Observation(source="user", event_type="request", target="inbox", details={"text": f"r{i}"})
        )
        entry = delegation([obs])
        assert entry.task is not None
        task = Task(decision_id=0, agent=entry.task.agent, command=f"fix r{i}")
        seq = await one.log.append(entry)
        # The loop commits right after the append returns, before its next await (Committer).
        one.journal.record_decision(
            DecisionRecord.of(entry.decision, [obs], verdict="accepted", task=task), cluster_seq=seq
        )
    stop.set()
    await rounds  # a catch-up that raised would raise here
    assert one.journal.applied_seq() == 60 and one.journal.pending() == []
    assert sorted(str(t["command"]) for t in one.journal.tasks(limit=100)) == sorted(f"fix r{i}" for i in range(60))


async def test_a_brain_restarted_under_its_own_name_says_it_waits_for_its_earlier_run(
    brains: tuple[Brain, Brain],
) -> None:
    one, _ = brains
    said: list[str] = []
    earlier = Lease(one.broker, one.host, one.log, one.relay, lease_s=2.0, on_change=lambda _, why: said.append(why))
    await earlier.round()  # it leads, then dies without handing the lease over
    assert one.log.leads()
    one.log.leading = False
    again = Lease(one.broker, one.host, one.log, one.relay, lease_s=2.0, on_change=lambda _, why: said.append(why))
    await again.round()
    assert said[-1] == "an earlier run of brain1 holds the lease for up to 2 s; then this run leads"
    for _ in range(60):
        await asyncio.sleep(0.1)
        await again.round()
        if one.log.leads():
            break
    assert one.log.leads()
