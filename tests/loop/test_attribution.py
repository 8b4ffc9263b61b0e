"""The loop's own hands are not news: an agent that edits files in the watched folder, seen by
the real watcher, has its edits attributed to its task and never handed to the model."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from conscious.config import Config
from conscious.control.terminal import Terminal
from conscious.daemon.assemble import build
from conscious.journal import Journal
from conscious.loop.attribution import Attribution
from conscious.model import Observation, RunningTask, Task
from conscious.observe.files import FileObserver
from conscious.paths import Paths
from conscious.think.backends.scripted import ScriptedBackend
from conscious.think.connection import Connection


def test_a_change_under_a_running_or_just_ended_tasks_folder_is_its_own(tmp_path: Path) -> None:
    task = Task(id=7, decision_id=1, agent="claude-code", command="fix a.py")
    running = [RunningTask(task, tmp_path)]
    hands = Attribution(lambda: running, grace=60)
    inside = Observation(
        source="filesystem", event_type="modified", target=str(tmp_path / "a.py"), details={"relative": "a.py"}
    )
    outside = Observation(source="filesystem", event_type="modified", target="/elsewhere/b.py")
    told = Observation(source="user", event_type="request", target="inbox")
    assert [hands.claim(o) for o in (inside, outside, told)] == [7, None, None]
    running.clear()
    hands.ended(7, tmp_path)
    assert hands.claim(inside) == 7  # the watcher's debounce: it arrives after the task ended
    assert hands.summary(7) == {"files": 1, "examples": ["a.py"]}
    gone = Attribution(lambda: [], grace=0)
    gone.ended(7, tmp_path)
    assert gone.claim(inside) is None and gone.summary(8) is None


async def test_an_agents_edits_are_attributed_to_its_task_and_never_delegated_again(
    config: Config, paths: Paths, watched: Path, fake_agents: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CONSCIOUS_FAKE_EDIT", "src/app.py,src/util.py")
    monkeypatch.setenv("CONSCIOUS_FAKE_MODE", "slow")
    monkeypatch.setenv("CONSCIOUS_FAKE_SLEEP", "1.5")  # its edits are seen while it still runs
    (watched / "src").mkdir()
    (watched / "src" / "app.py").write_text("x = 1\n")
    backend = ScriptedBackend.from_url("scripted://delegate?agent=claude-code")  # chooses the delegation
    journal = Journal(paths.journal)
    connection = Connection(backend, await backend.info(), backend.context_length)
    orch = await build(config.model_copy(update={"debounce_ms": 200}), paths, journal, connection, Terminal(quiet=True))
    orch.observers = [o for o in orch.observers if isinstance(o, FileObserver)]  # the real watcher
    stop = asyncio.Event()
    runner = asyncio.create_task(orch.run(stop))
    try:
        await asyncio.sleep(0.5)  # the watcher is up
        orch.accept(
            Observation(
                source="user", event_type="request", target="inbox", details={"text": "Fix the bug in src/app.py"}
            )
        )
        async with asyncio.timeout(30):
            while not any(o.source == "agent" for o in journal.observations(200)) or journal.pending_count():
                await asyncio.sleep(0.1)
        await asyncio.sleep(1.0)  # anything the watcher still had to say
        async with asyncio.timeout(10):
            while journal.pending_count():
                await asyncio.sleep(0.1)
    finally:
        stop.set()
        await runner
    [task] = journal.tasks()
    edits = [o for o in journal.observations(200) if o.source == "filesystem"]
    assert {Path(o.target).name for o in edits} == {"app.py", "util.py"}
    assert all(o.status == "attributed" and o.details["task_id"] == task["id"] for o in edits)
    [result] = [o for o in journal.observations(200) if o.source == "agent"]
    assert result.details["files_changed"]["files"] == 2
    assert sorted(result.details["files_changed"]["examples"]) == ["src/app.py", "src/util.py"]
    # The model was asked once, about the request: the edits never reached it.
    assert len(backend.requests) == 1
    assert "filesystem/" not in backend.requests[0][-1]["content"]
    assert [t["command"] for t in journal.tasks()] == ["Fix the bug in src/app.py"]  # the user's words, verbatim
