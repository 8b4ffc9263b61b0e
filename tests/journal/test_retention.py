"""Retention on a real journal file: what is past the horizon goes — observations, routine
decisions, archived turns — and what matters stays: tasks, the decisions that made them and
what those covered, memory. The full-text indexes follow, a note says what went, and the
daemon does it while it runs."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from pathlib import Path

from conscious.daemon.housekeeping import keep_house, tidy
from conscious.delegate.dispatcher import LocalDispatcher
from conscious.journal import Journal
from conscious.model import Decision, DecisionRecord, Observation, Task, utcnow

OLD = (utcnow() - timedelta(days=60)).isoformat()


def aged(tmp_path: Path) -> tuple[Journal, dict[str, int]]:
    j = Journal(tmp_path / "j.db")
    routine = [
        j.append(Observation(source="filesystem", event_type="modified", target=f"old{i}.py")) for i in range(30)
    ]
    j.record_decision(
        DecisionRecord.of(Decision(action_type="observe", reasoning="nothing to do"), routine, verdict="accepted")
    )
    evidence = j.append(Observation(source="tests", event_type="failed", target="tests/test_cache.py"))
    task = Task(decision_id=0, agent="claude-code", command="fix the cache tests")
    d = Decision(action_type="delegate", reasoning="r", target_agent="claude-code", command=task.command, confidence=1)
    kept_decision = j.record_decision(DecisionRecord.of(d, [evidence], verdict="accepted", task=task)).decision_id
    turn = j.append_turn("assistant", "observe: cache churn again", 8)
    j.archive_turn_ids([turn])
    note = j.add_note("we use uv, not pip")
    j.db.execute("UPDATE observations SET ts = ?", (OLD,))
    j.db.execute("UPDATE decisions SET ts = ?", (OLD,))
    j.db.execute("UPDATE turns SET ts = ?", (OLD,))
    new = j.append(Observation(source="filesystem", event_type="modified", target="today.py"))
    return j, {"evidence": evidence, "decision": kept_decision, "note": note, "new": new}


def test_past_the_horizon_the_routine_goes_and_what_matters_stays(tmp_path: Path) -> None:
    j, ids = aged(tmp_path)
    done = j.compact(utcnow() - timedelta(days=28))
    assert (done.observations, done.decisions, done.turns) == (30, 1, 1)
    left = {o.id for o in j.stream_observations()}
    assert left == {ids["evidence"], ids["new"]}
    assert [t["command"] for t in j.tasks()] == ["fix the cache tests"]
    assert j.decision(ids["decision"]) is not None
    assert j.counts()["observations"] == 2 and j.counts()["decisions"] == 1
    notes = [n["content"] for n in j.search_notes("compacted")]
    assert notes and "30 observations (filesystem/modified 30)" in notes[0]
    assert j.search_notes("pip")  # memory kept
    j.db.execute("INSERT INTO observations_fts(observations_fts) VALUES ('integrity-check')")
    j.db.execute("INSERT INTO turns_fts(turns_fts) VALUES ('integrity-check')")
    assert not [h for h in j.recall("old0 churn", 5) if h["kind"] != "note"]


def test_a_new_journal_gives_freed_pages_back(tmp_path: Path) -> None:
    j, _ = aged(tmp_path)
    for n in range(2000):
        j.append(
            Observation(source="filesystem", event_type="modified", target=f"bulk{n}.py", details={"pad": "x" * 400})
        )
    j.db.execute("UPDATE observations SET ts = ? WHERE target LIKE 'bulk%'", (OLD,))
    j.db.execute("UPDATE observations SET status = 'decided'")
    j.db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    before = j.path.stat().st_size
    j.compact(utcnow() - timedelta(days=28))
    j.db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    assert j.db.execute("PRAGMA auto_vacuum").fetchone()[0] == 2  # incremental
    assert j.path.stat().st_size < before / 2


class Told:
    def __init__(self) -> None:
        self.lines: list[str] = []

    def info(self, text: str) -> None:
        self.lines.append(text)


async def test_the_daemon_lets_old_rows_go_while_it_runs(tmp_path: Path) -> None:
    j, _ = aged(tmp_path)
    told, stop = Told(), asyncio.Event()
    keeper = asyncio.create_task(
        keep_house(
            j.path,
            LocalDispatcher(j, {}, cwd=tmp_path, scratch=tmp_path / "tasks"),
            told,
            stop,
            every=0.05,
            retention_days=28,
        )  # type: ignore[arg-type]
    )
    async with asyncio.timeout(30):
        while not told.lines:
            await asyncio.sleep(0.02)
    stop.set()
    await keeper
    assert told.lines[0].startswith("Journal compacted") and j.counts()["observations"] == 2
    assert tidy(j.path, 28) == ""  # nothing more to let go
