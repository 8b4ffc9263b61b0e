"""Delegations waiting for the user's answer.

A delegation that the gate accepted, and that the approval mode says to ask about, waits in
the journal (its task in state ``awaiting-approval``, plus an ``approvals`` row with its
expiry), so it survives restarts. The user answers with ``conscious approve`` / ``deny``,
which write the journal; the daemon notices, starts the approved (after checking the rules
once more) and expires the late. Each answer and each expiry is committed together with the
observation that tells the loop about it.

State of a waiting task: ``awaiting-approval`` → ``approved`` (user) → ``pending`` (the daemon
claims it, once) → ``running`` …; or → ``denied`` (user) / ``expired`` (daemon).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from conscious.journal import Journal, insert_observation, set_task
from conscious.model import Observation, Task, utcnow

Answer = Literal["approved", "denied"]

_WAITING = (
    "SELECT a.id, a.task_id, a.requested, a.expires, t.agent, t.command, t.decision_id, d.priority,"
    " d.reasoning, d.confidence FROM approvals a JOIN tasks t ON t.id = a.task_id"
    " JOIN decisions d ON d.id = t.decision_id WHERE t.state = ? ORDER BY a.id"
)


class Approvals:
    """The journal's waiting requests (one per task), for the daemon and the CLI alike."""

    def __init__(self, journal: Journal) -> None:
        self.journal = journal

    def waiting(self) -> list[dict[str, Any]]:
        """Requests still waiting for an answer, oldest first."""
        return [dict(r) for r in self.journal.db.execute(_WAITING, ("awaiting-approval",))]

    def get(self, approval_id: int) -> dict[str, Any] | None:
        row = self.journal.db.execute(
            "SELECT a.*, t.agent, t.command, t.state, t.decision_id FROM approvals a"
            " JOIN tasks t ON t.id = a.task_id WHERE a.id = ?",
            (approval_id,),
        ).fetchone()
        return dict(row) if row is not None else None

    def answer(self, approval_id: int, answer: Answer, reason: str | None = None) -> dict[str, Any] | None:
        """Answer a waiting request; None when it is not waiting (any more). The answer and
        the observation that tells the loop are one commit."""
        now = utcnow()
        with self.journal.transaction() as db:
            row = db.execute(_WAITING.replace("ORDER BY", "AND a.id = ? ORDER BY"), ("awaiting-approval", approval_id))
            request = row.fetchone()
            if request is None:
                return None
            request = dict(request)
            fields: dict[str, Any] = {"state": answer}
            if answer == "denied":
                fields["ended"] = now
            set_task(db, request["task_id"], fields)
            db.execute("UPDATE approvals SET answered=?, reason=? WHERE id=?", (now.isoformat(), reason, approval_id))
            details: dict[str, Any] = {
                "agent": request["agent"],
                "command": request["command"][:200],
                "decision_id": request["decision_id"],
            }
            if reason:
                details["reason"] = reason[:300]
            insert_observation(
                db,
                Observation(
                    source="user",
                    event_type=answer,
                    target=f"approval#{approval_id}",
                    severity="info" if answer == "approved" else "warning",
                    details=details,
                ),
            )
        return request

    def approved(self) -> list[Task]:
        """Approved tasks the daemon has not started yet."""
        return [
            Task(
                id=r["task_id"],
                decision_id=r["decision_id"],
                agent=r["agent"],
                command=r["command"],
                state="approved",
                approval_id=r["id"],
            )
            for r in self.journal.db.execute(_WAITING, ("approved",))
        ]

    def claim(self, task: Task) -> bool:
        """Take an approved task for starting; False if it was already taken (it starts once)."""
        with self.journal.transaction() as db:
            cur = db.execute("UPDATE tasks SET state='pending' WHERE id=? AND state='approved'", (task.id,))
        if cur.rowcount == 1:
            task.state = "pending"
            return True
        return False

    def refuse(self, task: Task, label: str, reason: str) -> Observation:
        """An approved task that the rules refuse now (a budget ran out while it waited)."""
        assert task.id is not None
        obs = Observation(
            source="policy",
            event_type="refused",
            target=f"approval#{task.approval_id}",
            severity="warning",
            details={"rule": label, "reason": reason, "agent": task.agent, "command": task.command[:200]},
        )
        with self.journal.transaction() as db:
            set_task(db, task.id, {"state": "refused", "ended": utcnow(), "result": reason})
            insert_observation(db, obs)
        return obs

    def expire(self, now: datetime | None = None) -> list[Observation]:
        """Expire the requests whose time is up; each comes back to the loop as an observation."""
        now = now or utcnow()
        if (due := self.next_expiry()) is None or due > now:
            return []  # the common case: a read, no write lock taken on every turn of the loop
        told = []
        with self.journal.transaction() as db:
            for r in db.execute(_WAITING, ("awaiting-approval",)).fetchall():
                if datetime.fromisoformat(r["expires"]) > now:
                    continue
                set_task(db, r["task_id"], {"state": "expired", "ended": now})
                db.execute("UPDATE approvals SET answered=?, reason='expired' WHERE id=?", (now.isoformat(), r["id"]))
                obs = Observation(
                    source="policy",
                    event_type="expired",
                    target=f"approval#{r['id']}",
                    severity="warning",
                    details={
                        "agent": r["agent"],
                        "command": r["command"][:200],
                        "decision_id": r["decision_id"],
                        "reason": f"nobody answered before {r['expires']}",
                    },
                )
                insert_observation(db, obs)
                told.append(obs)
        return told

    def next_expiry(self) -> datetime | None:
        row = self.journal.db.execute(
            "SELECT min(a.expires) FROM approvals a JOIN tasks t ON t.id = a.task_id WHERE t.state='awaiting-approval'"
        ).fetchone()
        return datetime.fromisoformat(row[0]) if row and row[0] else None
