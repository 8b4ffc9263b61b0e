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
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime

from conscious.journal.rows import iso
from conscious.journal.store import Store

BATCH = 100
"""Rows per transaction: a row takes its full-text entries with it, and 500 held the write lock
up to 0.8 s on a busy disk; the loop's own writes wait no longer than one batch."""

VACUUM_STEP = 256
"""Pages (4 KiB) given back to the file system per transaction."""

_OLD_OBSERVATIONS = (
    "SELECT o.id, o.ts, o.source, o.event_type FROM observations o WHERE o.ts < ? AND o.status != 'pending'"
    " AND NOT EXISTS (SELECT 1 FROM tasks t WHERE t.decision_id = o.decision_id) ORDER BY o.id LIMIT ?"
)
_OLD_DECISIONS = (
    "SELECT d.id FROM decisions d WHERE d.ts < ? AND NOT EXISTS (SELECT 1 FROM tasks t WHERE t.decision_id = d.id)"
    " AND NOT EXISTS (SELECT 1 FROM observations o WHERE o.decision_id = d.id) ORDER BY d.id LIMIT ?"
)


class _Pace:
    """A block timed, then as long again (times ``1/share - 1``) spent asleep after it."""

    def __init__(self, share: float) -> None:
        self.rest = (1 / share - 1) if share > 0 else 0.0
        self.began = 0.0

    def __enter__(self) -> None:
        self.began = time.monotonic()

    def __exit__(self, *exc: object) -> None:
        time.sleep((time.monotonic() - self.began) * self.rest)


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
    def compact(self, horizon: datetime, batch: int = BATCH, *, share: float = 0.5) -> Compacted:
        """Let go of what is older than ``horizon`` (see the module's docstring), taking at most
        ``share`` of the time: the pages it writes must be checkpointed, and a checkpoint holds
        every writer (the loop's) while it runs — unpaced, the first compaction of a 2 M-row
        journal made them wait up to 10 s."""
        before, done = iso(horizon), Compacted()
        paced = _Pace(share)
        while rows := self.db.execute(_OLD_OBSERVATIONS, (before, batch)).fetchall():
            for r in rows:
                done.kinds[f"{r['source']}/{r['event_type']}"] += 1
            first, last = rows[0]["ts"], rows[-1]["ts"]
            done.span = (min(first, done.span[0]), max(last, done.span[1])) if done.span else (first, last)
            with paced, self.transaction() as db:
                db.executemany("DELETE FROM observations WHERE id = ?", [(r["id"],) for r in rows])
            done.observations += len(rows)
        while ids := [r[0] for r in self.db.execute(_OLD_DECISIONS, (before, batch)).fetchall()]:
            with paced, self.transaction() as db:
                db.executemany("DELETE FROM decisions WHERE id = ?", [(i,) for i in ids])
            done.decisions += len(ids)
        while ids := [
            r[0]
            for r in self.db.execute(
                "SELECT id FROM turns WHERE archived = 1 AND ts < ? ORDER BY id LIMIT ?", (before, batch)
            ).fetchall()
        ]:
            with paced, self.transaction() as db:
                db.executemany("DELETE FROM turns WHERE id = ?", [(i,) for i in ids])
            done.turns += len(ids)
        if note := done.said():
            with self.transaction() as db:
                db.execute("INSERT INTO notes (ts, content, tags) VALUES (?,?,?)", (iso(), note, "retention"))
        self._give_back(paced)
        return done

    def _give_back(self, paced: _Pace) -> None:
        """Free pages back to the file system, a few megabytes a transaction: in one, a
        gigabyte freed held the loop's writes for 6.6 s."""
        if self.db.execute("PRAGMA auto_vacuum").fetchone()[0] != 2:  # not INCREMENTAL: pages are reused
            return
        free = self.db.execute("PRAGMA freelist_count").fetchone()[0]
        while free:
            # executescript steps it to the end: one step of `execute` frees a single page.
            with paced:
                self.db.executescript(f"PRAGMA incremental_vacuum({VACUUM_STEP});")
            free, was = self.db.execute("PRAGMA freelist_count").fetchone()[0], free
            if free >= was:
                return

    def size(self) -> int:
        """Bytes the journal holds (its file and its write-ahead log)."""
        total = 0
        for path in (self.path, self.path.with_name(self.path.name + "-wal")):
            with contextlib.suppress(OSError):
                total += path.stat().st_size
        return total
