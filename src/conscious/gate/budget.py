"""Budget use as ``conscious status`` shows it: delegations in the last hour and spend in the
last day, overall and per agent, against the limits the running daemon published."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
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


def _of(used: float, cap: float | None, money: bool = False) -> str:
    def fmt(v: float) -> str:
        return f"${v:.2f}" if money else f"{v:g}"

    return fmt(used) + (f"/{fmt(cap)}" if cap is not None else "")


def budget_lines(use: dict[str, Any]) -> Iterator[tuple[str | None, str]]:
    """(agent or None for overall, line)."""
    limits = use["limits"]
    yield (
        None,
        f"{_of(use['delegations_last_hour'], limits.get('delegations_per_hour'))} delegations this hour · "
        f"{_of(use['spent_today_usd'], limits.get('max_spend_usd_per_day'), money=True)} spent today",
    )
    for agent, figures in use["by_agent"].items():
        own = limits.get("budgets", {}).get(agent, {})
        yield (
            agent,
            f"{_of(figures['delegations_last_hour'], own.get('delegations_per_hour'))} this hour · "
            f"{_of(figures['spent_today_usd'], own.get('max_spend_usd_per_day'), money=True)} today",
        )
