"""Claude Code delegation through a stand-in `claude` on PATH that prints the CLI's documented output."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from conscious.config import ClaudeCodeConfig
from conscious.delegate.base import RunContext
from conscious.delegate.claude_code import ClaudeCodeDelegate
from conscious.model import Task


def task(command: str = "Fix the failing test") -> Task:
    return Task(id=7, decision_id=3, agent="claude-code", command=command)


async def run(tmp_path: Path, config: ClaudeCodeConfig | None = None, timeout: float = 30):  # type: ignore[no-untyped-def]
    delegate = ClaudeCodeDelegate(config or ClaudeCodeConfig())
    return await delegate.run(task(), RunContext(cwd=tmp_path, timeout=timeout, grace=1), lambda pgid: None)


async def test_success_records_result_cost_turns_and_session(fake_agents: Path, tmp_path: Path) -> None:
    outcome = await run(tmp_path)
    assert outcome.state == "succeeded" and outcome.exit_code == 0
    assert "Fix the failing test" in outcome.result
    assert outcome.cost_usd is not None and outcome.cost_usd > 0
    assert outcome.num_turns is not None and outcome.session_id
    [call] = [json.loads(line) for line in fake_agents.read_text().splitlines()]
    assert call["cwd"] == str(tmp_path)


async def test_flags_from_config(fake_agents: Path, tmp_path: Path) -> None:
    config = ClaudeCodeConfig(
        permission_mode="plan", allowed_tools=["Read", "Bash(git diff:*)"], disallowed_tools=["WebFetch"], max_turns=7
    )
    await run(tmp_path, config)
    argv = json.loads(fake_agents.read_text().splitlines()[0])["argv"]
    assert "-p" in argv and argv[-2:] == ["--", "Fix the failing test"]
    assert argv[argv.index("--permission-mode") + 1] == "plan"
    assert argv[argv.index("--max-turns") + 1] == "7"
    assert argv[argv.index("--max-budget-usd") + 1] == "1"
    assert "--allowedTools=Read,Bash(git diff:*)" in argv and "--disallowedTools=WebFetch" in argv
    assert not any("dangerously" in a or "bypass" in a for a in argv)


@pytest.mark.parametrize(
    ("mode", "needle"),
    [("error", "simulated error"), ("max-turns", "maximum number of turns"), ("auth-error", "log")],
)
async def test_error_results_are_failures_with_their_reason(
    fake_agents: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, mode: str, needle: str
) -> None:
    monkeypatch.setenv("CONSCIOUS_FAKE_MODE", mode)
    outcome = await run(tmp_path)
    assert outcome.state == "failed"
    assert needle in outcome.result.lower() or needle in outcome.result


async def test_crash_without_json(fake_agents: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CONSCIOUS_FAKE_MODE", "crash")
    outcome = await run(tmp_path)
    assert outcome.state == "failed" and "without a JSON result" in outcome.result


async def test_slow_agent_times_out_and_stubborn_agent_is_killed(
    fake_agents: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CONSCIOUS_FAKE_MODE", "ignore-term")
    outcome = await run(tmp_path, timeout=1.0)
    assert outcome.state == "timeout"


async def test_a_task_repeating_the_same_tool_call_is_stopped_as_a_loop(
    fake_agents: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CONSCIOUS_FAKE_MODE", "loop")
    outcome = await run(tmp_path, ClaudeCodeConfig(loop_repeats=4), timeout=60)
    assert (outcome.state, outcome.event) == ("failed", "loop")
    assert "repeated 4 times" in outcome.result and "npm test" in outcome.result
    argv = json.loads(fake_agents.read_text().splitlines()[0])["argv"]
    assert argv[argv.index("--output-format") + 1] == "stream-json" and "--verbose" in argv


async def test_a_slow_task_with_varied_steps_is_not_a_loop(
    fake_agents: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CONSCIOUS_FAKE_MODE", "busy")
    monkeypatch.setenv("CONSCIOUS_FAKE_STEPS", "12")
    monkeypatch.setenv("CONSCIOUS_FAKE_SLEEP", "1")
    outcome = await run(tmp_path, ClaudeCodeConfig(loop_repeats=4), timeout=60)
    assert outcome.state == "succeeded" and outcome.event is None
    assert outcome.cost_usd is not None and outcome.session_id  # the final result object, read from the stream
