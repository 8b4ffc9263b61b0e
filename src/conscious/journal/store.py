"""The SQLite journal: the loop's buffer, memory and audit log, and the bus between processes.

Every observation is written here before it is considered. The CLI (``tell``, ``log``,
``status``) talks to a running daemon only through this file; WAL lets readers and one writer
share it across processes. The schema migrates itself forward on open.
"""

from __future__ import annotations

import contextlib
import json
import logging
import sqlite3
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol

from conscious.errors import JournalError
from conscious.journal.schema import MIGRATIONS, statements
from conscious.model import Decision, Observation, PastTask, Task, utcnow

log = logging.getLogger("conscious")

STOPWORDS = frozenset(
    [
        "a",
        "an",
        "and",
        "are",
        "as",
        "at",
        "be",
        "but",
        "by",
        "for",
        "from",
        "has",
        "have",
        "in",
        "is",
        "it",
        "its",
        "of",
        "on",
        "or",
        "that",
        "the",
        "this",
        "to",
        "was",
        "were",
        "will",
        "with",
        "not",
        "no",
        "nothing",
        "observe",
        "observing",
        "decision",
        "should",
        "now",
        "any",
        "all",
    ]
)
RECALL_TERMS = 12


def search_terms(text: str) -> list[str]:
    """Words worth matching, as quoted FTS5 strings: user text is never FTS5 syntax."""
    words = "".join(c.lower() if c.isalnum() else " " for c in text).split()
    seen = dict.fromkeys(w for w in words if len(w) > 2 and w not in STOPWORDS)
    return [f'"{w}"' for w in list(seen)[:RECALL_TERMS]]


_OBS_COLS = "id, ts, source, event_type, target, severity, details, count, last_ts, status, decision_id"


def _ts(value: datetime | None = None) -> str:
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
    ts = _ts(obs.timestamp)
    cur = db.execute(
        "INSERT INTO observations (ts, source, event_type, target, severity, details, count,"
        " first_ts, last_ts, status) VALUES (?,?,?,?,?,?,?,?,?, 'pending')",
        (
            ts,
            obs.source,
            obs.event_type,
            obs.target,
            obs.severity,
            json.dumps(obs.details, default=str),
            obs.count,
            ts,
            _ts(obs.last_ts or obs.timestamp),
        ),
    )
    assert cur.lastrowid is not None
    obs.id = cur.lastrowid
    return cur.lastrowid


def _insert_turn(db: sqlite3.Connection, role: str, content: str, tokens: int) -> int:
    cur = db.execute("INSERT INTO turns (ts, role, content, tokens) VALUES (?,?,?,?)", (_ts(), role, content, tokens))
    assert cur.lastrowid is not None
    return cur.lastrowid


def _archive(db: sqlite3.Connection, up_to_id: int, *, only: bool = False) -> None:
    """Archive the live turns up to ``up_to_id`` (``only``: that one turn)."""
    which = "id=?" if only else "id<=?"
    # Indexed for recall only once archived: the live window costs no index writes.
    db.execute(
        f"INSERT INTO turns_fts(rowid, content) SELECT id, content FROM turns WHERE {which} AND archived=0",
        (up_to_id,),
    )
    db.execute(f"UPDATE turns SET archived=1 WHERE {which} AND archived=0", (up_to_id,))


def _set_identity(db: sqlite3.Connection, values: dict[str, Any]) -> None:
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
    values = [_ts(v) if isinstance(v, datetime) else v for v in fields.values()]
    db.execute(f"UPDATE tasks SET {', '.join(f'{k}=?' for k in fields)} WHERE id=?", (*values, task_id))


BUSY_TIMEOUT = 10.0
"""Seconds a write waits for another process's lock (SQLite's busy handler) before it fails;
the daemon then retries with back-off (``Orchestrator._journal_failing``)."""


class _Checkpointer(threading.Thread):
    def __init__(self, path: Path, interval: float) -> None:
        super().__init__(name="journal-checkpoint", daemon=True)
        self.interval = interval
        self._stop_event = threading.Event()
        try:
            # Used by the thread only, once started.
            self.db = sqlite3.connect(path, timeout=10.0, isolation_level=None, check_same_thread=False)
        except sqlite3.Error as exc:
            raise JournalError(f"cannot open journal {path}: {exc}") from None

    def run(self) -> None:
        try:
            while not self._stop_event.wait(self.interval):
                try:
                    # TRUNCATE, not PASSIVE: a passive checkpoint never catches up with a busy
                    # writer, and the WAL (and its mapped index) would grow without end.
                    self.db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
                except Exception:  # busy now, or anything else: next time — never die silently
                    log.warning("journal checkpoint failed; retrying", exc_info=True)
        finally:
            self.db.close()

    def stop(self) -> None:
        self._stop_event.set()
        self.join(timeout=5)


