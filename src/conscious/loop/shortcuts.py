"""Decisions that need no judgement, made by rule instead of an LLM call.

Each rule says which observations it covers; a batch is decided by rule only when every one
of its observations is covered (by one rule or another). Otherwise the whole batch goes to
the model, rule-covered observations included, since they may matter next to the rest.
``conscious config`` lists the rules, and ``shortcuts`` in the config chooses which apply.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from conscious.config import SHORTCUTS
from conscious.loop.batch import QUIET_EVENTS, Actionable, BatchEntry
from conscious.loop.settled import Settled
from conscious.model import SEVERITY_RANK, Observation


@dataclass(frozen=True)
class Rule:
    name: str
    says: str
    """What it covers, for ``conscious config`` and the decision's reasoning."""


ROUTINE = Rule(
    "routine",
    "heartbeats and the loop's own feedback (refusals, parse failures, server restarts, compactions, "
    "how the run began): nothing for the model to do about them alone",
)
BOOKKEEPING = Rule(
    "bookkeeping",
    "a success of the memory agent (a note stored or recalled): the work is done and needs no follow-up",
)
REPEAT = Rule(
    "repeat",
    "an info or debug observation identical (source, event, target, details) to one already decided "
    "within duplicate_window seconds; never a user's words",
)
QUIET = Rule(
    "quiet",
    "an info or debug observation for which the evidence offers no action (a file saved, tests passing, an "
    "agent's success, a process starting): only observe or reflect could be chosen; in choose mode only, "
    "never a user's words, the idle clock or the loop's own reflections",
)
SETTLED = Rule(
    "settled",
    "a failure the journal has answered already: the same report passing since (green on the rerun), "
    "or a running task already working on that report, test or process",
)
RULES: tuple[Rule, ...] = (ROUTINE, BOOKKEEPING, REPEAT, SETTLED, QUIET)
NAMES: tuple[str, ...] = tuple(r.name for r in RULES)
assert NAMES == SHORTCUTS, "config.SHORTCUTS names the rules defined here"

SeenRecently = Callable[[Observation], bool]
"""Whether an identical observation was decided within the window (asks the journal)."""
WORTH_A_THOUGHT: frozenset[tuple[str, str]] = frozenset({("clock", "idle")})
"""Quiet, yet there to make the model think (idle reflection)."""


def covering(
    obs: Observation,
    enabled: Sequence[str],
    seen_recently: SeenRecently,
    actionable: Actionable | None = None,
    settled: Settled | None = None,
) -> Rule | None:
    """The first enabled rule that covers this observation, if any."""
    if "routine" in enabled and obs.key[:2] in QUIET_EVENTS:
        return ROUTINE
    if (
        "bookkeeping" in enabled
        and (obs.source, obs.event_type) == ("agent", "succeeded")
        and obs.details.get("agent") == "memory"
    ):
        return BOOKKEEPING
    if (
        "repeat" in enabled
        and obs.source != "user"
        and SEVERITY_RANK[obs.severity] <= SEVERITY_RANK["info"]
        and seen_recently(obs)
    ):
        return REPEAT
    if "settled" in enabled and settled is not None and obs.source != "user" and settled(obs) is not None:
        return SETTLED
    if (
        "quiet" in enabled
        and actionable is not None
        and obs.source not in ("user", "self")
        and obs.key[:2] not in WORTH_A_THOUGHT
        and SEVERITY_RANK[obs.severity] <= SEVERITY_RANK["info"]
        and not actionable(obs)
    ):
        return QUIET
    return None


def shortcut(
    batch: Sequence[BatchEntry],
    enabled: Sequence[str],
    seen_recently: SeenRecently,
    actionable: Actionable | None = None,
    settled: Settled | None = None,
) -> list[Rule] | None:
    """The rules that decide this whole batch without the model, or None when it needs the model
    (``actionable``: the choose mode's candidates, for the ``quiet`` rule; ``settled``: what the
    journal has answered, for the ``settled`` rule)."""
    used: list[Rule] = []
    for entry in batch:
        rule = covering(entry.observation, enabled, seen_recently, actionable, settled)
        if rule is None:
            return None
        if rule not in used:
            used.append(rule)
    return used
