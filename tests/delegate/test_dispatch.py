"""The dispatcher plug point: how a task's end comes back, and two dispatchers that answer one
protocol without one inheriting the other."""

from __future__ import annotations

import inspect
from pathlib import Path

import pytest

from conscious.cluster.relay import Relay
from conscious.delegate.base import Outcome
from conscious.delegate.dispatch import Dispatcher, RecordedEvents, TaskEvents, ended
from conscious.delegate.dispatcher import LocalDispatcher
from conscious.model import RunningTask, Task

TASK = Task(id=4, decision_id=9, agent="claude-code", command="fix calc.py " + "x" * 300)


@pytest.mark.parametrize(
    ("state", "severity"),
    [("succeeded", "info"), ("interrupted", "warning"), ("failed", "error"), ("timeout", "error")],
)
def test_a_task_s_end_is_an_agent_observation_as_grave_as_its_outcome(state: str, severity: str) -> None:
    obs = ended(TASK, Outcome(state, "r" * 900, exit_code=1, cost_usd=None), {"commits": []})  # type: ignore[arg-type]
    assert (obs.source, obs.target, obs.severity, obs.event_type) == ("agent", "claude-code#4", severity, state)
    assert obs.details["decision_id"] == 9 and obs.details["commits"] == [] and obs.details["exit_code"] == 1
    assert "cost_usd" not in obs.details  # what the agent did not say is not said as None
    assert len(str(obs.details["command"])) == 200 and len(str(obs.details["result"])) == 500


def test_an_event_the_outcome_names_is_the_observation_s_kind() -> None:
    obs = ended(TASK, Outcome("failed", "no delegate named x", event="not-installed"), {})
    assert obs.event_type == "not-installed" and obs.details["state"] == "failed"


@pytest.mark.parametrize("kind", [LocalDispatcher, Relay])
def test_each_dispatcher_answers_the_whole_protocol_and_inherits_from_no_other(kind: type) -> None:
    wanted = {name for name in vars(Dispatcher) if not name.startswith("_")}
    assert wanted <= {name for name, _ in inspect.getmembers(kind) if not name.startswith("_")}
    assert kind.__mro__[1:] == (object,)
    for name in wanted:  # coroutine where the protocol awaits, plain where it does not
        assert inspect.iscoroutinefunction(getattr(kind, name)) == inspect.iscoroutinefunction(
            getattr(Dispatcher, name)
        ), name


def test_the_recorded_events_keep_what_they_are_told(tmp_path: Path) -> None:
    told: TaskEvents = RecordedEvents()
    assert isinstance(told, RecordedEvents)
    told.task_event("started", RunningTask(TASK, tmp_path), None)
    told.noticed(ended(TASK, Outcome("succeeded", "ok"), {}))
    assert told.said() == ["started"] and told.observations[0].event_type == "succeeded"
    assert told.changes(4) is None
