"""Tasks: the delegations, from pending to their outcome."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from conscious.journal.rows import insert_observation, iso, set_task, task_from_row
from conscious.journal.store import Store
from conscious.model import Observation, PastTask, Task, utcnow


class Tasks(Store):
    """The tasks table."""

    def update_task(self, task_id: int, **fields: Any) -> None:
        if fields:
            with self.transaction() as db:
                set_task(db, task_id, fields)

    def finish_task(self, task_id: int, outcome: Observation, **fields: Any) -> int:
        """A task's final state and the observation that reports it, committed together."""
        with self.transaction() as db:
            set_task(db, task_id, fields)
            return insert_observation(db, outcome)

    def recent_tasks(self, within_s: float) -> list[PastTask]:
        """Delegations decided in the last ``within_s`` seconds, for the gate's budgets."""
        now = utcnow()
        since = iso(datetime.fromtimestamp(now.timestamp() - within_s, tz=now.tzinfo))
        rows = self.db.execute(
            # CROSS JOIN: the last day's decisions by their time index, then each one's task —
            # left to itself the planner walks every task (11 ms for 28 k, at every decision).
            "SELECT t.id, t.agent, t.command, t.state, t.cost_usd, t.pgid, d.ts FROM decisions d CROSS JOIN tasks t"
            " ON t.decision_id = d.id WHERE d.ts >= ? ORDER BY t.id",
            (since,),
        )
        return [
            PastTask(
                r["agent"],
                r["command"],
                r["state"],
                (now - datetime.fromisoformat(r["ts"])).total_seconds(),
                r["cost_usd"],
                r["id"],
                started=r["pgid"] is not None or r["state"] != "failed",
            )
            for r in rows
        ]

    def unfinished_tasks(self) -> list[Task]:
        rows = self.db.execute("SELECT * FROM tasks WHERE state IN ('pending', 'running') ORDER BY id")
        return [task_from_row(r) for r in rows]

    def tasks(self, limit: int = 50, state: str | None = None) -> list[dict[str, Any]]:
        where = "WHERE state=?" if state else ""
        args: tuple[Any, ...] = (state, limit) if state else (limit,)
        rows = self.db.execute(
            f"SELECT * FROM (SELECT * FROM tasks {where} ORDER BY id DESC LIMIT ?) ORDER BY id", args
        )
        return [dict(r) for r in rows]

    def result_of(self, task_id: int, agent: str) -> dict[str, Any] | None:
        """The details of the observation that reported the task's outcome, once it ended (found
        by its target, ``agent#id``, which the journal indexes)."""
        row = self.db.execute(
            "SELECT details FROM observations WHERE target = ? AND source = 'agent' AND event_type != 'stalled'"
            " ORDER BY id DESC LIMIT 1",
            (f"{agent}#{task_id}",),
        ).fetchone()
        return json.loads(row["details"]) if row is not None else None
