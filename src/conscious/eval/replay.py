"""Replay: the real loop with a file of recorded observations as its only observer.

Observations are read from JSON lines in the seed's shape (source, event_type, target,
severity, details; optional timestamp), fed through the journal, batching, thinker and gate
exactly as the daemon would, with delegation a dry run unless asked otherwise. Observations
recorded within ``window`` seconds of one another arrive together (a burst stays a burst);
each group is decided before the next arrives, so runs are comparable.
"""

from __future__ import annotations

import json
import statistics
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from conscious.errors import LLMUnavailable, ReplayError
from conscious.eval.score import percentile
from conscious.journal import Journal
from conscious.loop.orchestrator import Orchestrator
from conscious.model import Observation

FIELDS = frozenset({"source", "event_type", "target", "severity", "details", "timestamp"})
MAX_OUTAGE_STEPS = 6
"""Back-offs in a row before a replay gives up on an unreachable server (a daemon never does)."""


@dataclass
class Recorded:
    line: int
    observation: Observation
    timed: bool


def read_observations(path: Path) -> tuple[list[Recorded], set[str]]:
    """Every line parsed, or one clear error naming the first bad line; and the keys ignored."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ReplayError(f"cannot read {path}: {getattr(exc, 'strerror', None) or exc}") from None
    records: list[Recorded] = []
    ignored: set[str] = set()
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            data = json.loads(line)
        except json.JSONDecodeError as exc:
            raise ReplayError(f"{path}:{number}: not JSON ({exc.msg})") from None
        if not isinstance(data, dict):
            raise ReplayError(f"{path}:{number}: want a JSON object, got {type(data).__name__}")
        ignored |= set(data) - FIELDS
        fields = {k: v for k, v in data.items() if k in FIELDS and v is not None}
        try:
            obs = Observation.model_validate(fields)
        except ValidationError as exc:
            e = exc.errors()[0]
            where = ".".join(str(p) for p in e["loc"]) or "observation"
            raise ReplayError(f"{path}:{number}: {where}: {e['msg']}") from None
        if obs.timestamp.tzinfo is None:
            obs.timestamp = obs.timestamp.replace(tzinfo=UTC)
        records.append(Recorded(number, obs, "timestamp" in fields))
    if not records:
        raise ReplayError(f"{path}: no observations in it")
    return records, ignored


def groups(records: Sequence[Recorded], window: float) -> Iterator[list[Recorded]]:
    """Consecutive observations recorded within ``window`` seconds of a group's first."""
    group: list[Recorded] = []
    for r in records:
        if group and (
            not (r.timed and group[0].timed)
            or (r.observation.timestamp - group[0].observation.timestamp).total_seconds() > window
        ):
            yield group
            group = []
        group.append(r)
    if group:
        yield group


@dataclass
class ReplayResult:
    decisions: list[dict[str, Any]] = field(default_factory=list)
    observations: int = 0

    def summary(self) -> dict[str, Any]:
        by_model = [d for d in self.decisions if d["origin"] not in ("rule", "code")]
        latencies = sorted(d["latency_ms"] for d in by_model if d["latency_ms"] is not None)
        processed = [d["prompt_tokens_processed"] for d in by_model if d["prompt_tokens_processed"] is not None]
        return {
            "observations": self.observations,
            "decisions": len(self.decisions),
            "llm_decisions": len(by_model),
            "schema_valid": sum(1 for d in by_model if d["origin"] == "llm"),
            "latency_ms_p50": round(statistics.median(latencies), 1) if latencies else None,
            "latency_ms_p90": round(p90, 1) if (p90 := percentile(latencies, 0.9)) is not None else None,
            "prompt_tokens_processed_mean": round(statistics.fmean(processed), 1) if processed else None,
        }


def decision_record(row: dict[str, Any], covered: Sequence[Observation], lines: dict[int, int]) -> dict[str, Any]:
    # prompt_tokens holds what the server processed when it reported timings (then
    # cached_tokens is set too); otherwise the whole prompt's length, or nothing.
    timed = row["cached_tokens"] is not None
    return {
        "decision_id": row["id"],
        "action_type": row["action_type"],
        "target_agent": row["target_agent"],
        "command": row["command"],
        "priority": row["priority"],
        "confidence": row["confidence"],
        "reasoning": row["reasoning"],
        "verdict": row["verdict"],
        "origin": row["origin"],
        "latency_ms": row["latency_ms"],
        "prompt_tokens_processed": row["prompt_tokens"] if timed else None,
        "prompt_tokens_cached": row["cached_tokens"],
        "covers": sorted(lines[o.id] for o in covered if o.id in lines),
        "also_covers": [f"{o.source}/{o.event_type}" for o in covered if o.id not in lines],
    }


async def replay(
    orchestrator: Orchestrator,
    records: Sequence[Recorded],
    *,
    window: float = 1.0,
    on_decision: Callable[[dict[str, Any]], None] = lambda _: None,
) -> ReplayResult:
    """Feed the records through a built orchestrator (no observers of its own) and decide them all."""
    journal: Journal = orchestrator.journal
    result = ReplayResult(observations=len(records))
    lines: dict[int, int] = {}
    last_seen = max((d["id"] for d in journal.decisions(1)), default=0)
    await orchestrator.startup()
    try:
        for group in groups(records, window):
            for r in group:
                orchestrator.accept(r.observation)
                assert r.observation.id is not None
                lines[r.observation.id] = r.line
            outage = 0
            while journal.pending_count():
                await orchestrator.step()
                outage = outage + 1 if orchestrator.state.llm != "ok" else 0
                if outage >= MAX_OUTAGE_STEPS:
                    raise LLMUnavailable(
                        f"the LLM server at {orchestrator.connection.backend.url} stopped answering; replay abandoned"
                    )
                for row in journal.decisions_after(last_seen):
                    last_seen = row["id"]
                    record = decision_record(row, journal.observations(decision_id=row["id"]), lines)
                    result.decisions.append(record)
                    on_decision(record)
    finally:
        await orchestrator.shutdown(orchestrator.config.kill_grace)
    return result
