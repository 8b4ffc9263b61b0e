"""Budget use: delegations in the last hour and spend in the last day, overall and per agent,
against the limits the running daemon published (the rules that stop a delegation are the
policy's, ``Policy.over_budget``; ``conscious status`` shows these figures)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from conscious.gate.policy import DAY, History
from conscious.model import PastTask


def budget_use(recent: Sequence[PastTask], limits: dict[str, Any]) -> dict[str, Any]:
    """The figures, with the limits (``{}`` when no daemon published them)."""
    history = History(recent=tuple(recent))
    agents = sorted({t.agent for t in recent} | set(limits.get("budgets", {})))
    return {
        "delegations_last_hour": history.delegations(3600),
        "spent_today_usd": round(history.spend(DAY), 4),
        "limits": limits,
        "by_agent": {
            a: {
                "delegations_last_hour": history.delegations(3600, a),
                "spent_today_usd": round(history.spend(DAY, a), 4),
            }
            for a in agents
        },
    }
