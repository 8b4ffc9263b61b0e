import subprocess
import sys
from pathlib import Path

import pytest

from conscious.errors import JournalError
from conscious.journal import Journal
from conscious.journal.schema import MIGRATIONS, statements
from conscious.model import Decision, DecisionRecord, Observation, Task


def test_migrates_a_new_file_and_reopens_it(tmp_path: Path) -> None:
    path = tmp_path / "j.db"
    Journal(path).close()
    j = Journal(path)
    assert j.schema_version == len(MIGRATIONS)
    assert j.db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_processes_opening_a_new_journal_at_once_all_get_it_migrated(tmp_path: Path) -> None:
    # A daemon starting while `conscious tell` writes: both find version 0 and migrate.
    path = tmp_path / "j.db"
    code = (
        "import sys; from conscious.journal import Journal; from conscious.model import Observation; "
        "j = Journal(sys.argv[1]); j.append(Observation(source='tests', event_type='x', target=sys.argv[2]))"
    )
    procs = [
        subprocess.Popen([sys.executable, "-c", code, str(path), str(i)], stderr=subprocess.PIPE) for i in range(8)
    ]
    errors = [p.communicate(timeout=60)[1].decode() for p in procs]
    assert [p.returncode for p in procs] == [0] * 8, errors
    j = Journal(path)
    assert j.schema_version == len(MIGRATIONS)
    assert sorted(o.target for o in j.pending()) == [str(i) for i in range(8)]


def test_migration_scripts_split_into_whole_statements() -> None:
    script = "CREATE TABLE a (x);\nCREATE TRIGGER t AFTER INSERT ON a BEGIN\n  INSERT INTO a VALUES (1);\nEND;\n"
    assert list(statements(script)) == [
        "CREATE TABLE a (x);",
        "CREATE TRIGGER t AFTER INSERT ON a BEGIN\n  INSERT INTO a VALUES (1);\nEND;",
    ]
    with pytest.raises(ValueError, match="incomplete"):
        list(statements("CREATE TABLE b (x)"))


def test_observation_round_trip_and_pending(tmp_path: Path) -> None:
    j = Journal(tmp_path / "j.db")
    oid = j.append(Observation(source="user", event_type="request", target="inbox", details={"text": "hi"}))
    [p] = j.pending()
    assert p.id == oid and p.details == {"text": "hi"} and p.status == "pending"


def test_a_decision_covers_its_observations_and_task_atomically(tmp_path: Path) -> None:
    j = Journal(tmp_path / "j.db")
    ids = [j.append(Observation(source="filesystem", event_type="modified", target=f"f{i}")) for i in range(3)]
    task = Task(decision_id=0, agent="claude-code", command="do it")
    d = Decision(action_type="delegate", reasoning="r", target_agent="claude-code", command="do it", confidence=0.9)
    done = j.record_decision(DecisionRecord.of(d, ids[:2], verdict="accepted", task=task))
    did = done.decision_id
    assert done.task is not None and done.task.id is not None and done.task.decision_id == did
    assert task.id is None  # the caller's task is not changed: the journal hands back the ids
    assert [o.id for o in j.pending()] == [ids[2]]
    assert {o.id for o in j.observations(decision_id=did)} == set(ids[:2])
    assert j.counts()["delegations"] == 1


def test_a_task_starts_at_most_once_per_decision(tmp_path: Path) -> None:
    j = Journal(tmp_path / "j.db")
    d = Decision(action_type="delegate", reasoning="r")
    did = j.record_decision(
        DecisionRecord.of(d, [], verdict="accepted", task=Task(decision_id=0, agent="memory", command="x"))
    ).decision_id
    try:
        with j.transaction() as db:
            db.execute(
                "INSERT INTO tasks (decision_id, agent, command, state) VALUES (?, 'memory', 'x', 'pending')", (did,)
            )
    except JournalError as exc:
        assert "UNIQUE" in str(exc)
    else:
        raise AssertionError("a second task for the same decision was accepted")
    assert len(j.tasks()) == 1


def test_a_second_connection_sees_rows_and_data_version_moves(tmp_path: Path) -> None:
    a, b = Journal(tmp_path / "j.db"), Journal(tmp_path / "j.db")
    before = a.data_version()
    b.append(Observation(source="user", event_type="request", target="inbox"))
    assert a.data_version() != before
    assert a.pending_count() == 1


