"""Command agents (Claude Flow by default) through the stand-in `claude-flow` on PATH."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from conscious.delegate.base import RunContext
from conscious.delegate.command import CommandDelegate
from conscious.model import Task

FLOW = [
    "claude-flow",
    "hive-mind",
    "spawn",
    "--claude",
    "--non-interactive",
    "--no-auto-permissions",
    "-o",
    "{command}",
]


def flow(**kw: object) -> CommandDelegate:
    return CommandDelegate(
        "claude-flow",
        FLOW,
        init_argv=["claude-flow", "hive-mind", "init"],
        init_marker=".claude-flow/hive-mind/state.json",
        **kw,
    )  # type: ignore[arg-type]


async def test_initialises_once_then_spawns_with_the_command_as_one_argument(
    fake_agents: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CONSCIOUS_FAKE_REQUIRE_INIT", "1")
    ctx = RunContext(cwd=tmp_path, timeout=30, grace=1)
    command = "Build a REST API; rm -rf / && echo $(whoami)"
    for i in range(2):
        outcome = await flow().run(Task(id=i, decision_id=i, agent="claude-flow", command=command), ctx, lambda p: None)
        assert outcome.state == "succeeded", outcome.result
    calls = [json.loads(line)["argv"] for line in fake_agents.read_text().splitlines()]
    assert [c[:2] for c in calls] == [["hive-mind", "init"], ["hive-mind", "spawn"], ["hive-mind", "spawn"]]
    assert calls[1][calls[1].index("-o") + 1] == command  # never through a shell
    assert "--no-auto-permissions" in calls[1]


async def test_failure_and_missing_cli(fake_agents: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    ctx = RunContext(cwd=tmp_path, timeout=30, grace=1)
    (tmp_path / ".claude-flow" / "hive-mind").mkdir(parents=True)
    (tmp_path / ".claude-flow" / "hive-mind" / "state.json").write_text("{}")
    monkeypatch.setenv("CONSCIOUS_FAKE_MODE", "error")
    failed = await flow().run(Task(id=1, decision_id=1, agent="claude-flow", command="x"), ctx, lambda p: None)
    assert failed.state == "failed" and failed.exit_code == 1 and failed.result
    missing = CommandDelegate("lint", ["no-such-linter-xyz", "{command}"])
    outcome = await missing.run(Task(id=2, decision_id=2, agent="lint", command="x"), ctx, lambda p: None)
    assert (outcome.state, outcome.event) == ("failed", "not-installed")


async def test_user_defined_agent(tmp_path: Path) -> None:
    agent = CommandDelegate("echo", [sys.executable, "-c", "import sys; print('got', sys.argv[1])", "{command}"])
    outcome = await agent.run(
        Task(id=1, decision_id=1, agent="echo", command="hello world"),
        RunContext(cwd=tmp_path, timeout=10, grace=1),
        lambda p: None,
    )
    assert (outcome.state, outcome.result) == ("succeeded", "got hello world")
