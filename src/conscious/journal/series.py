"""What the live page draws: the model's decisions and the agents' tasks over time."""

from __future__ import annotations

from typing import Any

from conscious.journal.store import Store


class Series(Store):
    """What the live page draws: the model's decisions and the agents' tasks since a moment."""

    def series(self, since: str) -> dict[str, list[dict[str, Any]]]:
        decisions = self.db.execute(
            "SELECT ts, latency_ms, prompt_tokens, cached_tokens FROM decisions"
            " WHERE origin != 'rule' AND ts >= ? ORDER BY id",
            (since,),
        )
        tasks = self.db.execute(
            "SELECT COALESCE(ended, started) AS ts, agent, state, cost_usd FROM tasks"
            " WHERE started IS NOT NULL AND COALESCE(ended, started) >= ? ORDER BY COALESCE(ended, started)",
            (since,),
        )
        return {"decisions": [dict(r) for r in decisions], "tasks": [dict(r) for r in tasks]}