def test_notes_are_found_by_full_text_search(tmp_path: Path) -> None:
    j = Journal(tmp_path / "j.db")
    j.add_note("The flaky test is test_network_timeout in tests/test_io.py")
    j.add_note("Deploys happen on Fridays")
    hits = j.search_notes("which test is flaky?")
    assert hits and "flaky" in hits[0]["content"]
    assert j.search_notes('"; DROP TABLE notes; --') == []


def test_identity_persists(tmp_path: Path) -> None:
    Journal(tmp_path / "j.db").set_identity(sessions=3, daemon={"pid": 1})
    assert Journal(tmp_path / "j.db").identity() == {"sessions": 3, "daemon": {"pid": 1}}


def test_a_version_1_journal_migrates_and_its_history_becomes_searchable(tmp_path: Path) -> None:
    import sqlite3

    path = tmp_path / "old.db"
    db = sqlite3.connect(path, isolation_level=None)
    db.executescript(f"BEGIN;\n{MIGRATIONS[0]}\nPRAGMA user_version=1;\nCOMMIT;")
    db.execute(
        "INSERT INTO observations (ts, source, event_type, target, severity, details, count, first_ts, last_ts, status)"
        " VALUES ('2026-01-01T00:00:00+00:00', 'tests', 'failed', 'report.xml', 'error', '{\"test\": \"flaky_login\"}',"
        " 1, '2026-01-01T00:00:00+00:00', '2026-01-01T00:00:00+00:00', 'decided')"
    )
    db.execute(
        "INSERT INTO turns (role, content, tokens, archived)"
        " VALUES ('assistant', 'delegated: fix the flaky_login test', 7, 1)"
    )
    db.close()
    j = Journal(path)
    assert j.schema_version == len(MIGRATIONS)
    kinds = {h["kind"] for h in j.recall("flaky_login")}
    assert kinds == {"observation", "turn"}


def test_recall_searches_archived_turns_decided_observations_and_notes(tmp_path: Path) -> None:
    j = Journal(tmp_path / "j.db")
    old = j.append(Observation(source="process", event_type="vanished", target="uvicorn", details={"exit": 137}))
    j.record_decision(DecisionRecord.of(Decision(action_type="observe", reasoning="r"), [old], verdict="accepted"))
    live = j.append(Observation(source="process", event_type="vanished", target="uvicorn"))  # still pending
    j.append_turn("user", "1. [WARNING] process/vanished uvicorn", 8)  # the observation, recalled as itself
    t1 = j.append_turn("assistant", "→ delegated to claude-code: why uvicorn vanished", 8)
    j.append_turn("user", "uvicorn is in the live window", 8)
    j.record_compaction(t1, "uvicorn crashed once", memory="m", evicted=1, error=None, observation=None)
    j.add_note("uvicorn needs 2 GB of memory", "ops")
    hits = j.recall("why does uvicorn keep vanishing?", limit=10, before=live)
    found = {(h["kind"], h["id"]) for h in hits}
    assert found == {("observation", old), ("turn", t1), ("note", 1)}
    assert all("uvicorn" in h["text"] for h in hits)
    assert j.latest_summary() == "uvicorn crashed once"
    assert [t["content"] for t in j.live_turns()] == ["uvicorn is in the live window"]


def test_recall_takes_any_text_safely(tmp_path: Path) -> None:
    j = Journal(tmp_path / "j.db")
    j.add_note("deploys happen on Friday")
    assert j.recall('"; DROP TABLE notes; -- NEAR( OR AND *') == []
    assert j.recall("the and of") == []  # nothing but stop words
    assert j.recall("Friday deploys")[0]["kind"] == "note"


def test_recall_lets_no_kind_crowd_out_the_others(tmp_path: Path) -> None:
    j = Journal(tmp_path / "j.db")
    for _ in range(30):
        oid = j.append(Observation(source="process", event_type="vanished", target="payments"))
        j.record_decision(DecisionRecord.of(Decision(action_type="observe", reasoning="r"), [oid], verdict="accepted"))
    j.add_note("payments needs REDIS_URL set")
    hits = j.recall("payments vanished", limit=5)
    assert [h["kind"] for h in hits] == ["note", "observation"]
    assert hits[1]["id"] == oid and "(x30)" in hits[1]["text"]  # once, as its newest occurrence


def test_the_same_decision_taken_again_is_recalled_once(tmp_path: Path) -> None:
    j = Journal(tmp_path / "j.db")
    ids = [j.append_turn("assistant", "→ delegated to claude-code: the process that stopped", 9) for _ in range(3)]
    other = j.append_turn("assistant", "→ observed: the process is back", 7)
    j.record_compaction(other, "s", memory="m", evicted=4, error=None, observation=None)
    hits = j.recall("process stopped", limit=3)
    assert sorted(h["text"] for h in hits) == [
        "→ delegated to claude-code: the process that stopped",
        "→ observed: the process is back",
    ]
    assert ids[-1] in {h["id"] for h in hits}  # as its newest


