"""The rules that decide without the model: unit tests, then through the loop with a scripted
brain that records every call."""

from __future__ import annotations

from conscious.config import Config
from conscious.loop.batch import BatchEntry
from conscious.loop.shortcuts import BOOKKEEPING, REPEAT, ROUTINE, shortcut
from conscious.model import Observation
from conscious.paths import Paths
from conscious.think.backends.scripted import ScriptedBackend
from tests.loop.test_orchestrator import drain, make

ALL = ("routine", "bookkeeping", "repeat")


def entry(i: int, **kw: object) -> BatchEntry:
    base: dict[str, object] = {"source": "filesystem", "event_type": "modified", "target": "a.py"}
    return BatchEntry(Observation.model_validate({**base, **kw, "id": i}), [i])


def test_every_observation_must_be_covered() -> None:
    beat = entry(1, source="clock", event_type="heartbeat", target="orchestrator")
    note = entry(2, source="agent", event_type="succeeded", target="memory#3", details={"agent": "memory"})
    edit = entry(3)
    assert shortcut([beat, note], ALL, lambda o: False) == [ROUTINE, BOOKKEEPING]
    assert shortcut([beat, edit], ALL, lambda o: False) is None
    assert shortcut([beat, edit], ALL, lambda o: True) == [ROUTINE, REPEAT]
    assert shortcut([beat], ("bookkeeping",), lambda o: False) is None  # switched off


def test_repeats_of_what_matters_still_go_to_the_model() -> None:
    said = entry(1, source="user", event_type="request", target="inbox", details={"text": "again"})
    failed = entry(2, source="tests", event_type="failed", target="report.xml", severity="error")
    code = entry(3, source="agent", event_type="succeeded", target="claude-code#4", details={"agent": "claude-code"})
    assert shortcut([said], ALL, lambda o: True) is None  # a user's words are never a repeat
    assert shortcut([failed], ALL, lambda o: True) is None  # an error again is news
    assert shortcut([code], ALL, lambda o: False) is None  # a code agent's result is read


async def test_an_identical_edit_a_moment_later_costs_no_call(config: Config, paths: Paths) -> None:
    backend = ScriptedBackend()
    orch, journal = await make(config, paths, backend)
    edit = {"source": "filesystem", "event_type": "modified", "target": "src/a.py", "details": {"size": 10}}
    journal.append(Observation.model_validate(edit))
    await drain(orch, lambda: journal.pending_count() == 0)
    assert len(backend.requests) == 1
    journal.append(Observation.model_validate(edit))  # the same again
    journal.append(Observation.model_validate({**edit, "details": {"size": 11}}))  # something new
    await drain(orch, lambda: journal.pending_count() == 0)
    assert len(backend.requests) == 2
    journal.append(Observation.model_validate(edit))
    await drain(orch, lambda: journal.pending_count() == 0)
    assert len(backend.requests) == 2
    last = journal.decisions(1)[0]
    assert last["origin"] == "rule" and "repeat" in last["reasoning"]


async def test_with_the_rule_off_the_model_is_asked(config: Config, paths: Paths) -> None:
    backend = ScriptedBackend()
    orch, journal = await make(config.model_copy(update={"shortcuts": ["routine"]}), paths, backend)
    edit = {"source": "filesystem", "event_type": "modified", "target": "src/a.py", "details": {"size": 10}}
    for _ in range(2):
        journal.append(Observation.model_validate(edit))
        await drain(orch, lambda: journal.pending_count() == 0)
    assert len(backend.requests) == 2
