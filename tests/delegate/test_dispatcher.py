"""The dispatcher's own logic with the in-tree ``ScriptedDelegate`` (no process): every outcome
is journaled with the observation that reports it, a delegate's bug comes back as a failure,
an unknown agent as not installed, and the slots bound how many run at once. Real agents as
real subprocesses are tested in test_claude_code.py, test_command.py and tests/loop."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from conscious.delegate.base import Outcome
from conscious.delegate.dispatch import RecordedEvents, TaskEvent
from conscious.delegate.dispatcher import LocalDispatcher
from conscious.delegate.scripted import ScriptedDelegate
from conscious.journal import Journal
from conscious.model import Decision, DecisionRecord, RunningTask, Task


def delegation(journal: Journal, agent: str, command: str) -> Task:
    decision = Decision(
        action_type="delegate", reasoning="test", target_agent=agent, command=command, priority="high", confidence=0.9
    )
    task = Task(decision_id=0, agent=agent, command=command, state="pending")
    made = journal.record_decision(DecisionRecord.of(decision, [], verdict="accepted", task=task)).task
    assert made is not None
    return made


async def settle(dispatcher: LocalDispatcher) -> None:
    async with asyncio.timeout(10):
        while dispatcher.running():
            await asyncio.sleep(0.01)


async def test_an_outcome_is_journaled_and_reported(tmp_path: Path) -> None:
    journal = Journal(tmp_path / "journal.db")
    agent = ScriptedDelegate("coder", Outcome("succeeded", "fixed it", cost_usd=0.02))
    told = RecordedEvents()
    dispatcher = LocalDispatcher(journal, {"coder": agent}, cwd=tmp_path, events=told)
    task = delegation(journal, "coder", "fix the test")
    dispatcher.start(task)
    await settle(dispatcher)
    assert [t.command for t in agent.tasks] == ["fix the test"]
    events = [(what, run.task.id, run.folder, outcome and outcome.state) for what, run, outcome in told.events]
    assert events == [("started", task.id, tmp_path, None), ("finished", task.id, tmp_path, "succeeded")]
    seen = told.observations
    [row] = journal.tasks()
    assert (row["state"], row["result"], row["cost_usd"]) == ("succeeded", "fixed it", 0.02)
    [obs] = seen
    assert (obs.source, obs.event_type, obs.target) == ("agent", "succeeded", f"coder#{task.id}")
    assert obs.details["result"] == "fixed it" and journal.pending()[-1].id == obs.id


async def test_a_delegate_that_raises_is_a_failure_and_an_unknown_agent_is_not_installed(tmp_path: Path) -> None:
    journal = Journal(tmp_path / "journal.db")
    dispatcher = LocalDispatcher(journal, {"coder": ScriptedDelegate("coder", RuntimeError("bug"))}, cwd=tmp_path)
    dispatcher.start(delegation(journal, "coder", "a"))
    dispatcher.start(delegation(journal, "nobody", "b"))
    await settle(dispatcher)
    results = {(r["agent"], r["state"]) for r in journal.tasks()}
    assert results == {("coder", "failed"), ("nobody", "failed")}
    events = {o.event_type: o.details["result"] for o in journal.pending()}
    assert "RuntimeError('bug')" in events["failed"]
    assert events["not-installed"] == "no delegate named nobody"


async def test_the_slots_bound_how_many_run_at_once(tmp_path: Path) -> None:
    journal = Journal(tmp_path / "journal.db")
    agent = ScriptedDelegate("coder", delay=0.2)
    most: dict[str, Any] = {"now": 0, "max": 0}

    class Counting(RecordedEvents):
        def task_event(self, what: TaskEvent, run: RunningTask, outcome: Outcome | None) -> None:
            most["now"] += 1 if what == "started" else -1
            most["max"] = max(most["max"], most["now"])

    dispatcher = LocalDispatcher(journal, {"coder": agent}, cwd=tmp_path, max_concurrent=2, events=Counting())
    for i in range(5):
        dispatcher.start(delegation(journal, "coder", f"task {i}"))
    await settle(dispatcher)
    assert len(agent.tasks) == 5 and most["max"] == 2
    assert {r["state"] for r in journal.tasks()} == {"succeeded"}
