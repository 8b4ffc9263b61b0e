"""Worktrees the agents work in, and the tool calls the gate refused them.

A worktree's row is written before ``git worktree add`` (state ``making``) and moved on
after, so a crash in between is found on the next start and reported, never forgotten.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any, Literal

from conscious.journal.rows import iso
from conscious.journal.store import Store

WorktreeState = Literal["making", "ready", "continued", "merged", "discarded", "pruned", "failed", "tampered"]
"""making → ready → merged | discarded | pruned | continued (a retry took it over); failed"""

LIVE: tuple[WorktreeState, ...] = ("making", "ready")


class Worktrees(Store):
    """The worktrees and tool_calls tables."""

    def add_worktree(self, task_id: int, repo: str, path: str, branch: str, base: str) -> None:
        now = iso()
        with self.transaction() as db:
            db.execute(
                "INSERT OR REPLACE INTO worktrees (task_id, repo, path, branch, base, state, created, updated)"
                " VALUES (?,?,?,?,?,?,?,?)",
                (task_id, repo, path, branch, base, "making", now, now),
            )

    def set_worktree(self, task_id: int, state: WorktreeState, note: str | None = None) -> None:
        with self.transaction() as db:
            db.execute(
                "UPDATE worktrees SET state=?, updated=?, note=COALESCE(?, note) WHERE task_id=?",
                (state, iso(), note, task_id),
            )

    def worktree(self, task_id: int) -> dict[str, Any] | None:
        row = self.db.execute(
            "SELECT w.*, t.agent, t.command, t.state AS task_state, t.session_id FROM worktrees w"
            " JOIN tasks t ON t.id = w.task_id WHERE w.task_id=?",
            (task_id,),
        ).fetchone()
        return dict(row) if row is not None else None

    def worktrees(self, states: tuple[WorktreeState, ...] = LIVE) -> list[dict[str, Any]]:
        marks = ",".join("?" * len(states))
        return [
            dict(r)
            for r in self.db.execute(
                "SELECT w.*, t.agent, t.command, t.state AS task_state, t.session_id FROM worktrees w"
                f" JOIN tasks t ON t.id = w.task_id WHERE w.state IN ({marks}) ORDER BY w.task_id",
                states,
            )
        ]

    def continued_worktree(self, agent: str, command: str, task_id: int | None = None) -> dict[str, Any] | None:
        """The live worktree of the earlier task a new one continues: ``task_id`` when the decision
        names it (a retry), else the newest of the same agent and command that did not succeed."""
        row = self.db.execute(
            "SELECT w.*, t.session_id, t.state AS task_state FROM worktrees w JOIN tasks t ON t.id = w.task_id"
            " WHERE w.state='ready' AND t.agent=? AND (t.id=? OR ? IS NULL AND t.command=?)"
            " AND t.state IN ('failed', 'timeout', 'interrupted') ORDER BY w.task_id DESC LIMIT 1",
            (agent, task_id, task_id, command),
        ).fetchone()
        return dict(row) if row is not None else None

    def needing_folders(self, task_ids: Sequence[int]) -> set[int]:
        """Of ``task_ids``, the tasks whose own folder (hook settings, a cell's /tmp and home
        copies, an agent's session) is still needed: not ended, or a retry may resume them."""
        marks = ",".join("?" * len(task_ids))
        rows = self.db.execute(
            "SELECT t.id FROM tasks t LEFT JOIN worktrees w ON w.task_id = t.id"
            f" WHERE t.id IN ({marks}) AND (t.state IN ('pending', 'awaiting-approval', 'approved', 'running')"
            " OR w.state = 'ready' AND t.state IN ('failed', 'timeout', 'interrupted') AND t.session_id IS NOT NULL)",
            list(task_ids),
        )
        return {int(r[0]) for r in rows}

    def record_tool_call(self, task_id: int, tool: str, tool_input: object, verdict: str, reason: str) -> int:
        with self.transaction() as db:
            cur = db.execute(
                "INSERT INTO tool_calls (ts, task_id, tool, input, verdict, reason) VALUES (?,?,?,?,?,?)",
                (iso(), task_id, tool, json.dumps(tool_input)[:2000], verdict, reason),
            )
        assert cur.lastrowid is not None
        return cur.lastrowid

    def tool_calls(self, task_id: int) -> list[dict[str, Any]]:
        return [dict(r) for r in self.db.execute("SELECT * FROM tool_calls WHERE task_id=? ORDER BY id", (task_id,))]
