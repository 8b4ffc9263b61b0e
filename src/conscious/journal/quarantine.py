"""Quarantine: items that kept failing, set aside until the user releases them."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from conscious.journal.rows import iso
from conscious.journal.store import Store
from conscious.model import utcnow


class Quarantine(Store):
    """The quarantine table."""

    def quarantine(self, agent: str, command: str, reason: str) -> int:
        """Quarantine an item (once: an active entry is returned as it is)."""
        with self.transaction() as db:
            row = db.execute(
                "SELECT id FROM quarantine WHERE released IS NULL AND agent=? AND command=?", (agent, command)
            ).fetchone()
            if row is not None:
                return int(row["id"])
            cur = db.execute(
                "INSERT INTO quarantine (ts, agent, command, reason) VALUES (?,?,?,?)", (iso(), agent, command, reason)
            )
        assert cur.lastrowid is not None
        return cur.lastrowid

    def quarantined(self) -> list[dict[str, Any]]:
        return [dict(r) for r in self.db.execute("SELECT * FROM quarantine WHERE released IS NULL ORDER BY id")]

    def release(self, quarantine_id: int) -> dict[str, Any] | None:
        """Release an item; None when there is no such active entry."""
        with self.transaction() as db:
            row = db.execute("SELECT * FROM quarantine WHERE id=? AND released IS NULL", (quarantine_id,)).fetchone()
            if row is None:
                return None
            db.execute("UPDATE quarantine SET released=? WHERE id=?", (iso(), quarantine_id))
        return dict(row)

    def releases(self, within_s: float) -> dict[tuple[str, str], float]:
        """(agent, command) → seconds since its latest release, for releases in the window."""
        now = utcnow()
        out: dict[tuple[str, str], float] = {}
        for r in self.db.execute("SELECT agent, command, released FROM quarantine WHERE released IS NOT NULL"):
            age = (now - datetime.fromisoformat(r["released"])).total_seconds()
            key = (r["agent"], r["command"])
            if age <= within_s and age < out.get(key, float("inf")):
                out[key] = age
        return out
