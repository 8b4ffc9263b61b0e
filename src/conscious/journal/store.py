"""The journal file itself: its connection, transactions, migrations, background
checkpoints, and the identity table (the daemon's lasting facts and published state).

The query modules beside this one (observations, decisions, tasks, memory, quarantine,
approvals, pages) each add one concern's statements to ``Store``; ``Journal`` is all of them.
"""

from __future__ import annotations

import contextlib
import json
import logging
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from conscious.errors import JournalError
from conscious.journal.rows import set_identity
from conscious.journal.schema import MIGRATIONS, statements

log = logging.getLogger("conscious")

BUSY_TIMEOUT = 10.0
"""Seconds a write waits for another process's lock (SQLite's busy handler) before it fails;
the daemon then retries with back-off (``loop.outage.Outage.journal_failing``)."""


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


class Store:
    """A journal file. Cheap to open; one per process (and one per thread)."""

    def __init__(self, path: Path | str, *, busy_timeout: float = BUSY_TIMEOUT) -> None:
        self.path = Path(path)
        self.busy_timeout = busy_timeout
        self._checkpointer: _Checkpointer | None = None
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self.db = sqlite3.connect(self.path, timeout=busy_timeout, isolation_level=None)
            self.db.row_factory = sqlite3.Row
            # Only a new file takes it (before its first table): retention's freed pages then go
            # back to the file system. An older journal reuses them instead.
            self.db.execute("PRAGMA auto_vacuum=INCREMENTAL")
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

    @property
    def writing(self) -> bool:
        """This connection is in a transaction (holds the write lock)."""
        return self.db.in_transaction

    def probe_write(self, wait: float) -> str | None:
        """Whether the write lock can be taken within ``wait`` seconds (taken and released at
        once: nothing is written). None when it can, else why not."""
        self.db.execute(f"PRAGMA busy_timeout={int(wait * 1000)}")
        try:
            self.db.execute("BEGIN IMMEDIATE")
            self.db.execute("ROLLBACK")
        except sqlite3.Error as exc:
            return str(exc)
        finally:
            self.db.execute(f"PRAGMA busy_timeout={int(self.busy_timeout * 1000)}")
        return None

    # -- identity and the daemon's published state

    def set_identity(self, **values: Any) -> None:
        with self.transaction() as db:
            set_identity(db, values)

    def identity(self) -> dict[str, Any]:
        return {r["key"]: json.loads(r["value"]) for r in self.db.execute("SELECT key, value FROM identity")}

    def totals(self) -> dict[str, int]:
        """Observations, decisions and delegations ever journaled: the newest id (retention lets
        old rows go, never the newest, so ids are not reused) — constant time, unlike ``count(*)``."""
        row = self.db.execute(
            "SELECT (SELECT coalesce(max(id), 0) FROM observations) AS observations,"
            " (SELECT coalesce(max(id), 0) FROM decisions) AS decisions,"
            " (SELECT coalesce(max(id), 0) FROM tasks) AS delegations"
        ).fetchone()
        return dict(row)

    def counts(self) -> dict[str, int]:
        row = self.db.execute(
            "SELECT (SELECT n FROM tallies WHERE name='observations') AS observations,"
            " (SELECT count(*) FROM observations WHERE status='pending') AS pending,"
            " (SELECT n FROM tallies WHERE name='decisions') AS decisions,"
            " (SELECT n FROM tallies WHERE name='tasks') AS delegations,"
            " (SELECT count(*) FROM tasks WHERE state IN ('pending','running')) AS running,"
            " (SELECT count(*) FROM notes) AS notes,"
            " (SELECT count(*) FROM summaries) AS summaries"
        ).fetchone()
        return dict(row)
