"""What the journal already answered is observed, not delegated again: green on the rerun, a
task already on it. A real journal on a real file."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from conscious.journal import Journal
from conscious.loop.batch import coalesce
from conscious.loop.settled import settled_by
from conscious.loop.shortcuts import shortcut
from conscious.model import Decision, DecisionRecord, Observation, RunningTask, Task, utcnow

ROOT = "/home/dev/shop"
REPORT = f"{ROOT}/reports/junit.xml"


def failing(seconds: int = 0) -> Observation:
    return Observation(
        source="tests",
        event_type="failed",
        target=REPORT,
        severity="error",
        timestamp=utcnow() + timedelta(seconds=seconds),
        details={"tests": 40, "failures": 1, "first_failures": [{"test": "tests.test_cart.test_total"}]},
    )


def passing(seconds: int) -> Observation:
    return Observation(
        source="tests", event_type="passed", target=REPORT, timestamp=utcnow() + timedelta(seconds=seconds)
    )


def test_a_failure_green_on_the_rerun_is_settled_and_one_failing_again_is_not(tmp_path: Path) -> None:
    journal = Journal(tmp_path / "j.db")
    why = settled_by(journal.newer, lambda: [], [ROOT])
    first = failing()
    first.id = journal.append(first)
    assert why(first) is None  # nothing newer: act on it
    journal.append(passing(5))
    assert why(first) == "the tests in reports/junit.xml pass again since (green on the rerun)"
    again = failing(10)
    again.id = journal.append(again)
    [entry] = [e for e in coalesce([first, again]) if e.observation.event_type == "failed"]
    assert why(entry.observation) is None  # failing after the pass: news again


def test_a_failure_a_running_task_is_on_is_settled_whatever_its_wording(tmp_path: Path) -> None:
    journal = Journal(tmp_path / "j.db")
    running: list[RunningTask] = []
    why = settled_by(journal.newer, lambda: running, [ROOT])

    def task(agent: str, command: str) -> RunningTask:
        return RunningTask(Task(id=len(running) + 1, decision_id=1, agent=agent, command=command), Path(ROOT))

    obs = failing()
    obs.id = journal.append(obs)
    running.append(task("claude-code", "Add pagination to GET /invoices"))
    assert why(obs) is None
    running.append(task("claude-code", "3 of 40 tests fail in reports/junit.xml (first: …). Find the cause, fix it."))
    assert why(obs) == "already being worked on: claude-code is running on reports/junit.xml"
    running[-1] = task("claude-flow", "make tests.test_cart.test_total pass again")
    assert why(obs) == "already being worked on: claude-flow is running on reports/junit.xml"


def test_the_rule_covers_a_batch_only_when_everything_in_it_is_settled_or_routine(tmp_path: Path) -> None:
    journal = Journal(tmp_path / "j.db")
    why = settled_by(journal.newer, lambda: [], [ROOT])
    obs = failing()
    obs.id = journal.append(obs)
    journal.append(passing(5))
    beat = Observation(id=99, source="clock", event_type="heartbeat", target="orchestrator")
    batch = coalesce([obs, beat])
    rules = shortcut(batch, ("routine", "settled"), lambda _: False, lambda _: True, why)
    assert rules is not None and [r.name for r in rules] == ["settled", "routine"]
    assert shortcut(batch, ("routine",), lambda _: False, lambda _: True, why) is None  # turned off
    asked = Observation(id=100, source="user", event_type="request", target="inbox", details={"text": "fix it"})
    assert shortcut(coalesce([obs, asked]), ("routine", "settled"), lambda _: False, lambda _: True, why) is None


def test_a_watched_command_that_succeeded_when_run_again_is_settled(tmp_path: Path) -> None:
    from conscious.observe.command import ended

    journal = Journal(tmp_path / "j.db")
    why = settled_by(journal.newer, lambda: [], [ROOT])
    failed = ended(["pytest", "-q"], 1, ["1 failed"], 2.0, ROOT)
    failed.id = journal.append(failed)
    assert why(failed) is None
    again = ended(["pytest", "-q"], 0, ["40 passed"], 2.0, ROOT)
    again.timestamp = again.timestamp + timedelta(seconds=5)
    journal.append(again)
    assert why(failed) == "`pytest -q` succeeded when run again since"


def test_a_failed_unit_active_again_is_settled(tmp_path: Path) -> None:
    journal = Journal(tmp_path / "j.db")
    why = settled_by(journal.newer, lambda: [], [ROOT])
    failed = Observation(source="systemd", event_type="failed", target="user:api.service", severity="error")
    failed.id = journal.append(failed)
    assert why(failed) is None
    back = Observation(
        source="systemd", event_type="recovered", target="user:api.service", timestamp=utcnow() + timedelta(seconds=5)
    )
    journal.append(back)
    assert why(failed) == "user:api.service is active again since"


def test_a_test_run_seen_twice_is_acted_on_once(tmp_path: Path) -> None:
    """`conscious watch -- pytest --junitxml=…` fails: its exit and the report it wrote arrive
    within a second, and were two delegations — two agents on one failure. Tried on a real
    checkout (more-itertools, a bug put into take()): tasks #1 and #2 both fixing it."""
    from conscious.observe.command import ended

    journal = Journal(tmp_path / "j.db")
    why = settled_by(journal.newer, lambda: [], [ROOT], journal.decided_between)
    report = failing()
    report.id = journal.append(report)
    run = ended(["pytest", "-q", "--junitxml=reports/junit.xml"], 1, ["1 failed, 39 passed"], 4.0, ROOT)
    assert why(report) is None and why(run) is None  # neither decided yet: the first to be decided acts
    journal.record_decision(DecisionRecord.of(Decision(action_type="delegate", reasoning="fix"), [report.id]))
    assert why(run) == "the same test run's failure was decided already (its report reports/junit.xml)"
    # Another command failing meanwhile is another failure.
    lint = ended(["make", "lint"], 2, ["src/cart.py:3:1: F401 'os' imported but unused"], 2.0, ROOT)
    assert why(lint) is None


def test_the_report_of_a_run_already_decided_is_its_twin_by_the_tests_its_output_names(tmp_path: Path) -> None:
    from conscious.observe.command import ended

    journal = Journal(tmp_path / "j.db")
    why = settled_by(journal.newer, lambda: [], [ROOT], journal.decided_between)
    tail = ["FAILED tests/test_cart.py::test_total - assert 41 == 42", "1 failed, 39 passed"]
    run = ended(["make", "test"], 2, tail, 6.0, ROOT)  # the report path is in its config, not its argv
    run.id = journal.append(run)
    journal.record_decision(DecisionRecord.of(Decision(action_type="delegate", reasoning="fix"), [run.id]))
    assert why(failing(seconds=1)) == "the same test run's failure was decided already (`make test`)"
    assert why(failing(seconds=60)) is None  # a later run is a later failure