class Journal:
    """A journal file. Cheap to open; one per process (and one per thread)."""

    def __init__(self, path: Path | str, *, busy_timeout: float = BUSY_TIMEOUT) -> None:
        self.path = Path(path)
        self.busy_timeout = busy_timeout
        self._checkpointer: _Checkpointer | None = None
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self.db = sqlite3.connect(self.path, timeout=busy_timeout, isolation_level=None)
            self.db.row_factory = sqlite3.Row
            self.db.execute("PRAGMA journal_mode=WAL")
            self.db.execute("PRAGMA synchronous=NORMAL")
            self.db.execute("PRAGMA foreign_keys=ON")
            self._migrate()
        except sqlite3.Error as exc:
            raise JournalError(f"cannot open journal {self.path}: {exc}") from None
        except OSError as exc:
            raise JournalError(f"cannot create journal folder {self.path.parent}: {exc.strerror}") from None

    def close(self) -> None:
        if self._checkpointer is not None:
            self._checkpointer.stop()
            self._checkpointer = None
        self.db.close()

    def checkpoint_in_background(self, interval: float = 2.0) -> None:
        """Move WAL checkpoints (the only writes that wait for the disk) off the loop: this
        connection stops checkpointing on commit; a thread with its own connection does it
        every ``interval`` seconds (writers wait for it only while it runs)."""
        if self._checkpointer is None:
            self._checkpointer = _Checkpointer(self.path, interval)  # its connection first: it may fail
            self.db.execute("PRAGMA wal_autocheckpoint=0")
            self._checkpointer.start()

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """One explicit write transaction (BEGIN IMMEDIATE takes the write lock up front)."""
        try:
            self.db.execute("BEGIN IMMEDIATE")
        except sqlite3.Error as exc:
            raise JournalError(f"cannot write the journal {self.path}: {exc}") from None
        try:
            yield self.db
            self.db.execute("COMMIT")
        except BaseException as exc:
            with contextlib.suppress(sqlite3.Error):
                self.db.execute("ROLLBACK")
            if isinstance(exc, sqlite3.Error):
                raise JournalError(f"cannot write the journal {self.path}: {exc}") from None
            raise

    def _migrate(self) -> None:
        # Another process may open the same new journal at the same moment (a daemon starting
        # while `conscious tell` writes): the version is read again under the write lock, and
        # each script is applied with its version bump in that one transaction.
        while self.schema_version < len(MIGRATIONS):
            with self.transaction() as db:
                version = int(db.execute("PRAGMA user_version").fetchone()[0])
                if version >= len(MIGRATIONS):
                    break
                for statement in statements(MIGRATIONS[version]):
                    db.execute(statement)
                db.execute(f"PRAGMA user_version={version + 1}")

    @property
    def schema_version(self) -> int:
        return int(self.db.execute("PRAGMA user_version").fetchone()[0])

    def data_version(self) -> int:
        """Changes when another connection commits: a cheap way to notice new rows."""
        return int(self.db.execute("PRAGMA data_version").fetchone()[0])

    # -- observations

    def append(self, obs: Observation) -> int:
        with self.transaction() as db:
            return insert_observation(db, obs)

    def pending(self, limit: int = 10_000) -> list[Observation]:
        rows = self.db.execute(
            f"SELECT {_OBS_COLS} FROM observations WHERE status='pending' ORDER BY id LIMIT ?", (limit,)
        )
        return [observation_from_row(r) for r in rows]

    def pending_count(self) -> int:
        return int(self.db.execute("SELECT count(*) FROM observations WHERE status='pending'").fetchone()[0])

    def decided_alike(self, obs: Observation, within_s: float) -> bool:
        """Whether an observation identical to ``obs`` (source, event, target, details) was
        decided within the last ``within_s`` seconds."""
        now = utcnow()
        since = _ts(datetime.fromtimestamp(now.timestamp() - within_s, tz=now.tzinfo))
        row = self.db.execute(
            "SELECT 1 FROM observations WHERE target=? AND event_type=? AND source=? AND details=?"
            " AND status='decided' AND last_ts >= ? LIMIT 1",
            (obs.target, obs.event_type, obs.source, json.dumps(obs.details, default=str), since),
        ).fetchone()
        return row is not None

    def observations(self, limit: int = 50, decision_id: int | None = None) -> list[Observation]:
        if decision_id is not None:
            rows = self.db.execute(
                f"SELECT {_OBS_COLS} FROM observations WHERE decision_id=? ORDER BY id", (decision_id,)
            )
        else:
            rows = self.db.execute(
                f"SELECT {_OBS_COLS} FROM (SELECT * FROM observations ORDER BY id DESC LIMIT ?) ORDER BY id",
                (limit,),
            )
        return [observation_from_row(r) for r in rows]

    # -- decisions

    def record_decision(
        self,
        decision: Decision,
        covers: Sequence[int],
        *,
        verdict: str,
        verdict_reason: str | None = None,
        origin: str = "llm",
        raw_reply: str | None = None,
        latency_ms: float | None = None,
        prompt_tokens: int | None = None,
        cached_tokens: int | None = None,
        task: Task | None = None,
        turns: Sequence[JournaledTurn] = (),
        approval_expires: datetime | None = None,
    ) -> int:
        """Commit a decision, the observations it covers, its task (if any; with
        ``approval_expires``, a request for the user's approval, whose id is set on the task)
        and the exchange that produced it (new context-window turns, whose ``id`` is set) together."""
        turn_ids: list[int] = []
        with self.transaction() as db:
            turn_ids = [_insert_turn(db, t.role, t.content, t.tokens) for t in turns]
            cur = db.execute(
                "INSERT INTO decisions (ts, action_type, reasoning, target_agent, command, priority,"
                " confidence, metadata, raw_reply, latency_ms, prompt_tokens, cached_tokens, verdict,"
                " verdict_reason, origin) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                (
                    _ts(),
                    decision.action_type,
                    decision.reasoning,
                    decision.target_agent,
                    decision.command,
                    decision.priority,
                    decision.confidence,
                    json.dumps(decision.metadata, default=str),
                    raw_reply,
                    latency_ms,
                    prompt_tokens,
                    cached_tokens,
                    verdict,
                    verdict_reason,
                    origin,
                ),
            )
            decision_id = cur.lastrowid
            assert decision_id is not None
            db.executemany(
                "UPDATE observations SET status='decided', decision_id=? WHERE id=? AND status='pending'",
                [(decision_id, oid) for oid in covers],
            )
            if task is not None:
                task.decision_id = decision_id
                tcur = db.execute(
                    "INSERT INTO tasks (decision_id, agent, command, state) VALUES (?,?,?,?)",
                    (decision_id, task.agent, task.command, task.state),
                )
                task.id = tcur.lastrowid
                if approval_expires is not None:
                    acur = db.execute(
                        "INSERT INTO approvals (task_id, requested, expires) VALUES (?,?,?)",
                        (task.id, _ts(), _ts(approval_expires)),
                    )
                    task.approval_id = acur.lastrowid
        for turn, turn_id in zip(turns, turn_ids, strict=True):
            turn.id = turn_id  # only once committed: a rolled-back id is reused by SQLite
        return decision_id

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

    # -- tasks

    def update_task(self, task_id: int, **fields: Any) -> None:
        if fields:
            with self.transaction() as db:
                set_task(db, task_id, fields)

    def finish_task(self, task_id: int, outcome: Observation, **fields: Any) -> int:
        """A task's final state and the observation that reports it, committed together."""
        with self.transaction() as db:
            set_task(db, task_id, fields)
            return insert_observation(db, outcome)

    def recent_tasks(self, within_s: float) -> list[PastTask]:
        """Delegations decided in the last ``within_s`` seconds, for the gate's budgets."""
        now = utcnow()
        since = _ts(datetime.fromtimestamp(now.timestamp() - within_s, tz=now.tzinfo))
        rows = self.db.execute(
            "SELECT t.id, t.agent, t.command, t.state, t.cost_usd, d.ts FROM tasks t JOIN decisions d"
            " ON d.id = t.decision_id WHERE d.ts >= ? ORDER BY t.id",
            (since,),
        )
        return [
            PastTask(
                r["agent"],
                r["command"],
                r["state"],
                (now - datetime.fromisoformat(r["ts"])).total_seconds(),
                r["cost_usd"],
                r["id"],
            )
            for r in rows
        ]

    def unfinished_tasks(self) -> list[Task]:
        rows = self.db.execute("SELECT * FROM tasks WHERE state IN ('pending', 'running') ORDER BY id")
        return [
            Task(
                id=r["id"],
                decision_id=r["decision_id"],
                agent=r["agent"],
                command=r["command"],
                state=r["state"],
                pgid=r["pgid"],
                started=datetime.fromisoformat(r["started"]) if r["started"] else None,
            )
            for r in rows
        ]

    def tasks(self, limit: int = 50, state: str | None = None) -> list[dict[str, Any]]:
        where = "WHERE state=?" if state else ""
        args: tuple[Any, ...] = (state, limit) if state else (limit,)
        rows = self.db.execute(
            f"SELECT * FROM (SELECT * FROM tasks {where} ORDER BY id DESC LIMIT ?) ORDER BY id", args
        )
        return [dict(r) for r in rows]

    # -- turns (the context window's durable copy)

    def append_turn(self, role: str, content: str, tokens: int) -> int:
        with self.transaction() as db:
            return _insert_turn(db, role, content, tokens)

    def archive_turn_ids(self, ids: Sequence[int]) -> None:
        with self.transaction() as db:
            for turn_id in ids:
                _archive(db, turn_id, only=True)

    def record_compaction(
        self,
        up_to_id: int | None,
        summary: str,
        *,
        memory: str,
        evicted: int,
        error: str | None,
        observation: Observation | None,
    ) -> None:
        """Turns archived, the summary and memory block that now stand for them, and the
        observation that reports it: one commit."""
        with self.transaction() as db:
            if up_to_id is not None:
                _archive(db, up_to_id)
                db.execute(
                    "INSERT INTO summaries (ts, content, up_to_turn, evicted, error) VALUES (?,?,?,?,?)",
                    (_ts(), summary, up_to_id, evicted, error),
                )
            _set_identity(db, {"memory": memory})
            if observation is not None:
                insert_observation(db, observation)

    def live_turns(self) -> list[dict[str, Any]]:
        """The turns still in the window when the last run ended, oldest first."""
        rows = self.db.execute("SELECT id, role, content, tokens FROM turns WHERE archived=0 ORDER BY id")
        return [dict(r) for r in rows]

    def latest_summary(self) -> str:
        row = self.db.execute("SELECT content FROM summaries ORDER BY id DESC LIMIT 1").fetchone()
        return str(row["content"]) if row else ""

    def recall(self, query: str, limit: int = 5, *, before: int | None = None) -> list[dict[str, Any]]:
        """Full-text search over memory notes, decided observations and archived turns.

        Each kind is ranked on its own (bm25 scores of different indexes do not compare) and
        the results are interleaved, notes first, so one kind cannot crowd out the others; an
        observation that happened many times counts once, as its newest occurrence.
        ``before`` limits observations to ids below it (what was seen before now).
        """
        terms = search_terms(query)
        if not terms:
            return []
        match = " OR ".join(terms)
        notes = self.db.execute(
            "SELECT n.id, n.ts, n.content AS text FROM notes_fts JOIN notes n ON n.id = notes_fts.rowid"
            " WHERE notes_fts MATCH ? ORDER BY bm25(notes_fts) LIMIT ?",
            (match, limit),
        ).fetchall()
        rows = self.db.execute(
            "SELECT o.id, o.ts, o.source, o.event_type, o.target FROM observations_fts"
            " JOIN observations o ON o.id = observations_fts.rowid"
            " WHERE observations_fts MATCH ? AND o.status='decided' AND o.id < ? AND o.source != 'self'"
            " ORDER BY bm25(observations_fts) LIMIT ?",
            (match, before if before is not None else 2**62, limit * 20),
        ).fetchall()
        grouped: dict[tuple[str, str, str], dict[str, Any]] = {}
        for r in rows:  # best-ranked first; a repeated event is one hit, shown as its newest
            g = grouped.setdefault((r["source"], r["event_type"], r["target"]), {"id": 0, "times": 0, "ts": ""})
            g["times"] += 1
            if r["id"] > g["id"]:
                g.update(id=r["id"], ts=r["ts"], head=f"{r['source']}/{r['event_type']} {r['target']}")
        observations = list(grouped.values())[:limit]
        turns = self.db.execute(
            "SELECT t.id, t.ts, snippet(turns_fts, 0, '', '', '…', 24) AS text FROM turns_fts"
            " JOIN turns t ON t.id = turns_fts.rowid WHERE turns_fts MATCH ? AND t.archived=1"
            " ORDER BY bm25(turns_fts) LIMIT ?",
            (match, limit),
        ).fetchall()
        details = {
            r["id"]: r["details"]
            for r in self.db.execute(
                f"SELECT id, details FROM observations WHERE id IN ({','.join('?' * len(observations))})",
                [r["id"] for r in observations],
            )
        }
        ranked: list[list[dict[str, Any]]] = [
            [{"kind": "note", "id": r["id"], "ts": r["ts"], "text": r["text"]} for r in notes],
            [
                {
                    "kind": "observation",
                    "id": r["id"],
                    "ts": r["ts"],
                    "text": r["head"] + (f" (x{r['times']})" if r["times"] > 1 else "") + " " + details[r["id"]],
                }
                for r in observations
            ],
            [{"kind": "turn", "id": r["id"], "ts": r["ts"], "text": r["text"]} for r in turns],
        ]
        hits: list[dict[str, Any]] = []
        for rank in range(limit):
            hits += [kind[rank] for kind in ranked if rank < len(kind)]
        for h in hits:
            h["text"] = " ".join(str(h["text"]).split())[:240]
        return hits[:limit]

    # -- notes (the memory agent)

    def add_note(self, content: str, tags: str = "") -> int:
        with self.transaction() as db:
            cur = db.execute("INSERT INTO notes (ts, content, tags) VALUES (?,?,?)", (_ts(), content, tags))
        assert cur.lastrowid is not None
        return cur.lastrowid

    def search_notes(self, query: str, limit: int = 5) -> list[dict[str, Any]]:
        terms = search_terms(query)
        if not terms:
            return []
        match = " OR ".join(terms)
        rows = self.db.execute(
            "SELECT notes.id, notes.ts, notes.content, notes.tags FROM notes_fts"
            " JOIN notes ON notes.id = notes_fts.rowid WHERE notes_fts MATCH ? ORDER BY rank LIMIT ?",
            (match, limit),
        )
        return [dict(r) for r in rows]

    # -- quarantine (items that kept failing, until the user releases them)

    def quarantine(self, agent: str, command: str, reason: str) -> int:
        """Quarantine an item (once: an active entry is returned as it is)."""
        with self.transaction() as db:
            row = db.execute(
                "SELECT id FROM quarantine WHERE released IS NULL AND agent=? AND command=?", (agent, command)
            ).fetchone()
            if row is not None:
                return int(row["id"])
            cur = db.execute(
                "INSERT INTO quarantine (ts, agent, command, reason) VALUES (?,?,?,?)", (_ts(), agent, command, reason)
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
            db.execute("UPDATE quarantine SET released=? WHERE id=?", (_ts(), quarantine_id))
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

    # -- identity and daemon state

    def set_identity(self, **values: Any) -> None:
        with self.transaction() as db:
            _set_identity(db, values)

    def identity(self) -> dict[str, Any]:
        return {r["key"]: json.loads(r["value"]) for r in self.db.execute("SELECT key, value FROM identity")}

    def totals(self) -> dict[str, int]:
        """Observations, decisions and delegations ever journaled. Rows are never deleted, so
        the newest id is the count — constant time, unlike ``count(*)``."""
        row = self.db.execute(
            "SELECT (SELECT coalesce(max(id), 0) FROM observations) AS observations,"
            " (SELECT coalesce(max(id), 0) FROM decisions) AS decisions,"
            " (SELECT coalesce(max(id), 0) FROM tasks) AS delegations"
        ).fetchone()
        return dict(row)

    def counts(self) -> dict[str, int]:
        row = self.db.execute(
            "SELECT (SELECT count(*) FROM observations) AS observations,"
            " (SELECT count(*) FROM observations WHERE status='pending') AS pending,"
            " (SELECT count(*) FROM decisions) AS decisions,"
            " (SELECT count(*) FROM tasks) AS delegations,"
            " (SELECT count(*) FROM tasks WHERE state IN ('pending','running')) AS running,"
            " (SELECT count(*) FROM notes) AS notes,"
            " (SELECT count(*) FROM summaries) AS summaries"
        ).fetchone()
        return dict(row)
