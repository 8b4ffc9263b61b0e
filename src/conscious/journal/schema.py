"""The journal's schema, one script per version, applied in order by ``Journal`` on open
(each atomically with its ``PRAGMA user_version`` bump). Append; never edit a released one."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator

MIGRATIONS: list[str] = [
    # 1: the loop
    """
    CREATE TABLE observations (
        id INTEGER PRIMARY KEY, ts TEXT NOT NULL, source TEXT NOT NULL, event_type TEXT NOT NULL,
        target TEXT NOT NULL, severity TEXT NOT NULL, details TEXT NOT NULL, count INTEGER NOT NULL,
        first_ts TEXT NOT NULL, last_ts TEXT NOT NULL, status TEXT NOT NULL DEFAULT 'pending',
        decision_id INTEGER REFERENCES decisions(id)
    );
    CREATE INDEX observations_pending ON observations(status, id);
    CREATE TABLE decisions (
        id INTEGER PRIMARY KEY, ts TEXT NOT NULL, action_type TEXT NOT NULL, reasoning TEXT NOT NULL,
        target_agent TEXT, command TEXT, priority TEXT NOT NULL, confidence REAL NOT NULL,
        metadata TEXT NOT NULL, raw_reply TEXT, latency_ms REAL, prompt_tokens INTEGER,
        cached_tokens INTEGER, verdict TEXT NOT NULL, verdict_reason TEXT, origin TEXT NOT NULL
    );
    CREATE TABLE tasks (
        id INTEGER PRIMARY KEY, decision_id INTEGER NOT NULL UNIQUE REFERENCES decisions(id),
        agent TEXT NOT NULL, command TEXT NOT NULL, state TEXT NOT NULL, pgid INTEGER,
        started TEXT, ended TEXT, exit_code INTEGER, result TEXT, cost_usd REAL,
        num_turns INTEGER, session_id TEXT
    );
    CREATE TABLE turns (
        id INTEGER PRIMARY KEY, role TEXT NOT NULL, content TEXT NOT NULL,
        tokens INTEGER NOT NULL, archived INTEGER NOT NULL DEFAULT 0
    );
    CREATE TABLE notes (id INTEGER PRIMARY KEY, ts TEXT NOT NULL, content TEXT NOT NULL, tags TEXT NOT NULL DEFAULT '');
    CREATE VIRTUAL TABLE notes_fts USING fts5(content, tags, content='notes', content_rowid='id');
    CREATE TRIGGER notes_ai AFTER INSERT ON notes BEGIN
        INSERT INTO notes_fts(rowid, content, tags) VALUES (new.id, new.content, new.tags);
    END;
    CREATE TABLE identity (key TEXT PRIMARY KEY, value TEXT NOT NULL);
    """,
    # 2: context that lasts — summaries of archived turns, and recall over everything seen
    """
    ALTER TABLE turns ADD COLUMN ts TEXT;
    CREATE TABLE summaries (
        id INTEGER PRIMARY KEY, ts TEXT NOT NULL, content TEXT NOT NULL, up_to_turn INTEGER,
        evicted INTEGER NOT NULL, error TEXT
    );
    CREATE VIRTUAL TABLE turns_fts USING fts5(content, content='turns', content_rowid='id');
    INSERT INTO turns_fts(rowid, content) SELECT id, content FROM turns WHERE archived=1;
    CREATE INDEX turns_live ON turns(archived, id);
    CREATE VIRTUAL TABLE observations_fts USING fts5(
        source, event_type, target, details, content='observations', content_rowid='id'
    );
    CREATE TRIGGER observations_ai AFTER INSERT ON observations BEGIN
        INSERT INTO observations_fts(rowid, source, event_type, target, details)
        VALUES (new.id, new.source, new.event_type, new.target, new.details);
    END;
    INSERT INTO observations_fts(observations_fts) VALUES ('rebuild');
    """,
    # 3: safe hands — items quarantined after the retry cap, until the user releases them
    """
    CREATE TABLE quarantine (
        id INTEGER PRIMARY KEY, ts TEXT NOT NULL, agent TEXT NOT NULL, command TEXT NOT NULL,
        reason TEXT NOT NULL, released TEXT
    );
    CREATE INDEX quarantine_active ON quarantine(released, agent, command);
    """,
    # 4: approvals — delegations waiting for the user's answer (the task's state says where it is);
    # and what the deterministic shortcuts look up
    """
    CREATE TABLE approvals (
        id INTEGER PRIMARY KEY, task_id INTEGER NOT NULL UNIQUE REFERENCES tasks(id),
        requested TEXT NOT NULL, expires TEXT NOT NULL, answered TEXT, reason TEXT
    );
    CREATE INDEX tasks_state ON tasks(state, id);
    -- the rule `repeat` looks for an identical observation decided a moment ago
    CREATE INDEX observations_alike ON observations(target, event_type, source, last_ts);
    """,
    # 5: agents in their own worktrees, and the gate at each of their tool calls
    """
    CREATE TABLE worktrees (
        task_id INTEGER PRIMARY KEY REFERENCES tasks(id), repo TEXT NOT NULL, path TEXT NOT NULL,
        branch TEXT NOT NULL, base TEXT NOT NULL, state TEXT NOT NULL, created TEXT NOT NULL,
        updated TEXT NOT NULL, note TEXT
    );
    CREATE INDEX worktrees_state ON worktrees(state, task_id);
    CREATE TABLE tool_calls (
        id INTEGER PRIMARY KEY, ts TEXT NOT NULL, task_id INTEGER NOT NULL, tool TEXT NOT NULL,
        input TEXT NOT NULL, verdict TEXT NOT NULL, reason TEXT NOT NULL
    );
    CREATE INDEX tool_calls_task ON tool_calls(task_id, id);
    """,
    # 6: several machines — where an observation came from (host and its id there: a re-sent
    # one is never a second), which were sent on, and each decision's place in the cluster's log
    """
    ALTER TABLE observations ADD COLUMN origin_host TEXT;
    ALTER TABLE observations ADD COLUMN origin_id INTEGER;
    CREATE UNIQUE INDEX observations_origin ON observations(origin_host, origin_id) WHERE origin_host IS NOT NULL;
    ALTER TABLE decisions ADD COLUMN cluster_seq INTEGER;
    CREATE UNIQUE INDEX decisions_cluster ON decisions(cluster_seq) WHERE cluster_seq IS NOT NULL;
    """,
    # 7: a decision's observations found by index, not by a scan of the table per decision
    # listed (`log`, the page's decisions: 23 s on a month's journal without it)
    """
    CREATE INDEX observations_decision ON observations(decision_id) WHERE decision_id IS NOT NULL;
    """,
    # 8: the big tables' sizes kept as rows are added and removed: `count(*)` reads the whole
    # table (130 ms on a month's journal, at every status)
    """
    CREATE TABLE tallies (name TEXT PRIMARY KEY, n INTEGER NOT NULL);
    INSERT INTO tallies (name, n) SELECT 'observations', count(*) FROM observations;
    INSERT INTO tallies (name, n) SELECT 'decisions', count(*) FROM decisions;
    INSERT INTO tallies (name, n) SELECT 'tasks', count(*) FROM tasks;
    CREATE TRIGGER tally_observations_in AFTER INSERT ON observations BEGIN
        UPDATE tallies SET n = n + 1 WHERE name = 'observations';
    END;
    CREATE TRIGGER tally_observations_out AFTER DELETE ON observations BEGIN
        UPDATE tallies SET n = n - 1 WHERE name = 'observations';
    END;
    CREATE TRIGGER tally_decisions_in AFTER INSERT ON decisions BEGIN
        UPDATE tallies SET n = n + 1 WHERE name = 'decisions';
    END;
    CREATE TRIGGER tally_decisions_out AFTER DELETE ON decisions BEGIN
        UPDATE tallies SET n = n - 1 WHERE name = 'decisions';
    END;
    CREATE TRIGGER tally_tasks_in AFTER INSERT ON tasks BEGIN
        UPDATE tallies SET n = n + 1 WHERE name = 'tasks';
    END;
    CREATE TRIGGER tally_tasks_out AFTER DELETE ON tasks BEGIN
        UPDATE tallies SET n = n - 1 WHERE name = 'tasks';
    END;
    -- what retention removes leaves the full-text indexes with it
    CREATE TRIGGER observations_ad AFTER DELETE ON observations BEGIN
        INSERT INTO observations_fts(observations_fts, rowid, source, event_type, target, details)
        VALUES ('delete', old.id, old.source, old.event_type, old.target, old.details);
    END;
    CREATE TRIGGER turns_ad AFTER DELETE ON turns WHEN old.archived = 1 BEGIN
        INSERT INTO turns_fts(turns_fts, rowid, content) VALUES ('delete', old.id, old.content);
    END;
    """,
    # 9: the last day's delegations (the budgets, at every decision and every status) found by
    # time, not by joining every task to its decision (40 ms on a month's journal)
    """
    CREATE INDEX decisions_ts ON decisions(ts);
    """,
]


def statements(script: str) -> Iterator[str]:
    """The complete SQL statements of ``script`` one by one (a trigger's body is kept whole),
    so that a migration runs inside the caller's transaction: ``executescript`` would commit it."""
    pending = ""
    for line in script.splitlines(keepends=True):
        pending += line
        if sqlite3.complete_statement(pending):
            yield pending.strip()
            pending = ""
    if pending.strip():
        raise ValueError(f"incomplete SQL statement in a migration: {pending.strip()[:80]}")
