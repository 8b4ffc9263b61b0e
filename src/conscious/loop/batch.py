"""From pending observations to one batch: coalesce repeats, most severe first.

The LLM is the slow part of the loop; batching is how it keeps up with bursts. A file saved
1,000 times is one entry with a count and a time span; every journaled id stays covered.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from conscious.model import SEVERITY_RANK, Observation

QUIET_EVENTS: frozenset[tuple[str, str]] = frozenset(
    {
        ("clock", "heartbeat"),
        ("system", "parse-failure"),
        ("system", "llm-error"),
        ("policy", "refused"),
        ("policy", "quarantined"),
        ("system", "llm-recovered"),
        ("self", "compacted"),
        ("self", "started"),
        ("self", "resumed"),
        ("self", "rebuilt"),
        ("system", "llm-server-restarted"),
    }
)
"""Observations that never cost an LLM call on their own (the ``routine`` shortcut): a batch
made only of these is decided by rule. They still reach the model alongside anything else."""


UNSHOWN_EVENTS: frozenset[tuple[str, str]] = frozenset(
    {("clock", "heartbeat"), ("self", "started"), ("self", "resumed")}
)
"""Covered by the decision but not rendered: heartbeats are not worth tokens, and how the run
began is said once in the first turn's facts."""


@dataclass
class Entry:
    """One line of a batch: a representative observation and every journal id it stands for."""

    observation: Observation
    ids: list[int] = field(default_factory=list)


def coalesce(pending: Iterable[Observation]) -> list[Entry]:
    by_key: dict[tuple[str, str, str], Entry] = {}
    for obs in pending:
        assert obs.id is not None
        entry = by_key.get(obs.key)
        if entry is None:
            rep = obs.model_copy()
            rep.last_ts = obs.last_ts or obs.timestamp
            by_key[obs.key] = Entry(rep, [obs.id])
            continue
        rep = entry.observation
        entry.ids.append(obs.id)
        rep.count += obs.count
        rep.last_ts = max(rep.last_ts or rep.timestamp, obs.last_ts or obs.timestamp)
        if SEVERITY_RANK[obs.severity] > SEVERITY_RANK[rep.severity]:
            rep.severity = obs.severity
        rep.details = obs.details  # the latest details describe the current state
    return sorted(by_key.values(), key=_order)


def _order(entry: Entry) -> tuple[int, int, int]:
    obs = entry.observation
    return (-SEVERITY_RANK[obs.severity], 0 if obs.source == "user" else 1, entry.ids[0])


def take_batch(entries: Sequence[Entry], limit: int) -> list[Entry]:
    return list(entries[: max(1, limit)])


def covered_ids(batch: Sequence[Entry]) -> list[int]:
    return [i for e in batch for i in e.ids]
