"""The seed's context strategy against ours, side by side on one llama-server.

    python bench/seed_vs_conscious.py [--observations 120] [--seed-observations 30] [--floor-observations 30]
                                      [--burst 1000] [--context 8192]

One embedded llama-server (bundled SmolLM2-135M), one generated workload written as a
replay file (file edits, test runs, crashes, agent results, user requests, heartbeats):

- seed: the seed's reference loop — one LLM call per observation, no schema, max_tokens 500,
  its rolling window that drops the oldest message whenever the prompt outgrows
  context - reserve (counted with the server's own tokenizer; with the seed's len/4
  estimate the prompt outgrows the server and requests fail). Each of its decisions takes
  about a minute once the window is full, so it runs on the first --seed-observations;
  per-decision figures are compared, not totals.
- floor: the same observations with a schema-constrained reply in a context that only grows,
  so the prefix cache serves all but the new observation — the floor to stay near; on the
  first --floor-observations.
- conscious: `conscious replay` of the whole file through the real loop (journal, batching,
  thinker, gate; dry run), then a burst of --burst file events within one second.

"Once the window is full" is after the seed's first dropped message, and after our first
compaction. Prompt tokens come from llama-server's per-request timings (prompt_n, cache_n)
and its /metrics counters.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))

from decisions import metrics, pct
from workload import bench_setup, workload

from conscious.control.terminal import Terminal
from conscious.daemon.assemble import build
from conscious.errors import DecisionParseError
from conscious.eval.replay import read_observations, replay
from conscious.journal import Journal
from conscious.model import Observation
from conscious.think.choice import choice_schema
from conscious.think.connection import connect
from conscious.think.decision import DECISION_SCHEMA, parse_decision
from conscious.think.prompt import default_system_prompt

SEED_MAX_TOKENS = 500
SEED_RESERVE = 512


def seed_shape(obs: Observation) -> dict[str, Any]:
    return {
        "timestamp": obs.timestamp.isoformat(),
        "source": obs.source,
        "event_type": obs.event_type,
        "target": obs.target,
        "details": obs.details,
        "severity": obs.severity,
    }


async def run_seed(root: str, observations: list[Observation], context: int) -> list[dict[str, Any]]:
    """The seed's OrchestratorMemory + continuous_orchestrator, with true token counts."""
    out: list[dict[str, Any]] = []
    async with httpx.AsyncClient(timeout=900) as client:

        async def count(text: str) -> int:
            r = await client.post(f"{root}/tokenize", json={"content": text})
            return len(r.json()["tokens"])

        messages: list[dict[str, Any]] = [{"role": "system", "content": default_system_prompt()}]
        sizes = [await count(messages[0]["content"]) + 4]
        full = False

        def prune() -> bool:
            dropped = False
            while sum(sizes) > context - SEED_RESERVE and len(messages) > 2:
                messages.pop(1)
                sizes.pop(1)
                dropped = True
            return dropped

        for obs in observations:
            text = json.dumps(seed_shape(obs))
            messages.append({"role": "user", "content": text})
            sizes.append(await count(text) + 4)
            full = prune() or full
            started = time.perf_counter()
            r = await client.post(
                f"{root}/v1/chat/completions",
                json={"messages": messages, "max_tokens": SEED_MAX_TOKENS, "temperature": 0.7, "top_p": 0.9},
            )
            latency = (time.perf_counter() - started) * 1000
            body = r.json()
            if r.status_code != 200:
                out.append({"full": full, "latency_ms": latency, "error": body, "valid": False})
                messages.pop()
                sizes.pop()
                continue
            reply = body["choices"][0]["message"]["content"] or ""
            timings = body.get("timings", {})
            try:
                parse_decision(reply)
                valid = True
            except DecisionParseError:
                valid = False
            messages.append({"role": "assistant", "content": reply})
            sizes.append(await count(reply) + 4)
            full = prune() or full
            out.append(
                {
                    "full": full,
                    "latency_ms": latency,
                    "processed": timings.get("prompt_n"),
                    "cached": timings.get("cache_n"),
                    "valid": valid,
                }
            )
            print(
                f"  seed {len(out)}/{len(observations)}: {latency / 1000:.1f} s, processed {timings.get('prompt_n')}"
                f"{' (window full)' if full else ''}",
                file=sys.stderr,
                flush=True,
            )
    return out


