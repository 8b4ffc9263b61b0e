"""Who the orchestrator is across restarts: first start, sessions, totals, thresholds, and
how the last run ended — kept in the journal's ``identity`` table.

After a restart, clean or crash, the daemon resumes with this identity, the summary of its
archived turns and its most recent turns, and says in its first thought that it resumed.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from conscious.config import Config
from conscious.model import Observation

Start = Literal["first", "clean", "crash"]


def thresholds(config: Config) -> dict[str, Any]:
    """The seed's judgement settings this identity runs with."""
    return {
        "delegate_at": config.min_confidence_to_delegate,
        "reflect_below": config.reflection_confidence_threshold,
        "priority_escalation": dict(config.priority_escalation),
    }


@dataclass(frozen=True)
class Resumption:
    session: int
    first_start: str
    start: Start
    last_seen: str | None
    """When the previous run last reported itself alive."""
    thresholds_changed: dict[str, Any] | None = None
    """The previous run's thresholds, when they differ from this run's."""

    def note(self, restored_turns: int, has_summary: bool) -> str:
        """One line for the first thought."""
        if self.start == "first":
            return f"first start of conscious on this journal (session {self.session})"
        how = "a clean stop" if self.start == "clean" else "a crash (the last run did not stop cleanly)"
        kept = f"{restored_turns} recent turns" + (" and the summary of older ones" if has_summary else "")
        return f"resumed: session {self.session} after {how}, last seen {self.last_seen}; {kept} restored"

    def observation(self, restored_turns: int, has_summary: bool) -> Observation:
        """How this run began, journaled."""
        details: dict[str, Any] = {
            "session": self.session,
            "start": self.start,
            "last_seen": self.last_seen,
            "restored_turns": restored_turns,
            "summary": has_summary,
        }
        if self.thresholds_changed is not None:
            details["previous_thresholds"] = self.thresholds_changed
        return Observation(
            source="self",
            event_type="started" if self.start == "first" else "resumed",
            target=f"session {self.session}",
            severity="warning" if self.start == "crash" else "info",
            details=details,
        )


def begin_session(identity: Mapping[str, Any], config: Config, now: datetime) -> tuple[Resumption, dict[str, Any]]:
    """Read the stored identity; return how this run starts and the values to store."""
    previous = identity.get("daemon") if isinstance(identity.get("daemon"), dict) else {}
    assert isinstance(previous, dict)
    first_start = str(identity.get("first_start") or now.isoformat())
    session = int(identity.get("sessions", 0) or 0) + 1
    # The journal lock guarantees no other daemon: a run still marked running crashed.
    start: Start = "first" if "first_start" not in identity else "crash" if previous.get("running") else "clean"
    current = thresholds(config)
    stored = identity.get("thresholds")
    changed = stored if stored is not None and stored != current else None
    resumption = Resumption(session, first_start, start, previous.get("updated"), changed)
    values = {"first_start": first_start, "sessions": session, "thresholds": current, "last_start": now.isoformat()}
    return resumption, values


def identity_line(first_start: str, counts: Mapping[str, int], config: Config) -> str:
    """Rewritten only at compaction; the session (which changes at each start) is a per-turn fact."""
    t = thresholds(config)
    return (
        f"You are conscious, the orchestrator on this machine since {first_start[:16].replace('T', ' ')}."
        f" So far: {counts.get('observations', 0)} observations, "
        f"{counts.get('decisions', 0)} decisions, {counts.get('delegations', 0)} delegations. "
        f"You delegate only at confidence >= {t['delegate_at']}; below {t['reflect_below']} you reflect."
    )


def turns_to_restore(live: Sequence[Mapping[str, Any]], budget_tokens: int) -> list[Mapping[str, Any]]:
    """The newest whole exchanges (user then assistant) that fit in ``budget_tokens``.

    A trailing user turn never answered (the run died mid-thought) is left out: its
    observations are still pending in the journal and will be rendered again.
    """
    turns = list(live)
    while turns and turns[-1]["role"] != "assistant":
        turns.pop()
    kept: list[Mapping[str, Any]] = []
    used = 0
    i = len(turns)
    while i >= 2:
        user, assistant = turns[i - 2], turns[i - 1]
        if user["role"] != "user" or assistant["role"] != "assistant":
            i -= 1
            continue
        cost = int(user["tokens"]) + int(assistant["tokens"]) + 8
        if used + cost > budget_tokens:
            break
        kept[:0] = [user, assistant]
        used += cost
        i -= 2
    return kept
