"""A chaos run of the roles on several machines, repeated (BENCHMARKS.md, "No silent deaths"):

    sudo python bench/chaos.py --runs 10 [--requests 48]

Each run: a real nats-server on a bridge; an observer, two brains and a worker, each a
`conscious run --role …` process in a network namespace of its own (tests/cluster_harness.py);
the default batch; the in-tree scripted model taking each user request (choose mode), so what is
measured is our own path; the stand-in `claude` on PATH logging every start. Requests are told
four at a time on the observer host while, in a random order: the leading brain is killed -9
(and started again), the worker is killed -9 in the middle of a task (and started again), the
broker restarts, and the observer host is cut off the network and mended.

Checked after each run, from the journals, the decision log and the agents' own start log:
every request reached an agent in its own words or its task was reported interrupted (none
lost), none started twice, no task left running at the leader, each failover's time (kill →
the standby leads), and that no brain held the lease while deciding nothing: the longest time
a request waited undecided at a brain that said it led.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from conscious.journal import Journal
from conscious.model import request
from tests.cluster.conftest import NatsServer, free_port
from tests.cluster_harness import Net, Role, wait_until

BRAIN = {
    "CONSCIOUS_LLM_URL": "scripted://delegate?agent=claude-code&delay=0.02",
    "CONSCIOUS_DELEGATIONS_PER_HOUR": "100000",
    "CONSCIOUS_MAX_SPEND_USD_PER_DAY": "100000",
    "CONSCIOUS_MAX_CONCURRENT_TASKS": "4",
}


def leader(brains: list[Role]) -> Role | None:
    """The brain whose latest word is that it leads (and is running)."""
    for brain in brains:
        said = brain.said()
        led = said.rfind("leads (decision log")
        alive = brain.process is not None and brain.process.poll() is None
        if alive and led >= 0 and said.rfind("stands by") < led and said.rfind("stops deciding") < led:
            return brain
    return None


def started(root: Path) -> list[str]:
    log = root / "agents.jsonl"
    return [json.loads(line)["argv"][-1] for line in log.read_text().splitlines()] if log.exists() else []


def tasks(brain: Role) -> list[dict[str, object]]:
    j = Journal(brain.journal_path)
    try:
        return j.tasks(limit=100_000)
    finally:
        j.close()


def pending_age(brain: Role) -> float:
    """Seconds the oldest pending observation at this brain has waited (0: none)."""
    j = Journal(brain.journal_path)
    try:
        pending = j.pending()
    finally:
        j.close()
    if not pending:
        return 0.0
    oldest = min(o.timestamp for o in pending)
    return time.time() - oldest.timestamp()


def one_run(root: Path, seed: int, count: int) -> dict[str, object]:
    rng = random.Random(seed)
    net = Net()
    broker = NatsServer(root / "jetstream", host=net.gateway, port=free_port())
    roles: list[Role] = []
    failovers: list[float] = []
    stuck = 0.0
    try:
        broker.start()
        project = root / "proj"
        project.mkdir()
        for host in ("obs", "brain1", "brain2", "work"):
            net.add(host)

        def role(host: str, kinds: list[str], **settings: str) -> Role:
            made = Role(net, host, kinds, root / host, project, broker, settings=settings)
            roles.append(made)
            return made

        observer = role("obs", ["observer"])
        brains = [role("brain1", ["brain"], **BRAIN), role("brain2", ["brain"], **BRAIN)]
        worker = role("work", ["worker"], CONSCIOUS_FAKE_MODE="slow", CONSCIOUS_FAKE_SLEEP="1.0")
        for r in roles:
            r.start()
        wait_until(lambda: leader(brains) is not None, 60, "a brain to lead")
        wait_until(lambda: "observer" in observer.said(), 60, "the observer")

        told: list[str] = []
        feeder = Journal(observer.journal_path)

        def tell(n: int) -> None:
            for _ in range(n):
                words = f"run {seed}: please fix ITEM-{len(told)}: the total is off by one"
                feeder.append(request(words))
                told.append(words)

        def watch_stuck(seconds: float) -> None:
            """Tell while watching the leader: a lease held while nothing is decided is a silent death."""
            nonlocal stuck
            end = time.monotonic() + seconds
            while time.monotonic() < end:
                if len(told) < count:
                    tell(4)
                lead = leader(brains)
                if lead is not None:
                    stuck = max(stuck, pending_age(lead))
                time.sleep(0.5)

        faults = ["leader", "worker", "broker", "cut"]
        rng.shuffle(faults)
        for fault in faults:
            watch_stuck(rng.uniform(2, 5))
            if fault == "leader":
                lead = leader(brains)
                assert lead is not None
                other = brains[1] if lead is brains[0] else brains[0]
                lead.kill9()
                failovers.append(wait_until(lambda other=other: leader(brains) is other, 60, "the standby to lead"))  # type: ignore[misc]
                lead.start()
            elif fault == "worker":
                wait_until(lambda: any(t["state"] == "running" for b in brains for t in tasks(b)), 30, "a task running")
                worker.kill9()
                watch_stuck(1)
                worker.start()
            elif fault == "broker":
                broker.stop()
                time.sleep(1)
                broker.start()
            else:
                net.cut("obs")
                tell(4)
                time.sleep(2)
                net.mend("obs")
        while len(told) < count:
            watch_stuck(1)
        feeder.close()

        def settled() -> bool:
            lead = leader(brains)
            if lead is None:
                return False
            everything = tasks(lead)
            ran = set(started(root)) | {str(t["command"]) for t in everything if t["state"] == "interrupted"}
            unfinished = [t for t in everything if t["state"] in ("pending", "running")]
            return all(w in ran for w in told) and not unfinished

        wait_until(settled, 240, "every request at an agent or reported interrupted, nothing left running")
        lead = leader(brains)
        assert lead is not None
        everything = tasks(lead)
        interrupted = {str(t["command"]) for t in everything if t["state"] == "interrupted"}
        starts = started(root)
        return {
            "requests": len(told),
            "reached": sum(1 for w in told if w in starts),
            "interrupted": len(interrupted & set(told)),
            "lost": sum(1 for w in told if w not in starts and w not in interrupted),
            "twice": sum(1 for w in told if starts.count(w) > 1),
            "failover_s": failovers,
            "stuck_s": stuck,
            "tracebacks": sum("Traceback" in r.said() for r in roles),
        }
    finally:
        for r in roles:
            r.stop()
        broker.stop()
        net.close()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=10)
    ap.add_argument("--requests", type=int, default=48)
    ap.add_argument("--seed", type=int, default=20261204)
    args = ap.parse_args()
    results = []
    for run in range(args.runs):
        with tempfile.TemporaryDirectory(prefix="conscious-chaos-") as tmp:
            began = time.monotonic()
            try:
                got = one_run(Path(tmp), args.seed + run, args.requests)
            except AssertionError as exc:
                got = {"failed": str(exc)}
            got["seconds"] = round(time.monotonic() - began)
            results.append(got)
            print(json.dumps({"run": run + 1, **got}), flush=True)
    ok = [r for r in results if "failed" not in r]
    failovers = [f for r in ok for f in r["failover_s"]]  # type: ignore[union-attr]
    print(
        f"{len(ok)}/{len(results)} runs completed; requests {sum(r['requests'] for r in ok)}, "  # type: ignore[misc]
        f"lost {sum(r['lost'] for r in ok)}, started twice {sum(r['twice'] for r in ok)}, "  # type: ignore[misc]
        f"interrupted and reported {sum(r['interrupted'] for r in ok)}; "  # type: ignore[misc]
        f"failover max {max(failovers, default=0):.1f} s (median {statistics.median(failovers or [0]):.1f} s); "
        f"longest wait at a leading brain {max((r['stuck_s'] for r in ok), default=0):.1f} s; "  # type: ignore[type-var]
        f"runs with a traceback {sum(1 for r in ok if r['tracebacks'])}"
    )


if __name__ == "__main__":
    main()
