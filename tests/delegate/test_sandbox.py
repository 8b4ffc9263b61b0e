"""The cell itself, with the real bubblewrap: what it is made of, programs it runs from /tmp,
and a task that cannot have a wall does not start (fails closed)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from conscious.config import SandboxConfig
from conscious.delegate.command import CommandDelegate
from conscious.delegate.dispatch import RecordedEvents
from conscious.delegate.dispatcher import LocalDispatcher
from conscious.delegate.memory import MemoryDelegate
from conscious.delegate.sandbox import INSTALL, Bubblewrap, Cell, Rooms, Unwalled
from conscious.errors import CommandNotFound
from conscious.journal import Journal
from conscious.model import Observation
from tests.delegate.test_dispatcher import delegation, settle


def rooms(base: Path) -> Rooms:
    root = base / "state" / "worktrees" / "task-1"
    root.mkdir(parents=True)
    return Rooms(root, root, base / "state" / "tasks" / "task-1" / "cell", [base / "state"])


def test_a_program_under_tmp_is_visible_in_the_cell_whose_tmp_is_its_own(tmp_path: Path) -> None:
    program = tmp_path / "tools" / "hello"
    program.parent.mkdir()
    program.write_text("#!/bin/sh\necho hello from $(dirname $0); ls /tmp\n")
    program.chmod(0o755)
    (tmp_path / "secret.txt").write_text("not for the cell")
    cell = Bubblewrap(SandboxConfig(network="none")).cell(rooms(tmp_path))
    out = subprocess.run(cell.wrap([str(program)]), capture_output=True, text=True, timeout=30, check=False)
    assert out.returncode == 0, out.stderr
    assert f"hello from {program.parent}" in out.stdout
    listed = subprocess.run(
        cell.wrap(["cat", str(tmp_path / "secret.txt")]), capture_output=True, text=True, timeout=30, check=False
    )
    assert listed.returncode != 0 and "not for the cell" not in listed.stdout


def test_a_command_not_found_is_said_before_the_cell_starts(tmp_path: Path) -> None:
    cell = Bubblewrap(SandboxConfig(network="none")).cell(rooms(tmp_path))
    with pytest.raises(CommandNotFound, match="no-such-agent"):
        cell.wrap(["no-such-agent", "-p"])
    assert Unwalled().cell(rooms(tmp_path / "x")).wrap(["no-such-agent"]) == ["no-such-agent"]


def test_without_bubblewrap_the_wall_says_how_to_install_it() -> None:
    wall = Bubblewrap(SandboxConfig())
    wall.binary = None
    assert wall.unavailable() == INSTALL and "apt install bubblewrap" in INSTALL


class Missing(Bubblewrap):
    def unavailable(self) -> str | None:
        return "bubblewrap is not installed: `sudo apt install bubblewrap`"

    def cell(self, rooms: Rooms) -> Cell:
        raise AssertionError("no cell may be made without a wall")


async def test_no_wall_no_task_and_the_memory_agent_goes_on(tmp_path: Path) -> None:
    journal = Journal(tmp_path / "journal.db")
    marker = tmp_path / "ran"
    agent = CommandDelegate("sh", ["sh", "-c", f"touch {marker}"])
    seen: list[Observation] = []
    agents = {"sh": agent, "memory": MemoryDelegate(journal)}
    d = LocalDispatcher(
        journal, agents, cwd=tmp_path, sandbox=Missing(SandboxConfig()), events=RecordedEvents(observations=seen)
    )  # type: ignore[arg-type]
    task = delegation(journal, "sh", "anything")
    d.start(task)
    await settle(d)
    [obs] = seen
    assert obs.event_type == "sandbox-unavailable" and obs.details["state"] == "failed"
    assert "apt install bubblewrap" in str(obs.details["result"]) and not marker.exists()
    note = delegation(journal, "memory", "we use uv, not pip")
    d.start(note)
    await settle(d)
    assert seen[-1].event_type == "succeeded"  # it runs no process: no wall needed
