"""Requests for the user's approval: a delegation's task waits with an ``approvals`` row that
holds its expiry. Every answer and expiry is committed with the observation that tells the
loop about it (built by the caller: the gate says what it means)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from conscious.journal.rows import insert_observation, set_task
from conscious.journal.store import Store
from conscious.model import Observation

_REQUESTS = (
    "SELECT a.id, a.task_id, a.requested, a.expires, t.agent, t.command, t.decision_id, d.priority,"
    " d.reasoning, d.confidence FROM approvals a JOIN tasks t ON t.id = a.task_id"
    " JOIN decisions d ON d.id = t.decision_id WHERE t.state = ? {also} ORDER BY a.id"
)

Tell = Callable[[dict[str, Any]], Observation]
"""A request (row) → the observation that reports what happened to it."""


class ApprovalRequests(Store):
    """The approvals table, joined with the tasks that wait and their decisions."""

    def requests(self, state: str = "awaiting-approval") -> list[dict[str, Any]]:
        """Requests whose task is in ``state``, oldest first."""
        return [dict(r) for r in self.db.execute(_REQUESTS.format(also=""), (state,))]

    def approval(self, approval_id: int) -> dict[str, Any] | None:
        """One request, answered or not, with its task's state."""
        row = self.db.execute(
            "SELECT a.*, t.agent, t.command, t.state, t.decision_id FROM approvals a"
            " JOIN tasks t ON t.id = a.task_id WHERE a.id = ?",
            (approval_id,),
        ).fetchone()
        return dict(row) if row is not None else None

    def answer_request(
        self, approval_id: int, state: str, reason: str | None, answered: datetime, tell: Tell
    ) -> dict[str, Any] | None:
        """Set a waiting request's task to ``state``; None when it is not waiting (any more)."""
        with self.transaction() as db:
            row = db.execute(_REQUESTS.format(also="AND a.id = ?"), ("awaiting-approval", approval_id)).fetchone()
            if row is None:
                return None
            request = dict(row)
            fields: dict[str, Any] = {"state": state}
            if state != "approved":
                fields["ended"] = answered
            set_task(db, request["task_id"], fields)
            db.execute(
                "UPDATE approvals SET answered=?, reason=? WHERE id=?", (answered.isoformat(), reason, approval_id)
            )
            insert_observation(db, tell(request))
        return request

    def claim_approved(self, task_id: int) -> bool:
        """Approved → pending, once: False if another claim took it first."""
        with self.transaction() as db:
            cur = db.execute("UPDATE tasks SET state='pending' WHERE id=? AND state='approved'", (task_id,))
        return cur.rowcount == 1

    def refuse_approved(self, task_id: int, ended: datetime, reason: str, obs: Observation) -> None:
        with self.transaction() as db:
            set_task(db, task_id, {"state": "refused", "ended": ended, "result": reason})
            insert_observation(db, obs)

    def expire_requests(self, now: datetime, tell: Tell) -> list[Observation]:
        """Expire the waiting requests whose time is up."""
        told = []
        with self.transaction() as db:
            for r in db.execute(_REQUESTS.format(also=""), ("awaiting-approval",)).fetchall():
                if datetime.fromisoformat(r["expires"]) > now:
                    continue
                set_task(db, r["task_id"], {"state": "expired", "ended": now})
                db.execute("UPDATE approvals SET answered=?, reason='expired' WHERE id=?", (now.isoformat(), r["id"]))
                obs = tell(dict(r))
                insert_observation(db, obs)
                told.append(obs)
        return told

    def next_expiry(self) -> datetime | None:
        row = self.db.execute(
            "SELECT min(a.expires) FROM approvals a JOIN tasks t ON t.id = a.task_id WHERE t.state='awaiting-approval'"
        ).fetchone()
        return datetime.fromisoformat(row[0]) if row and row[0] else None
