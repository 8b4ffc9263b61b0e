"""Rows to the model's types and back: the statements several concerns share within one transaction."""

from __future__ import annotations

import json
import sqlite3
from datetime import datetime
from typing import Any, Protocol

from conscious.model import Observation, Task, utcnow

OBS_COLS = "id, ts, source, event_type, target, severity, details, count, last_ts, status, decision_id"


def iso(value: datetime | None = None) -> str:
    return (value or utcnow()).isoformat()


def observation_from_row(row: sqlite3.Row | dict[str, Any]) -> Observation:
    return Observation(
        id=row["id"],
        timestamp=datetime.fromisoformat(row["ts"]),
        source=row["source"],
        event_type=row["event_type"],
        target=row["target"],
        severity=row["severity"],
        details=json.loads(row["details"]),
        count=row["count"],
        last_ts=datetime.fromisoformat(row["last_ts"]),
        status=row["status"],
        decision_id=row["decision_id"],
    )


def insert_observation(db: sqlite3.Connection, obs: Observation) -> int:
    ts = iso(obs.timestamp)
    cur = db.execute(
        "INSERT INTO observations (ts, source, event_type, target, severity, details, count,"
        " first_ts, last_ts, status) VALUES (?,?,?,?,?,?,?,?,?,?)",
        (
            ts,
            obs.source,
            obs.event_type,
            obs.target,
            obs.severity,
            json.dumps(obs.details, default=str),
            obs.count,
            ts,
            iso(obs.last_ts or obs.timestamp),
            # Written pending (to be decided), or already the loop's own doing; never anything else.
            "attributed" if obs.status == "attributed" else "pending",
        ),
    )
    assert cur.lastrowid is not None
    obs.id = cur.lastrowid
    return cur.lastrowid


def insert_turn(db: sqlite3.Connection, role: str, content: str, tokens: int) -> int:
    cur = db.execute("INSERT INTO turns (ts, role, content, tokens) VALUES (?,?,?,?)", (iso(), role, content, tokens))
    assert cur.lastrowid is not None
    return cur.lastrowid


def archive_turns(db: sqlite3.Connection, up_to_id: int, *, only: bool = False) -> None:
    """Archive the live turns up to ``up_to_id`` (``only``: that one turn)."""
    which = "id=?" if only else "id<=?"
    # Indexed for recall only once archived: the live window costs no index writes.
    db.execute(
        f"INSERT INTO turns_fts(rowid, content) SELECT id, content FROM turns WHERE {which} AND archived=0",
        (up_to_id,),
    )
    db.execute(f"UPDATE turns SET archived=1 WHERE {which} AND archived=0", (up_to_id,))


def set_identity(db: sqlite3.Connection, values: dict[str, Any]) -> None:
    db.executemany(
        "INSERT INTO identity (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value=excluded.value",
        [(k, json.dumps(v, default=str)) for k, v in values.items()],
    )


class JournaledTurn(Protocol):
    """A context-window turn as the journal keeps it (``think.context.Turn``)."""

    role: str
    content: str
    tokens: int
    id: int | None


def set_task(db: sqlite3.Connection, task_id: int, fields: dict[str, Any]) -> None:
    values = [iso(v) if isinstance(v, datetime) else v for v in fields.values()]
    db.execute(f"UPDATE tasks SET {', '.join(f'{k}=?' for k in fields)} WHERE id=?", (*values, task_id))


def task_from_row(row: sqlite3.Row) -> Task:
    return Task(
        id=row["id"],
        decision_id=row["decision_id"],
        agent=row["agent"],
        command=row["command"],
        state=row["state"],
        pgid=row["pgid"],
        started=datetime.fromisoformat(row["started"]) if row["started"] else None,
        session_id=row["session_id"],
    )
