"""Several machines, for real: a nats-server with JetStream on a bridge, and four hosts as
network namespaces — an observer, two brains, a worker — each role a real `conscious run
--role …` process. The brains decide with the in-tree scripted model (it delegates what it
sees to claude-code); the worker runs the stand-in `claude` in a worktree of its own.

The test edits files as a user would, kills the leading brain with SIGKILL, cuts the observer
off the network and brings it back, restarts the broker, and then checks the guarantees on the
journals, the decision log and the agents' own start log: no observation lost, every one
decided once, each task started at most once, every outcome back at the brain.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import nats
import pytest

from conscious.cluster.broker import DECISIONS_STREAM, Broker
from conscious.cluster.messages import Logged
from conscious.cluster.presence import cluster_status
from conscious.config import ClusterConfig
from conscious.journal import Journal
from tests.cluster.conftest import NatsServer, free_port
from tests.cluster_harness import Net, Role, namespaces_work, wait_until
from tests.conftest import git

SCRIPTED = {
    "CONSCIOUS_LLM_URL": "scripted://delegate?agent=claude-code&delay=0.02",
    "CONSCIOUS_DECIDE": "compose",
    "CONSCIOUS_DELEGATIONS_PER_HOUR": "100000",
    "CONSCIOUS_MAX_SPEND_USD_PER_DAY": "100000",
}

pytestmark = pytest.mark.skipif(not namespaces_work(), reason="needs root and iproute2 (ip netns) for its hosts")


@pytest.fixture
def net() -> Iterator[Net]:
    made = Net()
    try:
        yield made
    finally:
        made.close()


def journal(role: Role) -> Journal:
    return Journal(role.journal_path)


def decided_somewhere(brain: Role, host: str, origin_ids: list[int]) -> dict[int, str]:
    """The status, in ``brain``'s journal, of observations ``origin_ids`` from ``host`` ('missing' if absent)."""
    j = journal(brain)
    try:
        where = j.local_ids([(host, i) for i in origin_ids], brain.host)
        status = {o.id: o.status for o in j.observations(limit=100_000)}
        return {i: status.get(where.get((host, i), -1), "missing") for i in origin_ids}
    finally:
        j.close()


def own_observations(role: Role) -> list[int]:
    j = journal(role)
    try:
        return [o.id for o in j.observations(limit=100_000) if o.id is not None]
    finally:
        j.close()


def leader(brains: list[Role]) -> Role | None:
    for brain in brains:
        if brain.process is not None and brain.process.poll() is None and "leads (decision log" in brain.said():
            lost = brain.said().rfind("stands by")
            if lost < brain.said().rfind("leads (decision log"):
                return brain
    return None


def applied(brain: Role) -> int:
    j = journal(brain)
    try:
        return j.applied_seq()
    finally:
        j.close()


def succeeded_tasks(brain: Role) -> list[dict[str, object]]:
    j = journal(brain)
    try:
        return [t for t in j.tasks(limit=1000) if t["state"] == "succeeded"]
    finally:
        j.close()


async def decision_log(url: str) -> list[Logged]:
    broker = await Broker.connect(ClusterConfig(broker=[url]), "reader")
    try:
        last = await broker.last_seq(DECISIONS_STREAM)
        found = []
        for seq in range(1, last + 1):
            try:
                raw = await broker.js.get_msg(DECISIONS_STREAM, seq)
            except nats.js.errors.NotFoundError:
                continue
            found.append(Logged.model_validate_json(raw.data or b""))
        return found
    finally:
        await broker.close()


async def status_of(url: str) -> dict[str, object]:
    broker = await Broker.connect(ClusterConfig(broker=[url]), "reader")
    try:
        return await cluster_status(broker, ClusterConfig(broker=[url]))
    finally:
        await broker.close()