def test_the_counts_status_shows_follow_rows_added_and_removed(tmp_path: Path) -> None:
    j = Journal(tmp_path / "j.db")
    for n in range(5):
        j.append(Observation(source="filesystem", event_type="modified", target=f"f{n}.py"))
    assert j.counts()["observations"] == 5
    j.db.execute("DELETE FROM observations WHERE target IN ('f0.py', 'f1.py')")
    truth = j.db.execute("SELECT count(*) FROM observations").fetchone()[0]
    assert j.counts()["observations"] == truth == 3


def test_stream_observations_gives_the_last_n_oldest_first(tmp_path: Path) -> None:
    j = Journal(tmp_path / "j.db")
    for n in range(6):
        j.append(Observation(source="filesystem", event_type="modified", target=f"f{n}.py"))
    assert [o.target for o in j.stream_observations(2)] == ["f4.py", "f5.py"]
    assert [o.target for o in j.stream_observations()] == [f"f{n}.py" for n in range(6)]
    assert [o.target for o in j.stream_observations(100)] == [f"f{n}.py" for n in range(6)]


def test_recall_gives_the_newest_of_a_repeated_failure_and_other_hits_too(tmp_path: Path) -> None:
    j = Journal(tmp_path / "j.db")
    ids = []
    for day in range(60):  # the same failure, day after day, each decided
        obs = Observation(source="tests", event_type="failed", target="tests/test_cache.py", details={"day": day})
        ids.append(j.append(obs))
    other = j.append(Observation(source="tests", event_type="failed", target="tests/test_io.py", details={"x": 1}))
    j.db.execute("UPDATE observations SET status='decided'")
    hits = [h for h in j.recall("tests failed test_cache test_io", 5) if h["kind"] == "observation"]
    assert {h["id"] for h in hits} == {ids[-1], other}  # one hit each, the repeated one as its newest


def test_recall_ranks_a_rare_word_above_many_newer_common_ones(tmp_path: Path) -> None:
    # Weights come from the newest matches only: what the query shares with everything
    # ("tests", "failed") weighs less than the word only one failure holds.
    j = Journal(tmp_path / "j.db")
    rare = j.append(Observation(source="tests", event_type="failed", target="tests/test_ledger.py", details={}))
    for n in range(40):
        j.append(Observation(source="tests", event_type="failed", target=f"tests/test_m{n}.py", details={}))
    j.db.execute("UPDATE observations SET status='decided'")
    hits = [h for h in j.recall("tests failed ledger", 3) if h["kind"] == "observation"]
    assert hits[0]["id"] == rare
    assert len(hits) == 3


def test_a_recalled_turn_is_an_excerpt_around_the_words_asked_for(tmp_path: Path) -> None:
    j = Journal(tmp_path / "j.db")
    filler = " ".join(f"w{n}" for n in range(60))
    turn = j.append_turn("assistant", f"{filler} delegated: fix the Parquet export {filler}", 40)
    j.archive_turn_ids([turn])
    (hit,) = [h for h in j.recall("parquet", 5) if h["kind"] == "turn"]
    assert "Parquet" in hit["text"] and hit["text"].startswith("…") and hit["text"].endswith("…")
    assert len(hit["text"].split()) <= 26


def test_a_task_that_failed_before_its_agent_ran_is_told_from_one_that_ran(tmp_path: Path) -> None:
    j = Journal(tmp_path / "j.db")
    ids = []
    for n in range(2):
        task = Task(decision_id=0, agent="claude-code", command=f"fix {n}")
        d = Decision(
            action_type="delegate", reasoning="r", target_agent="claude-code", command=f"fix {n}", confidence=1
        )
        made = j.record_decision(DecisionRecord.of(d, [], verdict="accepted", task=task)).task
        assert made is not None and made.id is not None
        ids.append(made.id)
    j.update_task(ids[1], pgid=4242)  # its process started
    for task_id in ids:
        obs = Observation(source="agent", event_type="failed", target=f"claude-code#{task_id}")
        j.finish_task(task_id, obs, state="failed")
    assert [(t.command, t.started) for t in j.recent_tasks(3600)] == [("fix 0", False), ("fix 1", True)]
