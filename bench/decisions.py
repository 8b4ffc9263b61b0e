"""Decision latency, prompt tokens and schema validity of the real loop on the embedded model.

    python bench/decisions.py [--observations 40] [--burst 1000] [--context 8192]

Starts our embedded llama-server (bundled SmolLM2-135M), runs the real orchestrator
(journal, batching, thinker, gate; delegation dry-run) on a generated workload — one
observation at a time, each waited for — then a burst of file events within one second.
Prompt-token figures come from llama-server's own /metrics and per-request timings.
"""

from __future__ import annotations

import argparse
import asyncio
import re
import statistics
import sys
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))

from workload import bench_setup, workload

from conscious.control.terminal import Terminal
from conscious.daemon.assemble import build
from conscious.journal import Journal
from conscious.model import Observation
from conscious.think.connection import connect


async def metrics(root: str) -> dict[str, float]:
    async with httpx.AsyncClient() as client:
        text = (await client.get(f"{root}/metrics")).text
    out: dict[str, float] = {}
    for name in ("prompt_tokens_total", "tokens_predicted_total", "n_decode_total"):
        m = re.search(rf"^llamacpp:{name}\s+([0-9.e+]+)", text, re.M)
        if m:
            out[name] = float(m.group(1))
    return out


def pct(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100)[int(q) - 1] if len(values) > 1 else values[0]


async def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--observations", type=int, default=40)
    ap.add_argument("--burst", type=int, default=1000)
    ap.add_argument("--context", type=int, default=8192)
    args = ap.parse_args()

    home, paths, config = bench_setup(embedded_context_length=args.context, reflection_depth=0)
    connection = await connect(config, log_dir=home)
    journal = Journal(paths.journal)
    orch = await build(config, paths, journal, connection, Terminal(quiet=True))
    orch.observers = []
    stop = asyncio.Event()
    runner = asyncio.create_task(orch.run(stop))
    assert connection.embedded is not None
    root = connection.embedded.url.removesuffix("/v1")

    async def settle(timeout: float = 600) -> None:
        deadline = time.monotonic() + timeout
        while journal.pending_count() and time.monotonic() < deadline:
            await asyncio.sleep(0.05)

    # 1. One observation at a time.
    before = await metrics(root)
    for obs in workload(args.observations):
        orch.accept(obs)
        await settle()
    after = await metrics(root)
    rows = [d for d in journal.decisions(10_000) if d["origin"] in ("llm", "fallback")]
    latency = [d["latency_ms"] for d in rows]
    processed = [d["prompt_tokens"] for d in rows if d["prompt_tokens"] is not None]
    cached = [d["cached_tokens"] for d in rows if d["cached_tokens"] is not None]
    valid = sum(1 for d in rows if d["origin"] == "llm")
    n = len(rows)

    # 2. A burst of file events within one second.
    decided_before = len(rows)
    t0 = time.monotonic()
    for i in range(args.burst):
        orch.accept(
            Observation(
                source="filesystem",
                event_type="modified",
                target="src/app/hot.py",
                details={"relative": "src/app/hot.py", "save": i},
            )
        )
        if i % 100 == 99:
            await asyncio.sleep(0)  # let the loop run, as the watcher would
    burst_s = time.monotonic() - t0
    await settle()
    burst_calls = len([d for d in journal.decisions(10_000) if d["origin"] in ("llm", "fallback")]) - decided_before
    burst_ids = journal.db.execute(
        "SELECT count(*), count(decision_id) FROM observations WHERE target='src/app/hot.py'"
    ).fetchone()

    stop.set()
    await runner
    await connection.aclose()

    print(f"model {connection.info.model}, context {connection.context_length}, {n} decisions")
    print(f"schema-valid decisions      {valid}/{n} ({100 * valid / n:.0f} %)")
    print(f"latency p50 / p90           {pct(latency, 50) / 1000:.2f} s / {pct(latency, 90) / 1000:.2f} s")
    print(
        f"prompt tokens processed     mean {statistics.mean(processed):.0f} per decision "
        f"(server /metrics: {(after['prompt_tokens_total'] - before['prompt_tokens_total']) / n:.0f})"
    )
    print(f"prompt tokens from cache    mean {statistics.mean(cached):.0f} per decision")
    print(f"window at the end           {orch.thinker.window.used}/{orch.thinker.window.budget} tokens")
    print(
        f"burst                       {args.burst} events in {burst_s:.2f} s -> {burst_calls} LLM call(s); "
        f"{burst_ids[1]}/{burst_ids[0]} journaled events covered by a decision"
    )


if __name__ == "__main__":
    asyncio.run(main())
