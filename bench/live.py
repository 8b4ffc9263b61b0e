"""What watching costs: the live event bus, metrics and stream subscribers around the loop,
and the control API's round trip.

    python bench/live.py [--observations 20000] [--subscribers 3] [--round-trips 200]

1. The loop of bench/overhead.py (real journal, window, gate; the instant ScriptedBackend),
   once with the plain terminal reporter and once with the live bus as the daemon runs it
   (``Broadcast`` + the Prometheus listener + N stream subscribers draining their queues),
   in alternating blocks within one run so that machine noise falls on both alike.
2. The real daemon (``serve``: uvicorn on loopback, the scripted brain answering at once):
   the time from ``POST /api/inbox`` to the decision on that observation arriving on
   ``GET /api/events`` — everything the control plane adds around one decision.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))

from workload import bench_setup, edit

from conscious.control.events import Broadcast, EventBus
from conscious.control.metrics import Metrics
from conscious.control.terminal import Terminal
from conscious.daemon.assemble import build
from conscious.daemon.serve import serve
from conscious.journal import Journal
from conscious.think.backends.scripted import ScriptedBackend
from conscious.think.connection import Connection

BLOCK = 500
"""Observations per block; blocks of the two configurations alternate."""


def q(values: list[float], p: float) -> float:
    return statistics.quantiles(values, n=1000)[int(p * 10) - 1]


async def loop_cost(n: int, subscribers: int) -> None:
    _, paths, config = bench_setup()
    results: dict[str, list[float]] = {"plain": [], "live": []}
    setups = {}
    drained = 0
    for label in ("plain", "live"):
        backend = ScriptedBackend(context_length=8192, record=False)
        journal = Journal(paths.journal.with_name(f"{label}.db"))
        journal.checkpoint_in_background()
        connection = Connection(backend, await backend.info(), backend.context_length)
        reporter = Terminal(quiet=True)
        tasks: list[asyncio.Task[None]] = []
        if label == "live":
            bus = EventBus()
            metrics = Metrics()
            bus.listen(metrics.on_event)
            reporter = Broadcast(bus, reporter)

            async def drain(sub: object) -> None:
                nonlocal drained
                async for _ in sub:  # type: ignore[attr-defined]
                    drained += 1

            tasks = [asyncio.create_task(drain(bus.subscribe())) for _ in range(subscribers)]
        orch = await build(config, paths, journal, connection, reporter, observe=False)
        await orch.startup()
        while journal.pending_count():
            await orch.step()
        setups[label] = (orch, journal, tasks)

    for block in range(0, n, BLOCK):
        for label in ("plain", "live") if (block // BLOCK) % 2 == 0 else ("live", "plain"):
            orch, journal, _ = setups[label]
            for i in range(block, min(n, block + BLOCK)):
                t0 = time.perf_counter()
                orch.accept(edit(i))
                while journal.pending_count():
                    await orch.step()
                results[label].append((time.perf_counter() - t0) * 1000)
            await asyncio.sleep(0)  # let the subscribers drain, as the daemon's loop would
    for orch, journal, tasks in setups.values():
        await orch.shutdown(0.1)
        for t in tasks:
            t.cancel()
        journal.close()
    plain, live = results["plain"], results["live"]
    print(f"1. the loop, {n} observations each, in alternating blocks of {BLOCK}")
    print(f"   live = Broadcast + metrics + {subscribers} stream subscribers")
    for label, values in results.items():
        mean = statistics.fmean(values)
        print(
            f"   {label:5}: per observation p50 {q(values, 50):.3f} ms, p99 {q(values, 99):.3f} ms, mean {mean:.3f} ms"
        )
    ratio = statistics.fmean(live) / statistics.fmean(plain)
    print(f"   live / plain: p50 x{q(live, 50) / q(plain, 50):.2f}, mean x{ratio:.2f}; {drained} events drained")


async def round_trips(count: int) -> None:
    _, paths, config = bench_setup(
        llm_url="scripted://observe", api_port=0, shortcuts=[], heartbeat_interval=3600, dry_run=False
    )
    stop = asyncio.Event()
    daemon = asyncio.create_task(serve(config, paths, Terminal(quiet=True), stop))
    reader = None
    while True:
        await asyncio.sleep(0.05)
        if paths.journal.exists():
            reader = reader or Journal(paths.journal)
            if url := reader.identity().get("daemon", {}).get("api_url"):
                break
    token = (paths.state_dir / "api-token").read_text().strip()
    times: list[float] = []
    headers = {"Authorization": f"Bearer {token}"}
    async with (
        httpx.AsyncClient(base_url=url, headers=headers, timeout=30) as api,
        api.stream("GET", "/api/events") as events,
    ):
        lines = events.aiter_lines()
        for i in range(count):
            t0 = time.perf_counter()
            obs_id = (await api.post("/api/inbox", json={"text": f"request {i}"})).json()["id"]
            kind, mine = None, False
            async for line in lines:
                if line.startswith("event: "):
                    kind = line[7:]
                elif line.startswith("data: ") and kind == "thought":
                    mine = obs_id in json.loads(line[6:])["observations"]
                elif line.startswith("data: ") and kind == "decision" and mine:
                    break
            times.append((time.perf_counter() - t0) * 1000)
    stop.set()
    await daemon
    if reader is not None:
        reader.close()
    print(f"2. the daemon's API, {count} round trips: POST /api/inbox → its decision on /api/events (scripted brain)")
    print(f"   p50 {q(times, 50):.1f} ms, p90 {q(times, 90):.1f} ms, p99 {q(times, 99):.1f} ms")


async def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--observations", type=int, default=20_000)
    ap.add_argument("--subscribers", type=int, default=3)
    ap.add_argument("--round-trips", type=int, default=200)
    args = ap.parse_args()
    await loop_cost(args.observations, args.subscribers)
    await round_trips(args.round_trips)


if __name__ == "__main__":
    asyncio.run(main())
