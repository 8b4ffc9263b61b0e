"""Observations: written before they are considered, pending until a decision covers them."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime

from conscious.journal.rows import OBS_COLS, insert_observation, iso, observation_from_row
from conscious.journal.store import Store
from conscious.model import Observation, utcnow


class Observations(Store):
    """The observations table."""

    def append(self, obs: Observation) -> int:
        with self.transaction() as db:
            return insert_observation(db, obs)

    def pending(self, limit: int = 10_000) -> list[Observation]:
        rows = self.db.execute(
            f"SELECT {OBS_COLS} FROM observations WHERE status='pending' ORDER BY id LIMIT ?", (limit,)
        )
        return [observation_from_row(r) for r in rows]

    def pending_count(self) -> int:
        return int(self.db.execute("SELECT count(*) FROM observations WHERE status='pending'").fetchone()[0])

    def decided_between(
        self, source: str, event_type: str, since: datetime, until: datetime, *, recent: int = 5000
    ) -> list[Observation]:
        """Observations of (source, event) first seen between ``since`` and ``until`` and decided
        already, newest first, among the newest ``recent`` rows: what is asked for is recent, so
        the primary key's range is read, not an index on time."""
        rows = self.db.execute(
            f"SELECT {OBS_COLS} FROM observations WHERE id > (SELECT coalesce(max(id), 0) FROM observations) - ?"
            " AND source=? AND event_type=? AND status='decided' AND ts BETWEEN ? AND ? ORDER BY id DESC LIMIT 20",
            (recent, source, event_type, iso(since), iso(until)),
        )
        return [observation_from_row(r) for r in rows]

    def decided_alike(self, obs: Observation, within_s: float) -> bool:
        """Whether an observation identical to ``obs`` (source, event, target, details) was
        decided within the last ``within_s`` seconds."""
        now = utcnow()
        since = iso(datetime.fromtimestamp(now.timestamp() - within_s, tz=now.tzinfo))
        row = self.db.execute(
            "SELECT 1 FROM observations WHERE target=? AND event_type=? AND source=? AND details=?"
            " AND status='decided' AND last_ts >= ? LIMIT 1",
            (obs.target, obs.event_type, obs.source, json.dumps(obs.details, default=str), since),
        ).fetchone()
        return row is not None

    def newer(self, source: str, event_type: str, target: str, after: datetime) -> bool:
        """Whether (source, event, target) was observed after ``after``."""
        row = self.db.execute(
            "SELECT 1 FROM observations WHERE target=? AND event_type=? AND source=? AND last_ts > ? LIMIT 1",
            (target, event_type, source, iso(after)),
        ).fetchone()
        return row is not None

    def observations(self, limit: int = 50, decision_id: int | None = None) -> list[Observation]:
        if decision_id is not None:
            rows = self.db.execute(
                f"SELECT {OBS_COLS} FROM observations WHERE decision_id=? ORDER BY id", (decision_id,)
            )
        else:
            rows = self.db.execute(
                f"SELECT {OBS_COLS} FROM (SELECT * FROM observations ORDER BY id DESC LIMIT ?) ORDER BY id",
                (limit,),
            )
        return [observation_from_row(r) for r in rows]

    def stream_observations(self, limit: int | None = None) -> Iterator[Observation]:
        """The last ``limit`` observations (all: None), oldest first, one row at a time: memory
        stays the same on a journal of millions."""
        start = 0
        if limit is not None:
            row = self.db.execute(
                "SELECT id FROM observations ORDER BY id DESC LIMIT 1 OFFSET ?", (limit - 1,)
            ).fetchone()
            start = row[0] if row is not None else 0
        for row in self.db.execute(f"SELECT {OBS_COLS} FROM observations WHERE id >= ? ORDER BY id", (start,)):
            yield observation_from_row(row)

    def last_observation_id(self) -> int:
        """The newest observation's id (0: none yet)."""
        return int(self.db.execute("SELECT coalesce(max(id), 0) FROM observations").fetchone()[0])
