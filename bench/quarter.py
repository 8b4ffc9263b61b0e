"""A simulated quarter: the control plane's reads on a fresh journal and on an aged one.

    python bench/quarter.py [--observations 2000000] [--repeat 5] [--keep]

1. A FRESH journal, made through the Journal API as the loop writes it: about 120 rounds of
   file changes, JUnit test failures (the same `test_foo` failure again and again), user
   requests and agents' outcomes, each round decided — a delegation (with its task, run and
   finished) every sixth, routine decisions (by rule) and the model's own observe decisions
   between — with their turns, archived as compaction would.
2. An AGED journal: ninety days of history grown from those rows in SQL (``INSERT … SELECT``,
   one transaction, FTS kept by the schema's own triggers), about one decision per 12
   observations and a task per 6 decisions, ids increasing with time, then the fresh rows on
   top (ids shifted), so that both journals show the same newest page.
3. Both measured in one run, alternately, ``--repeat`` times (compare ratios: the machine is
   noisy): the CLI with no daemon (``log -n 50``, ``log --observations --json | head -3``: time
   to the first lines and the child's peak RSS), recall, then a real daemon on each home
   (``conscious run``, the scripted brain): its start, the page's API routes, ``log -n 50``
   through the API, and ``POST /api/inbox`` sent while a slow read is in flight (the loop's
   thread answers it: its latency is how long a read holds the loop).

Data lives in a throwaway folder under /var/tmp, deleted at the end (``--keep`` keeps it).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import signal
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import psutil

from conscious.api.token import read_token
from conscious.control.status import page
from conscious.journal import Journal
from conscious.model import Decision, DecisionRecord, Observation, Task, request, utcnow

RECALL_QUERY = "tests failed test_foo AssertionError"
JUNIT = "/home/dev/project/build/test-results/junit.xml"
FOO_FAILURE = {
    "tests": 412,
    "failures": 1,
    "errors": 0,
    "skipped": 3,
    "passed": 408,
    "time_s": 41.873,
    "first_failures": [{"test": "tests.test_core.test_foo", "message": "AssertionError: assert 41 == 42"}],
}
FILES = ["src/app/core.py", "src/app/api.py", "src/app/db.py", "README.md", "tests/test_core.py", "docs/guide.md"]
ASKS = [
    "add a unit test for the login flow",
    "why is the nightly build slow?",
    "refactor db.py to use a connection pool",
    "fix the failing test_foo, it has failed since Monday",
    "remember that staging deploys happen on Fridays",
]
ROUTINE_EVERY = (1, 2, 3)
"""Of each six decisions: the first delegates, these three are routine (by rule), the others the model's."""


@dataclass
class Turn:
    role: str
    content: str
    tokens: int
    id: int | None = None


# -- the fresh journal, through the API