async def run_floor(root: str, observations: list[Observation], shape: str) -> list[dict[str, Any]]:
    """The floor to stay near: the same observations, a schema-constrained reply, and a context
    that only ever grows (nothing dropped, nothing rewritten), so the server's prefix cache
    serves everything but the new observation. Only the first decision processes the system
    prompt; the others are "full" for the comparison. ``shape`` is the reply's: a composed
    decision (as before) or a choice among lettered options (as now), so that what is compared
    is the context, not the length of the reply."""
    out: list[dict[str, Any]] = []
    schema = DECISION_SCHEMA if shape == "compose" else choice_schema(["a", "b", "c", "d"])
    fmt = {"type": "json_schema", "json_schema": {"name": "decision", "strict": True, "schema": schema}}
    async with httpx.AsyncClient(timeout=900) as client:
        messages: list[dict[str, Any]] = [{"role": "system", "content": default_system_prompt()}]
        for obs in observations:
            messages.append({"role": "user", "content": json.dumps(seed_shape(obs))})
            started = time.perf_counter()
            r = await client.post(
                f"{root}/v1/chat/completions",
                json={"messages": messages, "max_tokens": 200, "temperature": 0.2, "response_format": fmt},
            )
            latency = (time.perf_counter() - started) * 1000
            body = r.json()
            if r.status_code != 200:
                out.append({"full": bool(out), "latency_ms": latency, "error": body, "valid": False})
                messages.pop()
                continue
            reply = body["choices"][0]["message"]["content"] or ""
            timings = body.get("timings", {})
            try:
                valid = bool(parse_decision(reply) if shape == "compose" else json.loads(reply)["choice"])
            except (DecisionParseError, ValueError, KeyError):
                valid = False
            messages.append({"role": "assistant", "content": reply})
            out.append(
                {
                    "reply_tokens": timings.get("predicted_n"),
                    "full": bool(out),
                    "latency_ms": latency,
                    "processed": timings.get("prompt_n"),
                    "cached": timings.get("cache_n"),
                    "valid": valid,
                }
            )
            print(
                f"  floor ({shape}) {len(out)}/{len(observations)}: {latency / 1000:.1f} s,"
                f" processed {timings.get('prompt_n')}",
                file=sys.stderr,
                flush=True,
            )
    return out


def report(name: str, rows: list[dict[str, Any]], processed_key: str, cached_key: str) -> dict[str, Any]:
    full = [r for r in rows if r["full"]]
    lat = [r["latency_ms"] for r in full]
    proc = [r[processed_key] for r in full if r.get(processed_key) is not None]
    cached = [r[cached_key] for r in full if r.get(cached_key) is not None]
    return {
        "name": name,
        "decisions": len(rows),
        "full": len(full),
        "valid": sum(1 for r in rows if r["valid"]),
        "p50": pct(lat, 50) if lat else float("nan"),
        "p90": pct(lat, 90) if lat else float("nan"),
        "processed": statistics.mean(proc) if proc else float("nan"),
        "cached": statistics.mean(cached) if cached else float("nan"),
    }


