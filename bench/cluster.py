"""Figures for the roles on several machines (BENCHMARKS.md, "Several machines"): real
processes in network namespaces (tests/cluster_harness.py), a real nats-server on the bridge,
the in-tree scripted model (it observes, after 20 ms) so that the figures are our own path:

    sudo python bench/cluster.py [--latency 40] [--burst 2000] [--observers 1 2 4] [--failovers 3]

- throughput: observations per second from N observer hosts through the broker into the brain's
  journal (written into each observer's journal as `conscious tell` writes them, all at once);
- latency: observation written → decision committed, one machine (`conscious run`) against an
  observer host and a brain host;
- failover: kill -9 of the leading brain → the first decision committed by the standby, with the
  default lease (10 s) and a 5 s one.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from conscious.journal import Journal
from conscious.model import Observation
from tests.cluster.conftest import NatsServer, free_port
from tests.cluster_harness import Net, Role, wait_until
from tests.daemon_harness import Daemon

MODEL = {"CONSCIOUS_LLM_URL": "scripted://?delay=0.02"}


def request(n: int) -> Observation:
    return Observation(source="user", event_type="request", target="inbox", details={"text": f"bench request {n}"})


def latencies(brain: Path, host: str | None, ids: list[int], source: Path) -> list[float]:
    """Seconds from each observation's creation (its journal) to the decision covering it (the brain's)."""
    made = {o.id: o.timestamp for o in Journal(source).observations(limit=100_000)}
    j = Journal(brain)
    try:
        local = j.local_ids([(host, i) for i in ids], "") if host else {("", i): i for i in ids}
        decided = {o.id: o.decision_id for o in j.observations(limit=100_000)}
        when = {d["id"]: datetime.fromisoformat(d["ts"]) for d in j.decisions(limit=100_000)}
    finally:
        j.close()
    found = []
    for (_, origin), here in local.items():
        decision = decided.get(here)
        if decision is not None:
            found.append((when[decision] - made[origin]).total_seconds())
    return found


def tell(journal_path: Path, count: int, every: float) -> list[int]:
    j = Journal(journal_path)
    try:
        ids = []
        for n in range(count):
            ids.append(j.append(request(n)))
            time.sleep(every)
        return ids
    finally:
        j.close()


def undecided(brain: Path, host: str | None, ids: list[int]) -> int:
    j = Journal(brain)
    try:
        local = j.local_ids([(host, i) for i in ids], "") if host else {("", i): i for i in ids}
        status = {o.id: o.status for o in j.observations(limit=100_000)}
        return sum(1 for here in local.values() if status.get(here) != "decided") + len(ids) - len(local)
    finally:
        j.close()


def one_machine(root: Path, count: int) -> list[float]:
    (root / "single").mkdir()
    (root / "single-watch").mkdir()
    daemon = Daemon(root / "single", root / "single-watch", dict(MODEL))
    daemon.start()
    try:
        wait_until(daemon.ready, 60, "the daemon")
        ids = tell(daemon.journal_path, count, 0.25)
        wait_until(lambda: undecided(daemon.journal_path, None, ids) == 0, 60, "every request decided")
        return latencies(daemon.journal_path, None, ids, daemon.journal_path)
    finally:
        daemon.stop()


def cluster(root: Path, args: argparse.Namespace) -> dict[str, object]:
    net = Net()
    broker = NatsServer(root / "jetstream", host=net.gateway, port=free_port())
    figures: dict[str, object] = {}
    roles: list[Role] = []
    try:
        broker.start()
        project = root / "proj"
        project.mkdir()
        for host in ("brain1", "standby", *(f"obs{i}" for i in range(max(args.observers)))):
            net.add(host)  # six hosts at most on the machines here (tests/cluster_harness.py)

        def role(host: str, kinds: list[str], **settings: str) -> Role:
            made = Role(net, host, kinds, root / host, project, broker, settings=settings)
            roles.append(made)
            return made

        brain = role("brain1", ["brain"], **MODEL, CONSCIOUS_CLUSTER__LEASE_S="10")
        brain.start()
        wait_until(lambda: "brain1 leads" in brain.said(), 60, "brain1 to lead")
        observers = [role(f"obs{i}", ["observer"]) for i in range(max(args.observers))]
        for o in observers:
            o.start()
        wait_until(lambda: all("observer" in o.said() for o in observers), 60, "the observers")

        # Latency: observation → decision, through an observer host and the broker.
        ids = tell(observers[0].journal_path, args.latency, 0.25)
        wait_until(lambda: undecided(brain.journal_path, "obs0", ids) == 0, 60, "every request decided")
        figures["latency"] = latencies(brain.journal_path, "obs0", ids, observers[0].journal_path)

        # Throughput from N observers at once.
        rates = {}
        for n in args.observers:
            before = observations_in(brain.journal_path)
            journals = [Journal(o.journal_path) for o in observers[:n]]
            began = time.monotonic()
            for j in journals:
                for i in range(args.burst):
                    j.append(Observation(source="filesystem", event_type="modified", target=f"/bench/f{i}.py"))
            want = before + n * args.burst
            wait_until(
                lambda want=want: observations_in(brain.journal_path) >= want,  # type: ignore[misc]
                600,
                f"{n * args.burst} observations at the brain",
            )
            rates[n] = n * args.burst / (time.monotonic() - began)
            for j in journals:
                j.close()
        figures["throughput"] = rates

        # Failover: kill -9 of the leader → the standby's first decision.
        standby = role("standby", ["brain"], **MODEL)
        leader = brain
        for lease in ("10", "5"):
            times = []
            for r in (leader, standby):
                r.settings["CONSCIOUS_CLUSTER__LEASE_S"] = lease
            for _ in range(args.failovers):
                standby.start()
                wait_until(lambda s=standby: "stands by" in s.said(), 60, "a standby")
                time.sleep(2)
                j = Journal(observers[0].journal_path)
                leader.kill9()
                killed = datetime.now().astimezone()
                first = None
                deadline = time.monotonic() + 60
                while first is None and time.monotonic() < deadline:
                    j.append(request(-1))
                    time.sleep(0.2)
                    first = first_decision_after(standby.journal_path, killed)
                j.close()
                assert first is not None, "no decision by the standby"
                times.append((first - killed).total_seconds())
                leader, standby = standby, leader
            figures[f"failover_lease_{lease}s"] = times
            if lease == "10":  # the leader restarts with the shorter lease (the latest brain sets it)
                leader.stop()
                leader.start()
                wait_until(lambda r=leader: "leads" in r.said() or "stands by" in r.said(), 60, "the leader back")
                if "stands by" in leader.said():
                    leader, standby = standby, leader
        return figures
    finally:
        for r in roles:
            r.stop()
        broker.stop()
        net.close()


def observations_in(journal_path: Path) -> int:
    j = Journal(journal_path)
    try:
        return j.counts()["observations"]
    finally:
        j.close()


def first_decision_after(journal_path: Path, since: datetime) -> datetime | None:
    j = Journal(journal_path)
    try:
        for d in j.decisions(limit=50):
            if d["origin"] != "rule" and datetime.fromisoformat(d["ts"]) > since:
                return datetime.fromisoformat(d["ts"])
        return None
    finally:
        j.close()


def pct(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100)[int(q) - 1] if len(values) > 1 else values[0]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--latency", type=int, default=40)
    ap.add_argument("--burst", type=int, default=2000)
    ap.add_argument("--observers", type=int, nargs="+", default=[1, 2, 4])
    ap.add_argument("--failovers", type=int, default=3)
    args = ap.parse_args()
    root = Path(tempfile.mkdtemp(prefix="conscious-cluster-bench-"))
    single = one_machine(root, args.latency)
    figures = cluster(root, args)
    multi = figures["latency"]
    assert isinstance(multi, list)
    print(f"latency, observation → decision ({args.latency} requests, 0.25 s apart):")
    print(
        f"  one machine:            p50 {statistics.median(single) * 1000:.0f} ms, p90 {pct(single, 90) * 1000:.0f} ms"
    )
    print(f"  observer host → brain:  p50 {statistics.median(multi) * 1000:.0f} ms, p90 {pct(multi, 90) * 1000:.0f} ms")
    print(f"  added per decision:     p50 {(statistics.median(multi) - statistics.median(single)) * 1000:.0f} ms")
    print(f"throughput into the brain's journal ({args.burst} observations per observer host, written at once):")
    for n, rate in figures["throughput"].items():  # type: ignore[attr-defined]
        print(f"  {n} observer host(s): {rate:,.0f} observations/s")
    for lease in ("10", "5"):
        times = figures[f"failover_lease_{lease}s"]
        assert isinstance(times, list)
        print(
            f"failover, lease {lease} s: kill -9 of the leader → first decision by the standby: "
            + ", ".join(f"{t:.1f} s" for t in times)
            + f" (max {max(times):.1f} s)"
        )


if __name__ == "__main__":
    main()