def make_fresh(path: Path, rounds: int = 120, seed: int = 27) -> None:
    rng = random.Random(seed)
    j = Journal(path)
    j.set_identity(first_start=utcnow().isoformat(), sessions=1)
    outcome: Observation | None = None
    for r in range(rounds):
        kind = "delegate" if r % 6 == 0 else "rule" if r % 6 in ROUTINE_EVERY else "llm"
        batch: list[Observation] = [outcome] if outcome is not None else []
        outcome = None
        for _ in range(rng.randint(3, 6)):
            what = rng.choices(["file", "foo", "failed", "passed", "ask", "heartbeat"], [50, 15, 5, 5, 10, 15])[0]
            if kind == "rule" and what in ("foo", "failed", "ask"):
                what = "file"
            if what == "file":
                rel = (
                    rng.choice(FILES)
                    if rng.random() < 0.5
                    else f"src/pkg_{rng.randrange(40)}/mod_{rng.randrange(300)}.py"
                )
                event = rng.choice(["modified", "modified", "modified", "created", "deleted"])
                obs = Observation(
                    source="filesystem",
                    event_type=event,
                    target=f"/home/dev/project/{rel}",
                    details={"relative": rel, "size": rng.randrange(200, 40_000)},
                )
            elif what == "foo":  # the same failure, identical, again and again
                obs = Observation(
                    source="tests", event_type="failed", target=JUNIT, severity="error", details=FOO_FAILURE
                )
            elif what == "failed":
                n = rng.randrange(1, 30)
                obs = Observation(
                    source="tests",
                    event_type="failed",
                    target=JUNIT,
                    severity="error",
                    details={
                        **FOO_FAILURE,
                        "first_failures": [
                            {"test": f"tests.test_api.test_case_{n}", "message": f"KeyError: 'field_{n}'"}
                        ],
                    },
                )
            elif what == "passed":
                obs = Observation(
                    source="tests",
                    event_type="passed",
                    target=JUNIT,
                    details={"tests": 412, "failures": 0, "errors": 0, "skipped": 3, "passed": 409, "time_s": 40.2},
                )
            elif what == "ask":
                obs = request(rng.choice(ASKS))
            else:
                obs = Observation(source="clock", event_type="heartbeat", target="orchestrator")
            batch.append(obs)
        for obs in batch:
            if obs.id is None:
                j.append(obs)
        covers = [o.id for o in batch if o.id is not None]
        seen = "\n".join(f"#{o.id} {o.source}/{o.event_type} {o.target} {json.dumps(o.details)}" for o in batch)
        if kind == "rule":
            kinds = ", ".join(sorted({f"{o.source}/{o.event_type}" for o in batch}))
            decision = Decision(
                action_type="observe",
                reasoning=f"No judgement needed (rule quiet, routine: {kinds}); no LLM call.",
                priority="low",
                confidence=1.0,
            )
            j.record_decision(
                DecisionRecord.of(decision, covers, verdict="accepted", verdict_reason="rule", origin="rule")
            )
            continue
        if kind == "delegate":
            command = f"Fix the failing test tests.test_core.test_foo (round {r}): AssertionError: assert 41 == 42"
            decision = Decision(
                action_type="delegate",
                reasoning="test_foo keeps failing with the same assertion; an agent should fix it and run the suite.",
                target_agent="claude-code",
                command=command,
                priority="high",
                confidence=0.82,
                metadata={"alternatives_considered": ["observe"], "expected_outcome": "test_foo passes"},
            )
            task: Task | None = Task(decision_id=0, agent="claude-code", command=command)
        else:
            decision = Decision(
                action_type="observe",
                reasoning="Edits in progress and a known failure already delegated; nothing new to act on.",
                priority="medium",
                confidence=0.74,
                metadata={"alternatives_considered": ["delegate"]},
            )
            task = None
        reply = json.dumps(decision.model_dump(mode="json"))
        turns = [Turn("user", seen, len(seen) // 4), Turn("assistant", reply, len(reply) // 4)]
        task = j.record_decision(
            DecisionRecord.of(
                decision,
                covers,
                verdict="accepted",
                origin="llm",
                raw_reply=reply,
                latency_ms=rng.uniform(800, 4000),
                prompt_tokens=rng.randrange(1500, 6000),
                cached_tokens=rng.randrange(1000, 1500),
                task=task,
            ),
            turns=turns,
        ).task
        if task is not None and task.id is not None:
            j.update_task(task.id, state="running", started=utcnow(), pgid=40_000 + r)
            result = "Fixed the off-by-one in core.total(); test_foo passes, 412 tests run."
            details = {
                "task_id": task.id,
                "agent": task.agent,
                "command": task.command[:200],
                "state": "succeeded",
                "result": result,
                "exit_code": 0,
                "cost_usd": 0.0412,
                "num_turns": 9,
                "session_id": f"sess-{r}",
                "files_changed": {"files": 2, "examples": ["src/app/core.py", "tests/test_core.py"]},
            }
            outcome = Observation(
                source="agent", event_type="succeeded", target=f"claude-code#{task.id}", details=details
            )
            j.finish_task(
                task.id,
                outcome,
                state="succeeded",
                ended=utcnow(),
                exit_code=0,
                result=result,
                cost_usd=0.0412,
                num_turns=9,
                session_id=f"sess-{r}",
            )
    pending = [o.id for o in j.pending() if o.id is not None]
    if pending:  # nothing left undecided: the daemon would start by deciding it
        j.record_decision(
            DecisionRecord.of(
                Decision(
                    action_type="observe", reasoning="No judgement needed (rule quiet); no LLM call.", confidence=1.0
                ),
                pending,
                verdict="accepted",
                verdict_reason="rule",
                origin="rule",
            )
        )
    live = [t["id"] for t in j.live_turns()]
    j.archive_turn_ids(live[:-8])  # as compaction leaves it: the window's last turns live
    for text in ("staging deploys happen on Fridays", "test_foo is flaky on CI only when run in parallel"):
        j.add_note(text, "fact")
    j.close()


# -- the aged journal, grown in SQL


def make_aged(fresh: Path, aged: Path, observations: int, days: float = 90.0) -> None:
    Journal(aged).close()  # the schema, as the code migrates it
    db = sqlite3.connect(aged, isolation_level=None)
    db.execute("PRAGMA journal_mode=DELETE")  # a bulk load into an empty file: no WAL to grow and copy
    db.execute("PRAGMA synchronous=OFF")
    db.execute("PRAGMA cache_size=-524288")
    db.execute("PRAGMA temp_store=MEMORY")
    db.execute("ATTACH DATABASE ? AS f", (str(fresh),))
    q = db.execute

    def one(sql: str, *args: Any) -> Any:
        return q(sql, args).fetchone()[0]

    for table in ("approvals", "quarantine", "worktrees", "tool_calls"):
        if one(f"SELECT count(*) FROM f.{table}"):
            raise SystemExit(f"the fresh journal has {table}: not copied by this benchmark")
    fresh_obs = one("SELECT count(*) FROM f.observations")
    history = max(0, (observations - fresh_obs) // 12 * 12)
    decisions = history // 12
    t0 = one("SELECT julianday(min(ts)) FROM f.observations") - days
    q("BEGIN")
    # Templates, numbered from 0 by id, looked up by (category, k).
    q("CREATE TEMP TABLE plain (k INTEGER PRIMARY KEY, source, event_type, target, severity, details, count)")
    q(
        "INSERT INTO plain SELECT row_number() OVER (ORDER BY id) - 1, source, event_type, target, severity, details,"
        " count FROM f.observations WHERE source != 'agent'"
    )
    q("CREATE TEMP TABLE outcome (k INTEGER PRIMARY KEY, event_type, severity, details)")
    q(
        "INSERT INTO outcome SELECT row_number() OVER (ORDER BY id) - 1, event_type, severity, details"
        " FROM f.observations WHERE source = 'agent'"
    )
    q(
        "CREATE TEMP TABLE dtmpl (cat TEXT, k INTEGER, action_type, reasoning, target_agent, command, priority,"
        " confidence, metadata, raw_reply, latency_ms, prompt_tokens, cached_tokens, verdict, verdict_reason, origin,"
        " PRIMARY KEY (cat, k))"
    )
    q(
        "INSERT INTO dtmpl SELECT cat, row_number() OVER (PARTITION BY cat ORDER BY id) - 1, action_type, reasoning,"
        " target_agent, command, priority, confidence, metadata, raw_reply, latency_ms, prompt_tokens, cached_tokens,"
        " verdict, verdict_reason, origin FROM (SELECT *, CASE WHEN origin = 'rule' THEN 'rule'"
        " WHEN action_type = 'delegate' THEN 'delegate' ELSE 'llm' END AS cat FROM f.decisions)"
    )
    q("CREATE TEMP TABLE ttmpl (k INTEGER PRIMARY KEY, agent, command, state, exit_code, result, cost_usd, num_turns)")
    q(
        "INSERT INTO ttmpl SELECT row_number() OVER (ORDER BY id) - 1, agent, command, state, exit_code, result,"
        " cost_usd, num_turns FROM f.tasks"
    )
    q("CREATE TEMP TABLE utmpl (k INTEGER PRIMARY KEY, role, content, tokens)")
    q("CREATE TEMP TABLE atmpl (k INTEGER PRIMARY KEY, role, content, tokens)")
    for table, role in (("utmpl", "user"), ("atmpl", "assistant")):
        q(
            f"INSERT INTO {table} SELECT row_number() OVER (ORDER BY id) - 1, role, content, tokens FROM f.turns"
            " WHERE role = ?",
            (role,),
        )
    n = {t: one(f"SELECT count(*) FROM {t}") for t in ("plain", "outcome", "ttmpl", "utmpl", "atmpl")} | {
        c: one("SELECT count(*) FROM dtmpl WHERE cat = ?", c) for c in ("rule", "delegate", "llm")
    }
    if min(n.values()) == 0 or n["delegate"] != n["ttmpl"]:
        raise SystemExit(f"the fresh journal lacks a kind of row to grow from: {n}")
    at = f"strftime('%Y-%m-%dT%H:%M:%f', {t0!r} + {days!r} * (x) / {max(history, 1)}) || '000+00:00'"
    cat = "CASE WHEN b % 6 = 0 THEN 'delegate' WHEN b % 6 IN (1, 2, 3) THEN 'rule' ELSE 'llm' END"
    # Observations: 12 per decision; a block after a delegation opens with the agent's outcome.
    q(
        f"""WITH RECURSIVE s(j) AS (SELECT 0 UNION ALL SELECT j + 1 FROM s WHERE j + 1 < {history}),
        x AS (SELECT j, j / 12 AS b, (j % 12 = 0 AND (j / 12) % 6 = 1) AS ag, {at.replace("(x)", "j")} AS ts FROM s)
        INSERT INTO observations (id, ts, source, event_type, target, severity, details, count, first_ts, last_ts,
            status, decision_id)
        SELECT x.j + 1, x.ts, coalesce(p.source, 'agent'), coalesce(p.event_type, o.event_type),
            CASE WHEN x.ag THEN t.agent || '#' || ((x.b - 1) / 6 + 1) ELSE p.target END,
            coalesce(p.severity, o.severity),
            CASE WHEN x.ag THEN json_set(o.details, '$.task_id', (x.b - 1) / 6 + 1) ELSE p.details END,
            coalesce(p.count, 1), x.ts, x.ts, 'decided', x.b + 1
        FROM x LEFT JOIN plain p ON NOT x.ag AND p.k = (x.j * 7919) % {n["plain"]}
        LEFT JOIN outcome o ON x.ag AND o.k = ((x.b - 1) / 6) % {n["outcome"]}
        LEFT JOIN ttmpl t ON x.ag AND t.k = ((x.b - 1) / 6) % {n["ttmpl"]}
        ORDER BY x.j"""
    )
    q(
        f"""WITH RECURSIVE s(b) AS (SELECT 0 UNION ALL SELECT b + 1 FROM s WHERE b + 1 < {decisions}),
        x AS (SELECT b, {cat} AS cat, {at.replace("(x)", "(12 * b + 11)")} AS ts FROM s)
        INSERT INTO decisions (id, ts, action_type, reasoning, target_agent, command, priority, confidence, metadata,
            raw_reply, latency_ms, prompt_tokens, cached_tokens, verdict, verdict_reason, origin)
        SELECT x.b + 1, x.ts, d.action_type, d.reasoning, d.target_agent, d.command, d.priority, d.confidence,
            d.metadata, d.raw_reply, d.latency_ms, d.prompt_tokens, d.cached_tokens, d.verdict, d.verdict_reason,
            d.origin
        FROM x JOIN dtmpl d ON d.cat = x.cat AND d.k = (x.b / 6) % CASE x.cat WHEN 'rule' THEN {n["rule"]}
            WHEN 'delegate' THEN {n["delegate"]} ELSE {n["llm"]} END
        ORDER BY x.b"""
    )
    q(
        f"""INSERT INTO tasks (id, decision_id, agent, command, state, started, ended, exit_code, result, cost_usd,
            num_turns, session_id)
        SELECT d.id / 6 + 1, d.id, t.agent, t.command, t.state, d.ts,
            strftime('%Y-%m-%dT%H:%M:%f', julianday(d.ts) + 0.003) || '000+00:00', t.exit_code, t.result,
            t.cost_usd, t.num_turns, 'sess-h' || d.id
        FROM decisions d JOIN ttmpl t ON t.k = ((d.id - 1) / 6) % {n["ttmpl"]}
        WHERE (d.id - 1) % 6 = 0 ORDER BY d.id"""
    )
    # The model's decisions each left two turns, archived long ago (and indexed for recall).
    q(
        f"""INSERT INTO turns (role, content, tokens, archived, ts)
        SELECT role, content, tokens, 1, ts FROM (
            SELECT d.id AS did, 0 AS r, u.role, u.content, u.tokens, d.ts FROM decisions d
            JOIN utmpl u ON u.k = d.id % {n["utmpl"]} WHERE d.origin != 'rule'
            UNION ALL
            SELECT d.id, 1, a.role, a.content, a.tokens, d.ts FROM decisions d
            JOIN atmpl a ON a.k = d.id % {n["atmpl"]} WHERE d.origin != 'rule'
        ) ORDER BY did, r"""
    )
    q("INSERT INTO turns_fts(rowid, content) SELECT id, content FROM turns WHERE archived = 1")
    # The fresh rows on top: the newest page of both journals is the same.
    tasks_before = one("SELECT coalesce(max(id), 0) FROM tasks")
    turns_before = one("SELECT coalesce(max(id), 0) FROM turns")
    hash_at = "instr(target, '#')"
    q(
        f"""INSERT INTO observations (id, ts, source, event_type, target, severity, details, count, first_ts, last_ts,
            status, decision_id, origin_host, origin_id)
        SELECT id + {history}, ts, source, event_type,
            CASE WHEN source = 'agent' AND {hash_at} > 0
                THEN substr(target, 1, {hash_at}) || (CAST(substr(target, {hash_at} + 1) AS INTEGER) + {tasks_before})
                ELSE target END,
            severity,
            CASE WHEN source = 'agent' AND json_extract(details, '$.task_id') IS NOT NULL
                THEN json_set(details, '$.task_id', json_extract(details, '$.task_id') + {tasks_before})
                ELSE details END,
            count, first_ts, last_ts, status, decision_id + {decisions}, origin_host, origin_id
        FROM f.observations ORDER BY id"""
    )
    q(
        f"""INSERT INTO decisions SELECT id + {decisions}, ts, action_type, reasoning, target_agent, command,
            priority, confidence, metadata, raw_reply, latency_ms, prompt_tokens, cached_tokens, verdict,
            verdict_reason, origin, cluster_seq FROM f.decisions ORDER BY id"""
    )
    q(
        f"""INSERT INTO tasks SELECT id + {tasks_before}, decision_id + {decisions}, agent, command, state, pgid,
            started, ended, exit_code, result, cost_usd, num_turns, session_id FROM f.tasks ORDER BY id"""
    )
    q(f"INSERT INTO turns SELECT id + {turns_before}, role, content, tokens, archived, ts FROM f.turns ORDER BY id")
    q(f"INSERT INTO turns_fts(rowid, content) SELECT id, content FROM turns WHERE id > {turns_before} AND archived = 1")
    q(
        f"INSERT INTO summaries SELECT id, ts, content, up_to_turn + {turns_before}, evicted, error FROM f.summaries"
        " ORDER BY id"
    )
    q("INSERT INTO notes SELECT * FROM f.notes ORDER BY id")
    q("INSERT INTO identity SELECT * FROM f.identity")
    q("COMMIT")
    q("DETACH DATABASE f")
    db.execute("PRAGMA journal_mode=WAL")
    db.close()


def check_fts(path: Path) -> None:
    """The FTS indexes agree with their tables (FTS5's own integrity check, and the row counts)."""
    db = sqlite3.connect(path)
    try:
        for fts in ("observations_fts", "notes_fts"):
            db.execute(f"INSERT INTO {fts}({fts}) VALUES ('integrity-check')")
        obs = db.execute("SELECT count(*) FROM observations").fetchone()[0]
        indexed = db.execute("SELECT count(*) FROM observations_fts").fetchone()[0]
        if obs != indexed:
            raise SystemExit(f"observations_fts holds {indexed} rows for {obs} observations")
    finally:
        db.close()


# -- measuring


def cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "conscious", *args]


def clean_env(home: Path, **more: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CONSCIOUS_")}
    # The horizon past the quarter: these are reads of a journal that big, not of one being
    # compacted (the first compaction of an old journal is measured apart, below).
    base = {"CONSCIOUS_HOME": str(home), "CONSCIOUS_PROBE_LMSTUDIO": "false", "COLUMNS": "160"}
    env.update({**base, "CONSCIOUS_RETENTION_DAYS": "365", **more})
    return env


def wall_ms(argv: list[str], env: dict[str, str]) -> float:
    t0 = time.perf_counter()
    done = subprocess.run(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, check=False)
    ms = (time.perf_counter() - t0) * 1000
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(argv)} failed ({done.returncode}): {done.stderr.decode()[-2000:]}")
    return ms


@dataclass
class Head:
    first_ms: float | None
    peak_mib: float
    killed: str | None


def peak_rss_mib(pid: int) -> float:
    """The process's own high-water mark (VmHWM: since its exec, unlike the ``ru_maxrss`` a
    child inherits from the parent it was forked from)."""
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return 0.0


def export(home: Path, lines: int | None, cap_mib: float, cap_s: float) -> Head:
    """``conscious log --observations --json | head -<lines>`` (None: every line, to the end):
    the time to those lines and the child's peak RSS, watched every 20 ms (and the run
    stopped past the caps)."""
    argv = cli("log", "--observations", "--json", "--home", str(home))
    t0 = time.perf_counter()
    proc = subprocess.Popen(argv, env=clean_env(home), stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    watched = psutil.Process(proc.pid)
    killed: list[str] = []
    peak = [0.0]
    done = threading.Event()

    def watch() -> None:
        while not done.wait(0.02):
            try:
                peak[0] = max(peak[0], peak_rss_mib(proc.pid), watched.memory_info().rss / 2**20)
            except (OSError, psutil.Error):
                return
            took = time.perf_counter() - t0
            if peak[0] > cap_mib or took > cap_s:
                killed.append(f"RSS {peak[0]:.0f} MiB after {took:.0f} s")
                proc.kill()
                return

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    assert proc.stdout is not None
    n = 0
    while (lines is None or n < lines) and proc.stdout.readline():
        n += 1
    took_ms = (time.perf_counter() - t0) * 1000
    proc.stdout.close()  # as head does: the next write ends it (a broken pipe)
    done.set()
    watcher.join()
    proc.wait()
    complete = n == lines if lines is not None else proc.returncode == 0 and not killed
    return Head(took_ms if complete else None, peak[0], killed[0] if killed else None)


def recall_probe(path: Path) -> dict[str, Any]:
    j = Journal(path)
    try:
        t0 = time.perf_counter()
        hits = j.recall(RECALL_QUERY, 5)
        ms = (time.perf_counter() - t0) * 1000
        first = next((h for h in hits if h["kind"] == "observation"), None)
        newest = None
        if first is not None:
            row = j.db.execute(
                "SELECT source, event_type, target FROM observations WHERE id = ?", (first["id"],)
            ).fetchone()
            newest = j.db.execute(
                "SELECT id, ts FROM observations WHERE source = ? AND event_type = ? AND target = ?"
                " AND status = 'decided' ORDER BY id DESC LIMIT 1",
                (row["source"], row["event_type"], row["target"]),
            ).fetchone()
        return {
            "ms": ms,
            "hit": first,
            "newest": dict(newest) if newest is not None else None,
            "is_newest": first is not None and newest is not None and first["id"] == newest["id"],
        }
    finally:
        j.close()


def compaction_probe(aged: Path, root: Path, retention_days: float = 28.0) -> dict[str, Any]:
    """The first compaction of the aged journal (a copy) with the default horizon, in a thread
    as housekeeping runs it, while the loop's connection appends an observation every 20 ms
    (its checkpoints in the background, as the daemon's): how long each append waited, how
    long the compaction took, and the file before and after."""
    copy = root / "compacted.db"
    shutil.copy(aged, copy)
    before = copy.stat().st_size
    result: dict[str, Any] = {}

    def compact() -> None:
        j = Journal(copy)
        t0 = time.perf_counter()
        result["done"] = j.compact(utcnow() - timedelta(days=retention_days))
        result["s"] = time.perf_counter() - t0
        j.close()

    loop = Journal(copy)
    loop.checkpoint_in_background()
    worker = threading.Thread(target=compact, name="housekeeping")
    worker.start()
    waits, peak = [], 0
    while worker.is_alive():
        t0 = time.perf_counter()
        loop.append(Observation(source="filesystem", event_type="modified", target="src/app.py", details={}))
        waits.append((time.perf_counter() - t0) * 1000)
        peak = max(peak, loop.size())
        time.sleep(0.02)
    loop.close()
    waits.sort()
    return {
        **result,
        "appends": len(waits),
        "p50": waits[len(waits) // 2],
        "p99": waits[int(len(waits) * 0.99)],
        "max": waits[-1],
        "before_mib": before / 2**20,
        "peak_mib": peak / 2**20,
        "after_mib": copy.stat().st_size / 2**20,
    }


def in_process_log(path: Path) -> float:
    """What ``log -n 50`` reads when no daemon runs, in this process (no interpreter start)."""
    j = Journal(path)
    try:
        t0 = time.perf_counter()
        page(j, "decisions", limit=50, routine=False)
        return (time.perf_counter() - t0) * 1000
    finally:
        j.close()


class Daemon:
    def __init__(self, home: Path, watched: Path) -> None:
        self.home = home
        self.err = open(home / "daemon.stderr", "wb")  # noqa: SIM115 - closed in stop()
        env = clean_env(
            home,
            CONSCIOUS_API_PORT="0",
            CONSCIOUS_HEARTBEAT_INTERVAL="0",
            CONSCIOUS_IDLE_REFLECTION_INTERVAL="0",
        )
        argv = cli("run", "--quiet", "--home", str(home), "--watch", str(watched), "--llm-url", "scripted://observe")
        self.t0 = time.perf_counter()
        self.proc = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=self.err)
        self.url = ""
        self.up_s = 0.0

    def ready(self) -> bool:
        if self.proc.poll() is not None:
            raise SystemExit(f"the daemon on {self.home} exited ({self.proc.returncode}): {self.stderr()[-2000:]}")
        j = Journal(self.home / "journal.db")
        try:
            state = j.identity().get("daemon", {})
        finally:
            j.close()
        if state.get("running") and state.get("pid") == self.proc.pid and state.get("api_url"):
            self.url = state["api_url"]
            self.up_s = time.perf_counter() - self.t0
            return True
        return False

    def client(self) -> httpx.Client:
        token = read_token(self.home)
        return httpx.Client(
            base_url=self.url, headers={"Authorization": f"Bearer {token}"}, timeout=600, trust_env=False
        )

    def stderr(self) -> str:
        return (self.home / "daemon.stderr").read_text(errors="replace")

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.err.close()
        return self.proc.returncode


def get_ms(client: httpx.Client, route: str) -> float:
    t0 = time.perf_counter()
    r = client.get(route)
    ms = (time.perf_counter() - t0) * 1000
    r.raise_for_status()
    return ms


def tell_ms(client: httpx.Client, text: str) -> float:
    t0 = time.perf_counter()
    r = client.post("/api/inbox", json={"text": text})
    ms = (time.perf_counter() - t0) * 1000
    r.raise_for_status()
    return ms


SLOW_READ = "/api/decisions?limit=50&routine=false"


def tell_during_read(reader: httpx.Client, teller: httpx.Client, i: int, route: str = SLOW_READ) -> tuple[float, float]:
    """A tell sent 3 ms after a slow read was sent: (the tell's ms, the read's ms)."""
    read: list[float] = []
    t = threading.Thread(target=lambda: read.append(get_ms(reader, route)))
    t.start()
    time.sleep(0.003)
    told = tell_ms(teller, f"quarter bench: note {i}, nothing to do")
    t.join()
    return told, read[0]


# -- the report

Samples = dict[str, dict[str, list[float]]]


def med(xs: list[float]) -> float | None:
    return statistics.median(xs) if xs else None


def fmt(x: float | None, unit: str) -> str:
    if x is None:
        return "—"
    if unit == "s":
        return f"{x:.1f} s"
    if unit == "MiB":
        return f"{x:.0f} MiB"
    return f"{x:.1f} ms" if x < 100 else f"{x:.0f} ms"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--observations", type=int, default=2_000_000, help="the aged journal's size")
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--rss-cap", type=float, default=6144, help="MiB: stop `log --observations` past it")
    ap.add_argument("--time-cap", type=float, default=240, help="seconds: stop `log --observations` past it")
    ap.add_argument("--keep", action="store_true", help="keep the journals (under /var/tmp)")
    ap.add_argument("--no-compaction", action="store_true", help="skip the first compaction's measure")
    args = ap.parse_args()
    command = "python bench/quarter.py " + " ".join(sys.argv[1:])

    root = Path(tempfile.mkdtemp(prefix="conscious-quarter-", dir="/var/tmp"))
    homes = {"fresh": root / "fresh", "aged": root / "aged"}
    watched = root / "watched"
    watched.mkdir()
    for h in homes.values():
        h.mkdir()
    journals = {k: h / "journal.db" for k, h in homes.items()}
    daemons: list[Daemon] = []
    try:
        t0 = time.perf_counter()
        make_fresh(journals["fresh"])
        fresh_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        make_aged(journals["fresh"], journals["aged"], args.observations)
        aged_s = time.perf_counter() - t0
        sizes = {}
        for k, path in journals.items():
            db = sqlite3.connect(path)
            rows = {
                t: db.execute(f"SELECT max(id) FROM {t}").fetchone()[0]
                for t in ("observations", "decisions", "tasks", "turns")
            }
            db.close()
            sizes[k] = rows
            print(
                f"{k}: {rows['observations']:,} observations, {rows['decisions']:,} decisions, {rows['tasks']:,} tasks,"
                f" {rows['turns']:,} turns; {path.stat().st_size / 2**20:,.1f} MiB"
            )
        print(f"generated: fresh {fresh_s:.1f} s (Journal API), aged {aged_s:.1f} s (SQL)")
        t0 = time.perf_counter()
        check_fts(journals["aged"])
        print(f"FTS integrity of the aged journal checked in {time.perf_counter() - t0:.1f} s")

        samples: Samples = {k: {} for k in homes}
        recalls: dict[str, dict[str, Any]] = {}
        heads: dict[str, list[Head]] = {k: [] for k in homes}

        def add(kind: str, name: str, value: float | None) -> None:
            if value is not None:
                samples[kind].setdefault(name, []).append(value)

        # 1. No daemon: the CLI and recall straight on the journal.
        for rep in range(args.repeat):
            for kind in ("fresh", "aged") if rep % 2 == 0 else ("aged", "fresh"):
                home = homes[kind]
                add(kind, "log50", wall_ms(cli("log", "-n", "50", "--home", str(home)), clean_env(home)))
                add(kind, "log50_inproc", in_process_log(journals[kind]))
                if not any(h.killed for h in heads[kind]):
                    h = export(home, 3, args.rss_cap, args.time_cap)
                    heads[kind].append(h)
                    add(kind, "head3", h.first_ms)
                    add(kind, "head3_rss", h.peak_mib)
                rc = recall_probe(journals[kind])
                add(kind, "recall", rc["ms"])
                recalls[kind] = rc
            print(f"CLI round {rep + 1}/{args.repeat} done", flush=True)
        for kind in ("fresh", "aged"):  # the whole export, once each: does memory stay flat?
            h = export(homes[kind], None, args.rss_cap, args.time_cap)
            add(kind, "export", h.first_ms)
            add(kind, "export_rss", h.peak_mib)
            if h.killed:
                print(f"!! the whole export on {kind} stopped at {h.killed}")
            add(kind, "cli", wall_ms(cli("--help"), clean_env(homes[kind])))

        # 2. A real daemon on each home, both running; requests alternate between them.
        for kind in ("fresh", "aged"):
            daemons.append(Daemon(homes[kind], watched))
        by_kind = dict(zip(("fresh", "aged"), daemons, strict=True))
        deadline = time.monotonic() + 600
        while not all(d.url for d in daemons):
            for d in daemons:
                if not d.url:
                    d.ready()
            if time.monotonic() > deadline:
                raise SystemExit("the daemons did not come up within 10 minutes")
            time.sleep(0.05)
        for kind, d in by_kind.items():
            add(kind, "start", d.up_s)
        routes = {
            "decisions20": "/api/decisions?limit=20",
            "decisions50": SLOW_READ,
            "status": "/api/status",
            "observations50": "/api/observations?limit=50",
        }
        clients = {k: (d.client(), d.client()) for k, d in by_kind.items()}
        for c, _ in clients.values():
            for route in routes.values():  # one warm-up each: first connections, imports
                get_ms(c, route)
            tell_ms(c, "quarter bench: warm-up")
        for rep in range(args.repeat):
            for kind in ("fresh", "aged") if rep % 2 == 0 else ("aged", "fresh"):
                c, c2 = clients[kind]
                for name, route in routes.items():
                    add(kind, name, get_ms(c, route))
                add(
                    kind,
                    "log50_api",
                    wall_ms(cli("log", "-n", "50", "--home", str(homes[kind])), clean_env(homes[kind])),
                )
                add(kind, "tell", tell_ms(c, f"quarter bench: alone {rep}"))
                told, read = tell_during_read(c, c2, rep)
                add(kind, "tell_during", told)
                add(kind, "read_during", read)
                told, read = tell_during_read(c, c2, rep, "/api/status")
                add(kind, "tell_during_status", told)
                add(kind, "status_during", read)
            print(f"API round {rep + 1}/{args.repeat} done", flush=True)
        for pair in clients.values():
            for c in pair:
                c.close()
        codes = {kind: d.stop() for kind, d in by_kind.items()}
        for kind, d in by_kind.items():
            tracebacks = d.stderr().count("Traceback")
            if codes[kind] != 0 or tracebacks:
                print(f"!! the {kind} daemon exited {codes[kind]} with {tracebacks} traceback(s): {d.stderr()[-1500:]}")
        daemons.clear()

        report(command, args, sizes, journals, samples, heads, recalls, aged_s)
        if not args.no_compaction:
            print("\nthe first compaction of the aged journal (28 days), the loop appending meanwhile ...", flush=True)
            c = compaction_probe(journals["aged"], root)
            done = c["done"]
            print(
                f"compacted in {c['s']:.0f} s: {done.observations:,} observations, {done.decisions:,} routine"
                f" decisions, {done.turns:,} turns let go; the file {c['before_mib']:,.0f} MiB -> {c['after_mib']:,.0f}"
                f" MiB (with its WAL at most {c['peak_mib']:,.0f} MiB meanwhile); {c['appends']:,} appends meanwhile:"
                f" p50 {c['p50']:.1f} ms, p99 {c['p99']:.1f} ms, max {c['max']:.0f} ms"
            )
    finally:
        for d in daemons:
            d.stop()
        if args.keep:
            print(f"kept {root}")
        else:
            shutil.rmtree(root, ignore_errors=True)


ROWS: list[tuple[str, str, str, str]] = [
    ("log50", "`conscious log -n 50` (no daemon; process wall time)", "ms", "≤ 1.5x fresh"),
    ("log50_inproc", "… its read in-process (`page(decisions, 50, routine=False)`)", "ms", "≤ 1.5x fresh"),
    ("head3", "`log --observations --json | head -3`: first 3 lines", "ms", ""),
    ("head3_rss", "… peak RSS of the `log` process", "MiB", "constant"),
    ("export", "`log --observations --json > /dev/null`: every line (once each)", "ms", ""),
    ("export_rss", "… peak RSS of the `log` process", "MiB", "constant"),
    ("cli", "for scale: `conscious --help` (interpreter and imports; once each)", "ms", ""),
    ("recall", f"`recall({RECALL_QUERY!r}, 5)`", "ms", "< 50 ms"),
    ("start", "`conscious run` start → API up (one each)", "s", ""),
    ("decisions20", "`GET /api/decisions?limit=20`", "ms", "≤ 1.5x fresh"),
    ("decisions50", "`GET /api/decisions?limit=50&routine=false`", "ms", "≤ 1.5x fresh"),
    ("status", "`GET /api/status`", "ms", "≤ 1.5x fresh"),
    ("observations50", "`GET /api/observations?limit=50`", "ms", "≤ 1.5x fresh"),
    ("log50_api", "`conscious log -n 50` (daemon running: through its API)", "ms", "≤ 1.5x fresh"),
    ("tell", "`POST /api/inbox` alone", "ms", ""),
    ("tell_during", "`POST /api/inbox` sent while the `limit=50&routine=false` read runs", "ms", "< 50 ms"),
    ("read_during", "… that read, meanwhile", "ms", ""),
    ("tell_during_status", "`POST /api/inbox` sent while a `GET /api/status` runs", "ms", "< 50 ms"),
    ("status_during", "… that read, meanwhile", "ms", ""),
]


def report(
    command: str,
    args: argparse.Namespace,
    sizes: dict[str, dict[str, int]],
    journals: dict[str, Path],
    samples: Samples,
    heads: dict[str, list[Head]],
    recalls: dict[str, dict[str, Any]],
    aged_s: float,
) -> None:
    print()
    print(f"```sh\n{command}\n```")
    print()
    fresh, aged = sizes["fresh"], sizes["aged"]
    print(
        f"fresh: {fresh['observations']:,} observations, {fresh['decisions']:,} decisions, {fresh['tasks']:,} tasks;"
        f" aged: {aged['observations']:,} observations, {aged['decisions']:,} decisions, {aged['tasks']:,} tasks,"
        f" {aged['turns']:,} turns, {journals['aged'].stat().st_size / 2**30:.2f} GiB (grown in {aged_s:.0f} s)."
        f" Medians of {args.repeat}."
    )
    print()
    print("| | fresh | aged | aged / fresh | goal |")
    print("|---|---|---|---|---|")
    for key, label, unit, goal in ROWS:
        f, a = med(samples["fresh"].get(key, [])), med(samples["aged"].get(key, []))
        ratio = f"{a / f:.2f}x" if f and a is not None else "—"
        if key == "head3":
            for kind in ("fresh", "aged"):
                killed = [h.killed for h in heads[kind] if h.killed]
                if killed:
                    label += f" ({kind}: stopped at {killed[0]})"
        print(f"| {label} | {fmt(f, unit)} | {fmt(a, unit)} | {ratio} | {goal} |")
    print()
    for kind, rc in recalls.items():
        hit, newest = rc["hit"], rc["newest"]
        if hit is None:
            print(f"recall on {kind}: no observation among the hits")
            continue
        print(
            f"recall on {kind}: first observation hit #{hit['id']} at {hit['ts']}; newest of the same"
            f" #{newest['id']} at {newest['ts']}: {'the newest' if rc['is_newest'] else 'NOT the newest'}"
        )


if __name__ == "__main__":
    main()
