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
from typing import Any, Literal, Protocol

from conscious.journal.approvals import Tell
from conscious.model import Observation, Task, utcnow

Answer = Literal["approved", "denied"]


class ApprovalsJournal(Protocol):
    """The journal as approvals use it: the requests and their answers."""

    def requests(self, state: str = "awaiting-approval") -> list[dict[str, Any]]: ...

    def approval(self, approval_id: int) -> dict[str, Any] | None: ...

    def answer_request(
        self, approval_id: int, state: str, reason: str | None, answered: datetime, tell: Tell
    ) -> dict[str, Any] | None: ...

    def claim_approved(self, task_id: int) -> bool: ...

    def refuse_approved(self, task_id: int, ended: datetime, reason: str, obs: Observation) -> None: ...

    def expire_requests(self, now: datetime, tell: Tell) -> list[Observation]: ...

    def next_expiry(self) -> datetime | None: ...


class Approvals:
    """The journal's waiting requests (one per task), for the daemon and the CLI alike."""

    def __init__(self, journal: ApprovalsJournal) -> None:
        self.journal = journal

    def waiting(self) -> list[dict[str, Any]]:
        """Requests still waiting for an answer, oldest first."""
        return self.journal.requests("awaiting-approval")

    def get(self, approval_id: int) -> dict[str, Any] | None:
        return self.journal.approval(approval_id)

    def answer(self, approval_id: int, answer: Answer, reason: str | None = None) -> dict[str, Any] | None:
        """Answer a waiting request; None when it is not waiting (any more). The answer and
        the observation that tells the loop are one commit."""

        def told(request: dict[str, Any]) -> Observation:
            details: dict[str, Any] = {
                "agent": request["agent"],
                "command": request["command"][:200],
                "decision_id": request["decision_id"],
            }
            if reason:
                details["reason"] = reason[:300]
            return Observation(
                source="user",
                event_type=answer,
                target=f"approval#{approval_id}",
                severity="info" if answer == "approved" else "warning",
                details=details,
            )

        return self.journal.answer_request(approval_id, answer, reason, utcnow(), told)

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
            for r in self.journal.requests("approved")
        ]

    def claim(self, task: Task) -> bool:
        """Take an approved task for starting; False if it was already taken (it starts once)."""
        assert task.id is not None
        if self.journal.claim_approved(task.id):
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
        self.journal.refuse_approved(task.id, utcnow(), reason, obs)
        return obs

    def expire(self, now: datetime | None = None) -> list[Observation]:
        """Expire the requests whose time is up; each comes back to the loop as an observation."""
        now = now or utcnow()
        if (due := self.journal.next_expiry()) is None or due > now:
            return []  # the common case: a read, no write lock taken on every turn of the loop

        def told(r: dict[str, Any]) -> Observation:
            return Observation(
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

        return self.journal.expire_requests(now, told)
