"""What a reflection hands the next thought: the question it reflects on, and what the journal
holds on the subject, as short facts with their age.

The journal is searched by the evidence (what happened, to what), not by a delegation's
command: the stock phrasing composed around the evidence ("find out why from its logs and recent
changes, and fix the cause") matched anything that asked why, and a user's question about the
nightly build came back for every crashed server. In ``compose`` mode the command is the model's
own and says what it has in mind, so it is searched too.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from conscious.loop.batch import QUIET_EVENTS, BatchEntry
from conscious.model import Decision, Observation
from conscious.think.candidates import cut
from conscious.think.choice import Options

RECALL_LINE = 120
"""Characters of each recalled item: what it was, as a fact; its details are in the journal (and
the evidence at hand is in the turn being decided)."""
LABELS = {"note": "note", "observation": "seen", "turn": "decided"}


def question(decision: Decision, options: Options | None) -> str:
    """What it reflects on. In ``choose`` mode the reflect option's question, whichever option was
    chosen (a hesitant delegation is escalated to it): the delegation's command is in the options
    offered again, and shown twice it was paid for twice. Otherwise what the model wrote."""
    if options is not None:
        asked = next((c.command for c in options.candidates if c.action_type == "reflect" and c.command), None)
        if asked is not None:
            return asked
    return decision.command or decision.reasoning


def subject(decision: Decision, batch: Sequence[BatchEntry], options: Options | None) -> str:
    """The words to search the journal with: the evidence first, then (composed) the model's command."""
    words = [_head(e.observation) for e in batch if e.observation.key[:2] not in QUIET_EVENTS]
    if options is None and decision.command:
        words.append(decision.command)
    return " ".join(words)


def _head(obs: Observation) -> str:
    if obs.key[:2] == ("self", "reflection"):
        return obs.target  # the question of the chain, which names the evidence
    return f"{obs.source} {obs.event_type} {obs.target}"


def recalled(hits: Sequence[Mapping[str, Any]], now: datetime) -> list[str]:
    """Each hit as one line: what kind of memory, how long ago, and what it says."""
    lines = []
    for h in hits:
        text = str(h["text"]).removeprefix("…").strip().removeprefix("→").strip()
        lines.append(f"{LABELS.get(str(h['kind']), str(h['kind']))} {age(h.get('ts'), now)}: {cut(text, RECALL_LINE)}")
    return lines


def age(ts: object, now: datetime) -> str:
    """How long ago, in the largest unit that is at least one ("3m ago"); "earlier" when unknown."""
    try:
        then = datetime.fromisoformat(str(ts))
    except ValueError:
        return "earlier"
    seconds = max(0, int((now - then).total_seconds()))
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds // size}{unit} ago"
    return f"{seconds}s ago"
