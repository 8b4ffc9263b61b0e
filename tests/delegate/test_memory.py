from pathlib import Path

from conscious.delegate.base import RunContext
from conscious.delegate.memory import MemoryDelegate
from conscious.journal import Journal
from conscious.model import DecisionRecord, Task


async def test_store_then_recall(tmp_path: Path) -> None:
    journal = Journal(tmp_path / "j.db")
    memory = MemoryDelegate(journal)
    ctx = RunContext(cwd=tmp_path, timeout=5, grace=1)
    stored = await memory.run(
        Task(decision_id=1, agent="memory", command="Remember: the CI uses Python 3.11"), ctx, lambda pid: None
    )
    assert stored.state == "succeeded" and "stored note" in stored.result
    found = await memory.run(
        Task(decision_id=2, agent="memory", command="recall which python CI uses"), ctx, lambda pid: None
    )
    assert found.state == "succeeded" and "Python 3.11" in found.result
    missing = await memory.run(Task(decision_id=3, agent="memory", command="search kubernetes"), ctx, lambda pid: None)
    assert "no notes match" in missing.result


async def test_a_question_is_answered_from_the_journal_and_never_stored_as_a_note(tmp_path: Path) -> None:
    from conscious.model import Decision, Observation

    journal = Journal(tmp_path / "j.db")
    memory = MemoryDelegate(journal)
    ctx = RunContext(cwd=tmp_path, timeout=5, grace=1)
    await memory.run(Task(decision_id=1, agent="memory", command="note: the cache TTL is 300 s"), ctx, lambda p: None)
    seen = journal.append(
        Observation(source="tests", event_type="failed", target="tests/test_cache.py", details={"failures": 2})
    )
    journal.db.execute("UPDATE observations SET status='decided' WHERE id=?", (seen,))
    fixing = Task(decision_id=0, agent="claude-code", command="make the cache expire entries", state="running")
    journal.record_decision(
        DecisionRecord.of(
            Decision(
                action_type="delegate", reasoning="r", target_agent="claude-code", command=fixing.command, confidence=1
            ),
            [],
            verdict="accepted",
            task=fixing,
        )
    )
    asked = await memory.run(
        Task(decision_id=9, agent="memory", command="what did we decide about the cache?"), ctx, lambda p: None
    )
    assert asked.state == "succeeded"
    assert "cache TTL is 300 s" in asked.result and "tests/test_cache.py" in asked.result
    assert "running now: task" in asked.result and "make the cache expire entries" in asked.result
    assert [n["content"] for n in journal.search_notes("cache")] == [
        "the cache TTL is 300 s"
    ]  # the question is no note
    nothing = await memory.run(
        Task(decision_id=10, agent="memory", command="did we ever deploy to kubernetes?"), ctx, lambda p: None
    )
    assert "Nothing in the journal or in memory answers" in nothing.result  # the unrelated running task is not news
    busy = await memory.run(Task(decision_id=11, agent="memory", command="what is running?"), ctx, lambda p: None)
    assert "running now: task" in busy.result and "make the cache expire entries" in busy.result


async def test_a_vague_ask_is_asked_back(tmp_path: Path) -> None:
    memory = MemoryDelegate(Journal(tmp_path / "j.db"))
    ctx = RunContext(cwd=tmp_path, timeout=5, grace=1)
    back = await memory.run(Task(decision_id=1, agent="memory", command="clarify: make it better"), ctx, lambda p: None)
    assert back.state == "succeeded" and "'make it better' does not say what to change" in back.result
    assert "Which file, test, page or behaviour" in back.result


async def test_what_runs_when_nothing_does_is_answered_with_what_ran_last(tmp_path: Path) -> None:
    """Tried on a real checkout: "what are the agents working on right now?" with the fix done
    was answered "Nothing in the journal or in memory answers …" — that nothing runs is the answer."""
    from conscious.model import Decision

    journal = Journal(tmp_path / "j.db")
    fix = Task(decision_id=0, agent="claude-code", command="29 of 664 tests fail in reports/junit.xml")
    decision = Decision(action_type="delegate", reasoning="r", target_agent="claude-code", command=fix.command)
    made = journal.record_decision(DecisionRecord.of(decision, task=fix)).task
    assert made is not None and made.id is not None
    journal.update_task(made.id, state="succeeded")
    memory = MemoryDelegate(journal)
    ctx = RunContext(cwd=tmp_path, timeout=5, grace=1)
    asked = Task(decision_id=9, agent="memory", command="what are the agents working on right now?")
    said = (await memory.run(asked, ctx, lambda pid: None)).result
    assert "running now: no task" in said and f"task {made.id} (claude-code, succeeded" in said, said
    assert "29 of 664 tests fail" in said
