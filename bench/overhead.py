"""Our own overhead per observation, with the model taken out.

    python bench/overhead.py [--observations 100000]

The real orchestrator — journal on a real file (WAL, FTS5 triggers), coalescing, rendering,
the context window with its compactions and summaries, the gate, the turn log — with the
in-tree ScriptedBackend, which answers instantly. Each observation is accepted and decided
before the next, so the time measured is everything the loop does around one LLM call — and the
run checks that each was one: only the ``routine`` shortcut is on (with the default ones, a file
edit is decided by the ``quiet`` rule, and the figure measured no model call at all).
Resident memory (psutil) is sampled every 10 % of the run; it must stay flat.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from array import array
from pathlib import Path

import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent))

from workload import bench_setup, edit

from conscious.control.terminal import Terminal
from conscious.daemon.assemble import build
from conscious.journal import Journal
from conscious.think.backends.scripted import ScriptedBackend
from conscious.think.connection import Connection


async def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--observations", type=int, default=100_000)
    args = ap.parse_args()
    n = args.observations

    _, paths, config = bench_setup(shortcuts=["routine"])
    backend = ScriptedBackend(context_length=8192, record=False)
    journal = Journal(paths.journal)
    journal.checkpoint_in_background()  # as the daemon does
    connection = Connection(backend, await backend.info(), backend.context_length)
    orch = await build(config, paths, journal, connection, Terminal(quiet=True), observe=False)
    compactions = 0
    archive = orch.thinker.on_compact

    def count(c: object) -> None:
        nonlocal compactions
        compactions += 1
        assert archive is not None
        archive(c)  # type: ignore[arg-type]

    orch.thinker.on_compact = count
    await orch.startup()
    while journal.pending_count():
        await orch.step()

    process = psutil.Process()
    samples: list[tuple[int, float]] = []
    times = array("d", bytes(8 * n))  # allocated before the first RSS sample: not our growth
    started = time.perf_counter()
    for i in range(n):
        t0 = time.perf_counter()
        orch.accept(edit(i))
        while journal.pending_count():
            await orch.step()
        times[i] = (time.perf_counter() - t0) * 1000
        if i % max(1, n // 10) == 0 or i == n - 1:
            samples.append((i + 1, process.memory_info().rss / 2**20))
    total = time.perf_counter() - started
    await orch.shutdown(0.1)

    if backend.calls < n:
        raise SystemExit(f"{backend.calls} model calls for {n} observations: not the loop around a model decision")
    ordered = sorted(times)
    q = statistics.quantiles(ordered, n=1000)
    warm = [rss for i, rss in samples if i > n // 10]  # after the caches have warmed up
    print(f"{n} observations in {total:.1f} s; {backend.calls} LLM calls; {compactions} compactions")
    print(f"per observation: p50 {q[499]:.3f} ms, p99 {q[989]:.3f} ms, p99.9 {q[998]:.3f} ms, max {ordered[-1]:.1f} ms")
    print("RSS MiB at  " + ", ".join(f"{i}: {rss:.1f}" for i, rss in samples))
    spread = 100 * (max(warm) / min(warm) - 1)
    print(f"RSS after warm-up: min {min(warm):.1f}, max {max(warm):.1f} MiB ({spread:.1f} % spread)")
    print(f"journal {paths.journal.stat().st_size / 2**20:.0f} MiB on disk")


if __name__ == "__main__":
    asyncio.run(main())