def test_observers_brains_and_a_worker_keep_every_guarantee(net: Net, tmp_path: Path) -> None:
    net.add("obs")
    net.add("brain1")
    net.add("brain2")
    net.add("work")
    broker = NatsServer(tmp_path / "jetstream", host=net.gateway, port=free_port())
    broker.start()
    project = tmp_path / "proj"
    project.mkdir()
    git(project, "init", "-q")
    (project / "a.py").write_text("x = 1\n")
    git(project, "add", "-A")
    git(project, "commit", "-qm", "init")

    def role(host: str, roles: list[str], **settings: str) -> Role:
        return Role(net, host, roles, tmp_path / host, project, broker, settings=settings)

    observer = role("obs", ["observer"])
    brains = [role("brain1", ["brain"], **SCRIPTED), role("brain2", ["brain"], **SCRIPTED)]
    # The stand-in leaves a file behind: each task has a commit, so a branch to point the user to.
    worker = role(
        "work", ["worker"], CONSCIOUS_FAKE_MODE="slow", CONSCIOUS_FAKE_SLEEP="0.5", CONSCIOUS_FAKE_EDIT="notes.txt"
    )
    everyone = [observer, *brains, worker]
    try:
        brains[0].start()
        wait_until(lambda: leader(brains) is brains[0], 60, "brain1 to lead")
        for r in (brains[1], observer, worker):
            r.start()
        status = {}

        def all_present() -> bool:
            nonlocal status
            status = asyncio.run(status_of(broker.url))
            return {h["host"] for h in status["hosts"]} == {"obs", "brain1", "brain2", "work"}  # type: ignore[index, union-attr]

        wait_until(all_present, 60, "every host in the cluster's presence")
        assert status["leader"] == "brain1"

        # A user's edit, seen on the observer host, decided by the leader, run on the worker.
        (project / "a.py").write_text("x = 2\n")
        wait_until(lambda: succeeded_tasks(brains[0]), 60, "a task run by the worker, back at brain1")

        # The leader dies: the standby takes over, having applied the whole log.
        brains[0].kill9()
        took = wait_until(lambda: leader(brains) is brains[1], 30, "brain2 to take over within 30 s")
        assert took < 30
        before = len(succeeded_tasks(brains[1]))
        assert before >= 1  # it knows the outcome the old leader was told
        (project / "b.py").write_text("y = 1\n")
        wait_until(lambda: len(succeeded_tasks(brains[1])) > before, 60, "the new leader's delegation to succeed")

        # The observer is cut off: what it sees meanwhile arrives once it is back.
        net.cut("obs")
        (project / "c.py").write_text("z = 1\n")
        wait_until(lambda: "c.py" in observer.said(), 20, "the observer to see c.py while cut off")
        held = own_observations(observer)
        assert "missing" in decided_somewhere(brains[1], "obs", held).values()
        net.mend("obs")
        wait_until(
            lambda: set(decided_somewhere(brains[1], "obs", held).values()) <= {"decided"},
            60,
            "everything the observer saw while cut off to be decided",
        )

        # The broker restarts (its store kept): everything goes on.
        broker.stop()
        broker.start()
        (project / "d.py").write_text("w = 1\n")
        count = len(succeeded_tasks(brains[1]))
        wait_until(lambda: len(succeeded_tasks(brains[1])) > count, 90, "a decision after the broker restarted")

        # The old leader comes back as a standby and catches up.
        brains[0].start()
        wait_until(lambda: "model scripted" in brains[0].said(), 60, "brain1 back")
        wait_until(lambda: applied(brains[0]) == applied(brains[1]), 60, "brain1 to catch up with the log")
        assert leader(brains) is brains[1]
        assert "brain brain1 stands by (brain2 leads)" in brains[0].said()
    finally:
        for r in everyone:
            r.stop()
        logged = asyncio.run(decision_log(broker.url))
        broker.stop()
    for r in everyone:
        assert "Traceback" not in r.said(), r.said()[-3000:]

    # Every observation the observer made is at the brain, decided, once.
    seen = own_observations(observer)
    statuses = decided_somewhere(brains[1], "obs", seen)
    assert set(statuses.values()) <= {"decided"}, Counter(statuses.values())
    covered = Counter(key for entry in logged for key in entry.covers)
    assert covered and max(covered.values()) == 1, "an observation decided twice"
    assert {("obs", i) for i in seen} <= set(covered)
    # Each task started at most once: the worker's journal and the agents' own start log.
    w = journal(worker)
    try:
        ran = [t for t in w.tasks(limit=1000)]
        seqs = [w.cluster_task_of(int(t["id"])) for t in ran]  # type: ignore[call-overload]
    finally:
        w.close()
    assert len(seqs) == len(set(seqs)), "a cluster task started twice"
    starts = (tmp_path / "agents.jsonl").read_text().splitlines()
    assert len(starts) == len(ran)
    assert all(json.loads(s)["cwd"].startswith(str(tmp_path / "work")) for s in starts)  # in the worker's worktrees
    # The leader's log tells the user where each task's branch is: in the worker's checkout.
    shown = subprocess.run(
        [sys.executable, "-m", "conscious", "log"],
        env={**os.environ, "CONSCIOUS_HOME": str(brains[1].home), "COLUMNS": "400"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert "on work: `conscious diff" in shown.stdout, shown.stdout[-2000:]
    # Every outcome came back: no task of the log is left unfinished at the standing leader.
    b = journal(brains[1])
    try:
        assert b.unfinished_cluster_tasks() == []
    finally:
        b.close()
