"""Retention: what the journal keeps past its horizon, and what it lets go.

Past ``horizon``, observations and archived turns are deleted, and so are routine decisions
(those that started no task); tasks, their decisions and the observations those covered,
approvals, worktrees, notes and summaries are kept. Before a batch goes, one note says what it
held (how many of each kind, from when to when): recall still finds that it happened. Deletes
run in small transactions, so the loop's own writes never wait long behind them; freed pages
go back to the file system when the journal was made with incremental vacuum (every journal
made since this version), and are reused otherwise.
"""

from __future__ import annotations

import contextlib
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime

from conscious.journal.rows import iso
from conscious.journal.store import Store

BATCH = 500
"""Rows per transaction: each holds the write lock for milliseconds (a row takes its full-text
entries with it), so the loop's own writes wait no longer than that between batches."""

_OLD_OBSERVATIONS = (
    "SELECT o.id, o.ts, o.source, o.event_type FROM observations o WHERE o.ts < ? AND o.status != 'pending'"
    " AND NOT EXISTS (SELECT 1 FROM tasks t WHERE t.decision_id = o.decision_id) ORDER BY o.id LIMIT ?"
)
_OLD_DECISIONS = (
    "SELECT d.id FROM decisions d WHERE d.ts < ? AND NOT EXISTS (SELECT 1 FROM tasks t WHERE t.decision_id = d.id)"
    " AND NOT EXISTS (SELECT 1 FROM observations o WHERE o.decision_id = d.id) ORDER BY d.id LIMIT ?"
)


@dataclass
class Compacted:
    observations: int = 0
    decisions: int = 0
    turns: int = 0
    kinds: Counter[str] = field(default_factory=Counter)
    span: tuple[str, str] | None = None

    def said(self) -> str:
        if not (self.observations or self.decisions or self.turns):
            return ""
        frm, to = self.span or ("?", "?")
        top = ", ".join(f"{kind} {n}" for kind, n in self.kinds.most_common(8))
        return (
            f"Journal compacted: from {frm[:10]} to {to[:10]}, {self.observations} observations ({top}),"
            f" {self.decisions} routine decisions and {self.turns} archived turns were let go."
        )


class Retention(Store):
    def compact(self, horizon: datetime, batch: int = BATCH) -> Compacted:
        """Let go of what is older than ``horizon`` (see the module's docstring)."""
        before, done = iso(horizon), Compacted()
        while rows := self.db.execute(_OLD_OBSERVATIONS, (before, batch)).fetchall():
            for r in rows:
                done.kinds[f"{r['source']}/{r['event_type']}"] += 1
            first, last = rows[0]["ts"], rows[-1]["ts"]
            done.span = (min(first, done.span[0]), max(last, done.span[1])) if done.span else (first, last)
            with self.transaction() as db:
                db.executemany("DELETE FROM observations WHERE id = ?", [(r["id"],) for r in rows])
            done.observations += len(rows)
        while ids := [r[0] for r in self.db.execute(_OLD_DECISIONS, (before, batch)).fetchall()]:
            with self.transaction() as db:
                db.executemany("DELETE FROM decisions WHERE id = ?", [(i,) for i in ids])
            done.decisions += len(ids)
        while ids := [
            r[0]
            for r in self.db.execute(
                "SELECT id FROM turns WHERE archived = 1 AND ts < ? ORDER BY id LIMIT ?", (before, batch)
            ).fetchall()
        ]:
            with self.transaction() as db:
                db.executemany("DELETE FROM turns WHERE id = ?", [(i,) for i in ids])
            done.turns += len(ids)
        if note := done.said():
            with self.transaction() as db:
                db.execute("INSERT INTO notes (ts, content, tags) VALUES (?,?,?)", (iso(), note, "retention"))
        # executescript steps it to the end: one step of `execute` frees a single page.
        self.db.executescript("PRAGMA incremental_vacuum;")
        return done

    def size(self) -> int:
        """Bytes the journal holds (its file and its write-ahead log)."""
        total = 0
        for path in (self.path, self.path.with_name(self.path.name + "-wal")):
            with contextlib.suppress(OSError):
                total += path.stat().st_size
        return total