async def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--observations", type=int, default=120)
    ap.add_argument("--seed-observations", type=int, default=30)
    ap.add_argument("--floor-observations", type=int, default=30)
    ap.add_argument("--floors", default="compose,choose", help="the floors' reply shapes to measure")
    ap.add_argument("--burst", type=int, default=1000)
    ap.add_argument("--context", type=int, default=8192)
    ap.add_argument("--dump", type=Path, help="write each model decision of the conscious run here (JSON lines)")
    args = ap.parse_args()

    home, paths, config = bench_setup(embedded_context_length=args.context)
    recorded = workload(args.observations, heartbeats=True)
    start = recorded[0].timestamp
    for i, obs in enumerate(recorded):  # a recorded day: one event every 20 s, each decided alone
        obs.timestamp = start + timedelta(seconds=20 * i)
    day = home / "day.jsonl"
    day.write_text("\n".join(json.dumps(seed_shape(o)) for o in recorded) + "\n", encoding="utf-8")
    base = recorded[-1].timestamp.timestamp()
    burst = home / "burst.jsonl"
    burst.write_text(
        "\n".join(
            json.dumps(
                {
                    "source": "filesystem",
                    "event_type": "modified",
                    "target": "src/app/hot.py",
                    "details": {"relative": "src/app/hot.py", "save": i},
                    "timestamp": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(base + 3600))
                    + f".{i * 1000 // max(1, args.burst):03d}",
                }
            )
            for i in range(args.burst)
        )
        + "\n",
        encoding="utf-8",
    )

    connection = await connect(config, log_dir=home)
    assert connection.embedded is not None
    root = connection.embedded.url.removesuffix("/v1")
    try:
        # 1. seed
        m0 = await metrics(root)
        seed_rows = await run_seed(root, recorded[: args.seed_observations], connection.context_length)
        m1 = await metrics(root)
        floors = {
            shape: await run_floor(root, recorded[: args.floor_observations], shape) for shape in args.floors.split(",")
        }
        m1 = await metrics(root)

        # 2. conscious: the replay of the whole day
        journal = Journal(home / "replay.db")
        orch = await build(config, paths, journal, connection, Terminal(quiet=True), observe=False)
        compactions: list[int] = []
        archive = orch.thinker.on_compact
        decided: list[dict[str, Any]] = []

        def on_compact(c: Any) -> None:
            compactions.append(len(decided))
            assert archive is not None
            archive(c)

        orch.thinker.on_compact = on_compact

        def on_decision(record: dict[str, Any]) -> None:
            asked = [t.content for t in orch.thinker.window.turns if t.role == "user"]
            decided.append(record | {"turn": asked[-1] if asked and record["origin"] != "rule" else None})
            if record["origin"] != "rule" and len(decided) % 10 == 0:
                print(f"  conscious {len(decided)} decisions", file=sys.stderr, flush=True)

        records, _ = read_observations(day)
        await replay(orch, records, on_decision=on_decision)
        m2 = await metrics(root)
        first_full = compactions[0] if compactions else len(decided)
        ours = [
            {**d, "full": i >= first_full, "valid": d["origin"] == "llm"}
            for i, d in enumerate(decided)
            if d["origin"] != "rule"
        ]

        if args.dump is not None:
            with args.dump.open("w", encoding="utf-8") as out:
                for i, d in enumerate(decided):
                    if d["origin"] != "rule":
                        row = {k: d.get(k) for k in ("action_type", "latency_ms", "prompt_tokens_processed")}
                        row |= {"cached": d.get("prompt_tokens_cached"), "after_compaction": i in compactions}
                        row |= {"turn": d.get("turn")}
                        out.write(json.dumps(row) + "\n")

        # 3. the burst
        burst_records, _ = read_observations(burst)
        before = len(decided)
        await replay(orch, burst_records, on_decision=on_decision)
        burst_calls = sum(1 for d in decided[before:] if d["origin"] != "rule")
        covered = sum(len(d["covers"]) for d in decided[before:])
        journal.close()
    finally:
        await connection.aclose()

    seed = report("seed", seed_rows, "processed", "cached")
    floor = {
        shape: report(f"append-only floor, {shape} reply", rows, "processed", "cached")
        for shape, rows in floors.items()
    }
    replies = {
        s: statistics.mean(r["reply_tokens"] for r in rows if r.get("reply_tokens")) for s, rows in floors.items()
    }
    con = report("conscious", ours, "prompt_tokens_processed", "prompt_tokens_cached")
    seed_metrics = (m1["prompt_tokens_total"] - m0["prompt_tokens_total"]) / max(1, len(seed_rows))
    con_metrics = (m2["prompt_tokens_total"] - m1["prompt_tokens_total"]) / max(1, len(ours))
    print(f"model {connection.info.model}, context {connection.context_length}")
    print(
        "| strategy | decisions (once full) | schema-valid | prompt tokens processed / decision, once full |"
        " from cache | latency p50 / p90, once full | /metrics prompt tokens / decision (all) |"
    )
    print("|---|---|---|---|---|---|---|")
    for r, m in (
        (seed, seed_metrics),
        *((f, float("nan")) for f in floor.values()),
        (con, con_metrics),
    ):
        print(
            f"| {r['name']} | {r['decisions']} ({r['full']}) | {r['valid']}/{r['decisions']} | {r['processed']:.0f} |"
            f" {r['cached']:.0f} | {r['p50'] / 1000:.2f} s / {r['p90'] / 1000:.2f} s | {m:.0f} |"
        )
    print(f"prompt tokens per decision once full: {seed['processed'] / con['processed']:.1f}x fewer")
    print(f"latency p50 once full: {seed['p50'] / con['p50']:.1f}x lower")
    print(f"reply tokens per floor decision: {replies}")
    for shape, f in floor.items():
        print(
            f"against the append-only floor ({shape} reply):"
            f" {con['processed'] / f['processed']:.1f}x its prompt tokens,"
            f" {con['p50'] / f['p50']:.1f}x its latency p50"
        )
    print(
        f"compactions: {len(compactions)}; {len(records)} observations -> {before} decisions ({len(ours)} by the model)"
    )
    print(f"burst: {args.burst} events within 1 s -> {burst_calls} LLM call(s); {covered}/{args.burst} covered")


if __name__ == "__main__":
    asyncio.run(main())
