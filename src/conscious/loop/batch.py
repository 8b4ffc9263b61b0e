"""From pending observations to one batch: coalesce repeats and bursts, most severe first.

The LLM is the slow part of the loop; batching is how it keeps up with bursts. A file saved
1,000 times is one entry with a count and a time span; many distinct files created or changed
under one folder (a tree copied in, a branch checked out) are one entry for that subtree, with
counts by kind and a few examples. Every journaled id stays covered.
"""

from __future__ import annotations

import posixpath
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
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
        ("system", "undecodable-path"),
    }
)
"""Observations that never cost an LLM call on their own (the ``routine`` shortcut): a batch
made only of these is decided by rule. They still reach the model alongside anything else."""


UNSHOWN_EVENTS: frozenset[tuple[str, str]] = frozenset(
    {("clock", "heartbeat"), ("self", "started"), ("self", "resumed"), ("self", "compacted")}
)
"""Covered by the decision but not rendered: heartbeats are not worth tokens, how the run began
is said once in the first turn's facts, and a compaction is already in the memory block it
rewrote (its figures are for ``conscious log``, not for a choice)."""


@dataclass
class BatchEntry:
    """One line of a batch: a representative observation and every journal id it stands for."""

    observation: Observation
    ids: list[int] = field(default_factory=list)


BURST = 8
"""Distinct files under one top-level folder that make a burst (one entry for the subtree)."""
BURST_EXAMPLES = 3
BURST_KINDS = 5


def coalesce(pending: Iterable[Observation]) -> list[BatchEntry]:
    return sorted(_subtrees(_repeats(pending)), key=_order)


def _repeats(pending: Iterable[Observation]) -> list[BatchEntry]:
    by_key: dict[tuple[str, str, str], BatchEntry] = {}
    for obs in pending:
        assert obs.id is not None
        entry = by_key.get(obs.key)
        if entry is None:
            rep = obs.model_copy()
            rep.last_ts = obs.last_ts or obs.timestamp
            by_key[obs.key] = BatchEntry(rep, [obs.id])
            continue
        rep = entry.observation
        entry.ids.append(obs.id)
        rep.count += obs.count
        rep.last_ts = max(rep.last_ts or rep.timestamp, obs.last_ts or obs.timestamp)
        if SEVERITY_RANK[obs.severity] > SEVERITY_RANK[rep.severity]:
            rep.severity = obs.severity
        rep.details = obs.details  # the latest details describe the current state
    return list(by_key.values())


def _top(entry: BatchEntry) -> str | None:
    """The top-level folder a file change is under ("" at the top), or None for anything else."""
    obs = entry.observation
    relative = obs.details.get("relative")
    if obs.source != "filesystem" or obs.event_type not in ("created", "modified", "deleted"):
        return None
    if not isinstance(relative, str) or not obs.target.endswith(relative):
        return None
    return relative.partition("/")[0] if "/" in relative else ""


def _subtrees(entries: list[BatchEntry]) -> list[BatchEntry]:
    groups: dict[str, list[BatchEntry]] = {}
    for entry in entries:
        if (top := _top(entry)) is not None:
            groups.setdefault(top, []).append(entry)
    bursts = {top: group for top, group in groups.items() if len(group) >= BURST}
    if not bursts:
        return entries
    merged = {id(e) for group in bursts.values() for e in group}
    return [e for e in entries if id(e) not in merged] + [_burst(group) for group in bursts.values()]


def _burst(group: Sequence[BatchEntry]) -> BatchEntry:
    """One observation for many files changed together under one folder."""
    observations = [e.observation for e in group]
    relatives = [str(o.details["relative"]) for o in observations]
    folder = posixpath.commonpath([posixpath.dirname(r) for r in relatives])
    first = observations[0]
    root = first.target[: len(first.target) - len(relatives[0])]
    events = Counter(o.event_type for o in observations)
    kinds = Counter(posixpath.splitext(r)[1] or posixpath.basename(r) for r in relatives)
    top_kinds = dict(kinds.most_common(BURST_KINDS))
    if other := sum(kinds.values()) - sum(top_kinds.values()):
        top_kinds["other"] = other
    rep = Observation(
        source="filesystem",
        event_type=next(iter(events)) if len(events) == 1 else "changed",
        target=root + (folder + "/" if folder else ""),
        severity=max((o.severity for o in observations), key=lambda s: SEVERITY_RANK[s]),
        details={
            "relative": folder + "/" if folder else "./",
            "files": len(observations),
            "events": dict(events),
            "kinds": top_kinds,
            "examples": sorted(relatives)[:BURST_EXAMPLES],
        },
        timestamp=min(o.timestamp for o in observations),
        count=sum(o.count for o in observations),
    )
    rep.last_ts = max(o.last_ts or o.timestamp for o in observations)
    return BatchEntry(rep, sorted(i for e in group for i in e.ids))


def _order(entry: BatchEntry) -> tuple[int, int, int]:
    obs = entry.observation
    return (-SEVERITY_RANK[obs.severity], 0 if obs.source == "user" else 1, entry.ids[0])


Actionable = Callable[[Observation], bool]
"""Whether the evidence offers a delegation for an observation (``think.candidates.actionable``)."""


def needs_own(obs: Observation, actionable: Actionable | None) -> bool:
    """Whether this observation is a thing to act on, which a decision about something else must
    not cover: the user's words, a failure or crash the evidence offers a delegation for, and
    anything at error or above. (``actionable`` is None in compose mode: there, every warning.)"""
    if obs.source == "user" or SEVERITY_RANK[obs.severity] >= SEVERITY_RANK["error"]:
        return True
    if actionable is None:
        return SEVERITY_RANK[obs.severity] >= SEVERITY_RANK["warning"]
    return actionable(obs)


def take_batch(entries: Sequence[BatchEntry], limit: int, actionable: Actionable | None = None) -> list[BatchEntry]:
    """The next batch: at most ``limit`` entries, of which at most one needs a decision of its
    own (the most severe first); the routine ones ride along. One decision is one option chosen,
    so four requests told together in one batch were four requests and one delegation: the
    others were covered, marked decided, and never reached an agent. The rest stay pending for
    the next steps."""
    batch: list[BatchEntry] = []
    taken = False
    for entry in entries:
        if len(batch) >= max(1, limit):
            break
        if needs_own(entry.observation, actionable):
            if taken:
                continue
            taken = True
        batch.append(entry)
    return batch


def covered_ids(batch: Sequence[BatchEntry]) -> list[int]:
    return [i for e in batch for i in e.ids]
