"""The real Claude Code and Claude Flow CLIs (installed by `make test` from npm), where no
account is needed: start-up, dry runs, and the unauthenticated error path."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from conscious.config import ClaudeCodeConfig
from conscious.delegate.base import RunContext
from conscious.delegate.claude_code import ClaudeCodeDelegate
from conscious.delegate.command import CommandDelegate
from conscious.delegate.guard import ToolGuard
from conscious.gate.tools import ToolPolicy
from conscious.journal import Journal
from conscious.model import Task
from conscious.system.process import run_process
from tests.delegate.test_dispatcher import delegation

TOOLS = Path(__file__).resolve().parents[2] / ".tools"
CLAUDE = TOOLS / "claude-code" / "node_modules" / ".bin" / "claude"
CLAUDE_FLOW = TOOLS / "claude-flow" / "node_modules" / ".bin" / "claude-flow"


def require(path: Path) -> Path:
    if not path.exists():
        if os.environ.get("CI"):
            pytest.fail(f"{path} missing: `make tools` must install the real CLIs in CI")
        pytest.skip(f"{path.name} not installed here (run `make tools`)")
    return path


@pytest.fixture
def no_account(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty HOME and no API key: what a user without a Claude account has."""
    home = tmp_path / "empty-home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    for var in ("ANTHROPIC_API_KEY", "ANTHROPIC_AUTH_TOKEN", "CLAUDE_CODE_OAUTH_TOKEN"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("CLAUDE_CODE_MAX_RETRIES", "0")
    return home


async def test_claude_starts() -> None:
    result = await run_process([str(require(CLAUDE)), "--version"], timeout=60)
    assert result.exit_code == 0 and "Claude Code" in result.stdout


async def test_claude_without_an_account_is_a_failed_task_not_a_crash(no_account: Path, tmp_path: Path) -> None:
    delegate = ClaudeCodeDelegate(ClaudeCodeConfig(binary=str(require(CLAUDE))))
    task = Task(id=1, decision_id=1, agent="claude-code", command="say hi")
    pgids: list[int] = []
    outcome = await delegate.run(task, RunContext(cwd=tmp_path, timeout=90, grace=2), pgids.append)
    assert outcome.state == "failed"
    assert outcome.exit_code not in (0, None)
    assert "log" in outcome.result.lower()  # "Not logged in · Please run /login"
    assert pgids


async def test_claude_flow_hive_mind_dry_run(no_account: Path, tmp_path: Path) -> None:
    flow = str(require(CLAUDE_FLOW))
    delegate = CommandDelegate(
        "claude-flow",
        [
            flow,
            "hive-mind",
            "spawn",
            "--claude",
            "--non-interactive",
            "--no-auto-permissions",
            "--dry-run",
            "-o",
            "{command}",
        ],
        init_argv=[flow, "hive-mind", "init"],
        init_marker=".claude-flow/hive-mind/state.json",
    )
    task = Task(id=1, decision_id=1, agent="claude-flow", command="Build a REST API for todos")
    outcome = await delegate.run(task, RunContext(cwd=tmp_path, timeout=120, grace=2), lambda pgid: None)
    assert outcome.state == "succeeded", outcome.result
    assert (tmp_path / ".claude-flow" / "hive-mind" / "state.json").exists()
    assert "REST API" in outcome.result or "dry" in outcome.result.lower()


@pytest.mark.parametrize("trusted", [False, True])
async def test_the_real_cli_accepts_our_hooks_and_loads_the_repository_s_only_when_trusted(
    no_account: Path, repo: Path, tmp_path: Path, trusted: bool
) -> None:
    """Settings that fail validation are silently ignored by `claude -p`: that our SessionStart
    hook ran proves the whole file, PreToolUse hook included, was accepted. The repository's
    own SessionStart hook runs only when its settings are trusted."""
    marker = tmp_path / "planted-ran"
    planted = {"hooks": {"SessionStart": [{"hooks": [{"type": "command", "command": f"touch {marker}"}]}]}}
    (repo / ".claude").mkdir()
    (repo / ".claude" / "settings.json").write_text(json.dumps(planted))
    journal = Journal(tmp_path / "journal.db")
    guard = ToolGuard(journal, ToolPolicy(), tmp_path / "tasks")
    task = delegation(journal, "claude-code", "say hi")
    ctx = RunContext(cwd=repo, timeout=90, grace=2, settings=guard.arm(task, repo), trust_project=trusted)
    delegate = ClaudeCodeDelegate(ClaudeCodeConfig(binary=str(require(CLAUDE))))
    outcome = await delegate.run(task, ctx, lambda pgid: None)
    assert outcome.state == "failed" and "log" in outcome.result.lower()  # no account: it stops there
    assert "gate_armed" not in guard.disarm(task.id or 0)  # our hook ran: the settings were accepted
    assert marker.exists() is trusted
