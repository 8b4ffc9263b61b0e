"""A worker with a real broker and the stand-in `claude` as a real subprocess: a task is run
once and its outcome names the cluster's task; a task handed out again after its worker went
silent is never started a second time (it is reported interrupted)."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from conscious.cluster.broker import Broker, task_subject
from conscious.cluster.messages import Assignment
from conscious.cluster.outbox import Outbox
from conscious.cluster.worker import Worker
from conscious.config import ClaudeCodeConfig, ClusterConfig
from conscious.delegate.claude_code import ClaudeCodeDelegate
from conscious.delegate.dispatch import RecordedEvents
from conscious.delegate.dispatcher import LocalDispatcher
from conscious.journal import Journal
from conscious.model import Observation
from tests.cluster.conftest import NatsServer
from tests.conftest import FAKES_BIN


def worker(journal: Journal, broker: Broker, cwd: Path, host: str, seen: list[Observation]) -> Worker:
    agents = {"claude-code": ClaudeCodeDelegate(ClaudeCodeConfig(binary=str(FAKES_BIN / "claude")))}
    dispatcher = LocalDispatcher(journal, agents, cwd=cwd, events=RecordedEvents(observations=seen))

    def accept(obs: Observation) -> None:
        journal.append(obs)
        seen.append(obs)

    return Worker(journal, broker, dispatcher, host, "proj", ["claude-code"], ack_wait=1.0, capacity=2, accept=accept)


async def until(check: object, timeout: float = 20.0) -> None:
    assert callable(check)
    for _ in range(int(timeout / 0.1)):
        if check():
            return
        await asyncio.sleep(0.1)
    raise AssertionError("timed out")


Pair = tuple[Worker, list[Observation]]


async def two_workers(nats_server: NatsServer, tmp_path: Path) -> tuple[list[Journal], list[Broker], Pair, Pair]:
    """Workers w1 and w2, each with its journal, its broker link and what it observed."""
    journals = [Journal(tmp_path / "w1.db"), Journal(tmp_path / "w2.db")]
    brokers = [await Broker.connect(ClusterConfig(broker=[nats_server.url]), h) for h in ("w1", "w2")]
    seen: tuple[list[Observation], list[Observation]] = ([], [])
    made = [worker(journals[i], brokers[i], tmp_path, f"w{i + 1}", seen[i]) for i in (0, 1)]
    return journals, brokers, (made[0], seen[0]), (made[1], seen[1])


def starts(log: Path) -> list[dict[str, object]]:
    return [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []


async def test_a_task_runs_once_and_reports_its_cluster_task(
    nats_server: NatsServer, tmp_path: Path, fake_agents: Path
) -> None:
    journal = Journal(tmp_path / "w.db")
    broker = await Broker.connect(ClusterConfig(broker=[nats_server.url]), "w1")
    seen: list[Observation] = []
    w = worker(journal, broker, tmp_path, "w1", seen)
    stop = asyncio.Event()
    running = asyncio.create_task(w.run(stop))
    try:
        job = Assignment(seq=42, agent="claude-code", command="fix a.py", project="proj")
        for _ in range(2):  # sent twice (a brain's failover): the broker keeps one
            await broker.publish(task_subject("proj", "claude-code"), job.model_dump(), msg_id=job.msg_id)
        await until(lambda: any(o.source == "agent" for o in seen))
        result = next(o for o in seen if o.source == "agent")
        assert result.event_type == "succeeded"
        outbox = Outbox(journal, broker, "w1", "proj", forwarded=True)
        assert outbox.message(result).task == 42  # the brain knows which of its tasks this is
        await until(lambda: not w.alive)  # acknowledged
        await asyncio.sleep(1.5)  # past the ack wait: nothing is handed out again
        assert len(starts(fake_agents)) == 1
    finally:
        stop.set()
        await running
        await broker.close()
        journal.close()


async def test_a_task_handed_out_again_is_never_started_twice(
    nats_server: NatsServer, tmp_path: Path, fake_agents: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CONSCIOUS_FAKE_MODE", "slow")
    monkeypatch.setenv("CONSCIOUS_FAKE_SLEEP", "30")
    journals, brokers, (first, _), (second, seen2) = await two_workers(nats_server, tmp_path)
    stop1, stop2 = asyncio.Event(), asyncio.Event()
    run1 = asyncio.create_task(first.run(stop1))
    try:
        job = Assignment(seq=7, agent="claude-code", command="a long job", project="proj")
        await brokers[0].publish(task_subject("proj", "claude-code"), job.model_dump(), msg_id=job.msg_id)
        await until(lambda: len(starts(fake_agents)) == 1)
        # The first worker goes silent (its link to the broker gone) while its agent runs.
        stop1.set()
        await run1
        await brokers[0].close()
        run2 = asyncio.create_task(second.run(stop2))
        await until(lambda: any(o.event_type == "interrupted" for o in seen2))
        report = next(o for o in seen2 if o.event_type == "interrupted")
        assert report.details["cluster_task"] == 7
        assert len(starts(fake_agents)) == 1  # the agent was started once, by the first worker
        assert journals[1].worker_task(7) is None
        stop2.set()
        await run2
    finally:
        await first.dispatcher.shutdown(0.5)
        for b in brokers:
            await b.close()
        for j in journals:
            j.close()


async def test_a_lost_workers_task_is_reported_even_while_its_presence_entry_lives_on(
    nats_server: NatsServer, tmp_path: Path, fake_agents: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Both workers write presence, as the daemon's do. The first dies without a word: its entry
    lives on for the bucket's TTL (15 s), saying it runs the task; the message comes back after the
    ack wait. It used to be acknowledged away on that word, and the task stayed running forever."""
    from conscious.cluster.presence import Presence
    from conscious.cluster.worker import STALE_S

    monkeypatch.setenv("CONSCIOUS_FAKE_MODE", "slow")
    monkeypatch.setenv("CONSCIOUS_FAKE_SLEEP", "60")
    journals, brokers, (first, seen1), (second, seen2) = await two_workers(nats_server, tmp_path)
    stop1, stop2 = asyncio.Event(), asyncio.Event()
    says1 = Presence(brokers[0], "w1", lambda: {"roles": ["worker"], "running": first.running()})
    says2 = Presence(brokers[1], "w2", lambda: {"roles": ["worker"], "running": second.running()})
    helpers = [
        asyncio.create_task(first.run(stop1)),
        asyncio.create_task(says1.say_forever(stop1)),
        asyncio.create_task(second.run(stop2)),
        asyncio.create_task(says2.say_forever(stop2)),
    ]
    try:
        job = Assignment(seq=9, agent="claude-code", command="a long job", project="proj")
        await brokers[0].publish(task_subject("proj", "claude-code"), job.model_dump(), msg_id=job.msg_id)
        await until(lambda: first.running() == [9] or second.running() == [9])
        lost = 0 if first.running() == [9] else 1
        survivor = (seen2, seen1)[lost]
        await asyncio.sleep(4)  # its presence has said so
        # That worker dies: no more acks, no more presence, and its entry is not deleted.
        dying = helpers[2 * lost : 2 * lost + 2]
        for task in dying:
            task.cancel()
        await asyncio.gather(*dying, return_exceptions=True)
        await brokers[lost].close()
        died = asyncio.get_running_loop().time()
        await until(lambda: any(o.event_type == "interrupted" for o in survivor), timeout=1.0 + STALE_S * 3 + 10)
        waited = asyncio.get_running_loop().time() - died
        report = next(o for o in survivor if o.event_type == "interrupted")
        assert report.details["cluster_task"] == 9
        assert len(starts(fake_agents)) == 1  # never started a second time
        print(f"reported interrupted {waited:.1f} s after the worker died (bound: ack wait + {STALE_S:.0f} s + a nak)")
    finally:
        stop1.set()
        stop2.set()
        await asyncio.gather(*helpers, return_exceptions=True)
        for w in (first, second):
            await w.dispatcher.shutdown(0.5)
        for b in brokers:
            await b.close()
        for j in journals:
            j.close()
