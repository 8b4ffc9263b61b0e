"""Decisions, committed with the observations they cover, their task and the turns that made them."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from conscious.journal.rows import JournaledTurn, insert_turn, iso
from conscious.journal.store import Store
from conscious.model import Decision, DecisionRecord, Task


@dataclass(frozen=True)
class Committed:
    """What a committed decision was given: its id, its task as journaled (with its ids) and
    the ids of the turns that made it (set on them by their owner, once committed: a
    rolled-back id is reused by SQLite)."""

    decision_id: int
    task: Task | None = None
    turn_ids: tuple[int, ...] = ()


class Decisions(Store):
    """The decisions table."""

    def record_decision(
        self, record: DecisionRecord, *, turns: Sequence[JournaledTurn] = (), cluster_seq: int | None = None
    ) -> Committed:
        """Commit a decision, the observations it covers, its task (if any; with
        ``approval_expires``, a request for the user's approval) and the exchange that produced
        it (new context-window turns) together; the ids they were given come back.
        ``cluster_seq``: its place in the cluster's decision log (several machines)."""
        decision, task = record.decision, record.task
        with self.transaction() as db:
            turn_ids = tuple(insert_turn(db, t.role, t.content, t.tokens) for t in turns)
            cur = db.execute(
                "INSERT INTO decisions (ts, action_type, reasoning, target_agent, command, priority,"
                " confidence, metadata, raw_reply, latency_ms, prompt_tokens, cached_tokens, verdict,"
                " verdict_reason, origin, cluster_seq) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                (
                    iso(),
                    decision.action_type,
                    decision.reasoning,
                    decision.target_agent,
                    decision.command,
                    decision.priority,
                    decision.confidence,
                    json.dumps(decision.metadata, default=str),
                    record.raw_reply,
                    record.latency_ms,
                    record.prompt_tokens,
                    record.cached_tokens,
                    record.verdict,
                    record.verdict_reason,
                    record.origin,
                    cluster_seq,
                ),
            )
            decision_id = cur.lastrowid
            assert decision_id is not None
            db.executemany(
                "UPDATE observations SET status='decided', decision_id=? WHERE id=? AND status='pending'",
                [(decision_id, oid) for oid in record.covers],
            )
            made = None
            if task is not None:
                tcur = db.execute(
                    "INSERT INTO tasks (decision_id, agent, command, state) VALUES (?,?,?,?)",
                    (decision_id, task.agent, task.command, task.state),
                )
                approval_id = None
                if record.approval_expires is not None:
                    acur = db.execute(
                        "INSERT INTO approvals (task_id, requested, expires) VALUES (?,?,?)",
                        (tcur.lastrowid, iso(), iso(record.approval_expires)),
                    )
                    approval_id = acur.lastrowid
                ids = {"id": tcur.lastrowid, "decision_id": decision_id, "approval_id": approval_id}
                made = task.model_copy(update=ids)
        return Committed(decision_id, made, turn_ids)

    def decisions(self, limit: int = 50, *, include_rule: bool = True) -> list[dict[str, Any]]:
        """The most recent decisions, oldest first; ``include_rule=False`` leaves out the routine
        ones made without the model (heartbeats and the like)."""
        where = "" if include_rule else "WHERE origin != 'rule'"
        rows = self.db.execute(
            f"SELECT * FROM (SELECT * FROM decisions {where} ORDER BY id DESC LIMIT ?) ORDER BY id", (limit,)
        )
        return [dict(r) for r in rows]

    def decisions_after(self, decision_id: int) -> list[dict[str, Any]]:
        return [dict(r) for r in self.db.execute("SELECT * FROM decisions WHERE id > ? ORDER BY id", (decision_id,))]

    def decision(self, decision_id: int) -> Decision | None:
        """The decision as the model (or a rule) made it."""
        row = self.db.execute(
            "SELECT action_type, reasoning, target_agent, command, priority, confidence, metadata FROM decisions"
            " WHERE id=?",
            (decision_id,),
        ).fetchone()
        if row is None:
            return None
        return Decision(**{**dict(row), "metadata": json.loads(row["metadata"]) if row["metadata"] else {}})

    def task_of(self, decision_id: int) -> dict[str, Any] | None:
        """The delegation a decision made, if any."""
        row = self.db.execute("SELECT * FROM tasks WHERE decision_id = ?", (decision_id,)).fetchone()
        return dict(row) if row is not None else None

    def reply_to(self, observation_id: int) -> dict[str, Any] | None:
        """How the loop answered an observation so far: None while undecided, else its
        decision's action and, when it delegated, the task's agent, state and result."""
        row = self.db.execute(
            "SELECT d.id AS decision_id, d.action_type, t.agent, t.state, t.result FROM observations o"
            " JOIN decisions d ON d.id = o.decision_id LEFT JOIN tasks t ON t.decision_id = d.id WHERE o.id = ?",
            (observation_id,),
        ).fetchone()
        return dict(row) if row is not None else None
