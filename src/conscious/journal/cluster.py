"""Several machines: what this host sent on, what it took in from others, and each decision's
place in the cluster's log (``cluster/``). A host's own observations have no origin; one that
came from another host keeps (host, its id there), unique, so a re-sent one is never a second."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable
from typing import Any

from conscious.journal.rows import OBS_COLS, insert_observation, observation_from_row, task_from_row
from conscious.journal.store import Store
from conscious.model import Observation, Task

Key = tuple[str, int]
"""An observation anywhere in the cluster: (host, its id in that host's journal)."""


class Cluster(Store):
    """The outbox cursor, observations from other hosts, the decision log's sequence."""

    def unsent(self, limit: int = 500) -> list[Observation]:
        """This host's own observations not yet acknowledged by the broker, oldest first."""
        rows = self.db.execute(
            f"SELECT {OBS_COLS} FROM observations WHERE id > ? AND origin_host IS NULL ORDER BY id LIMIT ?",
            (self._cursor(), limit),
        )
        return [observation_from_row(r) for r in rows]

    def _cursor(self) -> int:
        """The last of this host's observations the broker has acknowledged (0: none). Read on
        its own: the outbox asks several times a second, and ``identity()`` decodes every key."""
        row = self.db.execute("SELECT value FROM identity WHERE key='outbox_sent'").fetchone()
        return int(json.loads(row[0])) if row is not None else 0

    def sent(self, up_to: int, *, forwarded: bool) -> None:
        """The broker holds this host's observations up to ``up_to``; ``forwarded``: a brain
        elsewhere decides them, so they are no longer pending here."""
        with self.transaction() as db:
            db.execute(
                "INSERT INTO identity (key, value) VALUES ('outbox_sent', ?)"
                " ON CONFLICT(key) DO UPDATE SET value=excluded.value",
                (json.dumps(up_to),),
            )
            if forwarded:
                db.execute(
                    "UPDATE observations SET status='forwarded' WHERE id <= ? AND status='pending'"
                    " AND origin_host IS NULL",
                    (up_to,),
                )

    def outbox_backlog(self) -> int:
        row = self.db.execute(
            "SELECT count(*) FROM observations WHERE id > ? AND origin_host IS NULL", (self._cursor(),)
        )
        return int(row.fetchone()[0])

    def ingest(self, obs: Observation, key: Key) -> int | None:
        """Take in an observation from another host; None when it is here already."""
        with self.transaction() as db:
            return _ingest(db, obs, key)

    def ingest_many(self, items: Iterable[tuple[Observation, Key]]) -> list[Observation]:
        """Take in a batch in one transaction; the observations that were not here yet."""
        with self.transaction() as db:
            return [obs for obs, key in items if _ingest(db, obs, key) is not None]

    def local_ids(self, keys: Iterable[Key], me: str) -> dict[Key, int]:
        """Where the observations ``keys`` are in this journal (those it has)."""
        found: dict[Key, int] = {}
        for host, origin_id in keys:
            if host == me:
                found[(host, origin_id)] = origin_id
                continue
            row = self.db.execute(
                "SELECT id FROM observations WHERE origin_host=? AND origin_id=?", (host, origin_id)
            ).fetchone()
            if row is not None:
                found[(host, origin_id)] = int(row["id"])
        return found

    def keyed(self, ids: Iterable[int], me: str) -> list[tuple[Key, Observation, bool]]:
        """(cluster key, observation, whether it is this host's own) of the journal's rows ``ids``."""
        found = []
        for oid in ids:
            row = self.db.execute(
                f"SELECT {OBS_COLS}, origin_host, origin_id FROM observations WHERE id=?", (oid,)
            ).fetchone()
            if row is None:
                continue
            own = row["origin_host"] is None
            key = (me, oid) if own else (str(row["origin_host"]), int(row["origin_id"]))
            found.append((key, observation_from_row(row), own))
        return found

    def cluster_seq_of(self, decision_id: int) -> int | None:
        row = self.db.execute("SELECT cluster_seq FROM decisions WHERE id=?", (decision_id,)).fetchone()
        return int(row[0]) if row is not None and row[0] is not None else None

    def holds_seq(self, seq: int) -> bool:
        """Whether the decision at ``seq`` of the cluster's log is journaled here."""
        return self.db.execute("SELECT 1 FROM decisions WHERE cluster_seq = ?", (seq,)).fetchone() is not None

    def applied_seq(self) -> int:
        """The last entry of the cluster's decision log this journal holds (0: none)."""
        return int(self.db.execute("SELECT coalesce(max(cluster_seq), 0) FROM decisions").fetchone()[0])

    def task_at(self, seq: int) -> Task | None:
        """The task of the decision at ``seq`` in the cluster's log."""
        row = self.db.execute(
            "SELECT t.* FROM tasks t JOIN decisions d ON d.id = t.decision_id WHERE d.cluster_seq = ?", (seq,)
        ).fetchone()
        return task_from_row(row) if row is not None else None

    def unfinished_cluster_tasks(self) -> list[tuple[int, Task]]:
        """(log sequence, task) of the cluster's delegations with no outcome in this journal yet."""
        rows = self.db.execute(
            "SELECT t.*, d.cluster_seq FROM tasks t JOIN decisions d ON d.id = t.decision_id"
            " WHERE d.cluster_seq IS NOT NULL AND t.state IN ('pending', 'running') ORDER BY d.cluster_seq"
        )
        return [(int(r["cluster_seq"]), task_from_row(r)) for r in rows]

    def cluster_task_of(self, task_id: int) -> int | None:
        """On a worker: the cluster's sequence of a task it ran (None: a task of its own)."""
        row = self.db.execute(
            "SELECT json_extract(d.metadata, '$.cluster_task') AS seq FROM tasks t JOIN decisions d"
            " ON d.id = t.decision_id WHERE t.id = ?",
            (task_id,),
        ).fetchone()
        return int(row["seq"]) if row is not None and row["seq"] is not None else None

    def worker_task(self, seq: int) -> dict[str, Any] | None:
        """On a worker: its row of the cluster's task ``seq``, if it ever took it."""
        row = self.db.execute(
            "SELECT t.* FROM tasks t JOIN decisions d ON d.id = t.decision_id"
            " WHERE json_extract(d.metadata, '$.cluster_task') = ?",
            (seq,),
        ).fetchone()
        return dict(row) if row is not None else None


def _ingest(db: sqlite3.Connection, obs: Observation, key: Key) -> int | None:
    exists = db.execute("SELECT 1 FROM observations WHERE origin_host=? AND origin_id=?", key).fetchone()
    if exists is not None:
        return None
    obs_id = insert_observation(db, obs)
    db.execute("UPDATE observations SET origin_host=?, origin_id=? WHERE id=?", (*key, obs_id))
    return obs_id
