"""The gate at each tool call, from the hook's side: the settings a task is started with, the
hook as the real subprocess Claude Code runs (through /bin/sh, JSON on stdin), its answers,
and that it fails closed — exit code 2, the only one Claude Code takes as a refusal."""

from __future__ import annotations

import json
import stat
import subprocess
from pathlib import Path
from typing import Any

from conscious.delegate.guard import ToolGuard
from conscious.gate.tools import ToolPolicy
from conscious.journal import Journal
from conscious.model import Task
from tests.delegate.test_dispatcher import delegation


def hook_input(tool: str, tool_input: dict[str, Any], cwd: Path) -> str:
    return json.dumps(
        {
            "session_id": "s-1",
            "transcript_path": "/dev/null",
            "cwd": str(cwd),
            "permission_mode": "acceptEdits",
            "hook_event_name": "PreToolUse",
            "tool_name": tool,
            "tool_input": tool_input,
            "tool_use_id": "toolu_1",
        }
    )


def run_hook(command: str, stdin: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["/bin/sh", "-c", command], input=stdin, capture_output=True, text=True, timeout=60)


def armed(tmp_path: Path, url: str | None = None) -> tuple[ToolGuard, Task, dict[str, Any], Journal]:
    journal = Journal(tmp_path / "journal.db")
    guard = ToolGuard(journal, ToolPolicy(), tmp_path / "tasks", timeout=5)
    guard.url = url
    task = delegation(journal, "claude-code", "fix it")
    root = tmp_path / "worktree"
    root.mkdir()
    settings = json.loads(guard.arm(task, root).read_text())
    return guard, task, settings, journal


def command(settings: dict[str, Any], event: str) -> str:
    [group] = settings["hooks"][event]
    [hook] = group["hooks"]
    assert hook["type"] == "command" and hook["command"].endswith(" || exit 2")
    return str(hook["command"])


def test_every_tool_goes_before_the_gate_and_the_secrets_are_private(tmp_path: Path) -> None:
    _, task, settings, _ = armed(tmp_path, "http://127.0.0.1:9")
    assert settings["hooks"]["PreToolUse"][0]["matcher"] == "*"
    token = tmp_path / "tasks" / f"task-{task.id}" / "hook-token"
    assert stat.S_IMODE(token.stat().st_mode) == 0o600
    assert token.read_text() not in json.dumps(settings)  # the settings name the file, never the token


def test_without_the_api_the_hook_judges_by_itself_and_the_guard_books_its_verdicts(tmp_path: Path) -> None:
    guard, task, settings, journal = armed(tmp_path)
    root = tmp_path / "worktree"
    start = run_hook(command(settings, "SessionStart"), json.dumps({"hook_event_name": "SessionStart"}))
    assert start.returncode == 0
    allowed = run_hook(command(settings, "PreToolUse"), hook_input("Bash", {"command": "pytest -q"}, root))
    assert (allowed.returncode, allowed.stdout) == (0, "")  # nothing said: the agent's own rules apply
    refused = run_hook(command(settings, "PreToolUse"), hook_input("Bash", {"command": "rm -rf tests"}, root))
    assert refused.returncode == 0
    out = json.loads(refused.stdout)["hookSpecificOutput"]
    assert out["hookEventName"] == "PreToolUse" and out["permissionDecision"] == "deny"
    assert "deletes recursively" in out["permissionDecisionReason"]
    summary = guard.disarm(task.id or 0)
    assert summary["tool_calls"] == 2 and summary["tools_denied"] == 1 and "gate_armed" not in summary
    [row] = journal.tool_calls(task.id or 0)
    assert (row["tool"], row["verdict"], json.loads(row["input"])) == ("Bash", "denied", {"command": "rm -rf tests"})


def test_an_unreachable_daemon_a_bad_input_or_a_broken_hook_refuse_the_call(tmp_path: Path) -> None:
    _, _, settings, _ = armed(tmp_path, "http://127.0.0.1:9")  # nothing listens there
    pre = command(settings, "PreToolUse")
    down = run_hook(pre, hook_input("Read", {"file_path": "a.py"}, tmp_path))
    assert down.returncode == 2 and "refused" in down.stderr
    garbled = run_hook(pre.replace("127.0.0.1:9", "127.0.0.1:9"), "{not json")
    assert garbled.returncode == 2
    # Whatever breaks before our code runs (here: a module that is not there) is exit 2 as well.
    broken = run_hook(pre.replace("conscious.delegate.hook", "conscious.delegate.no_such_hook"), "{}")
    assert broken.returncode == 2


def test_the_daemon_answers_only_a_running_task_s_own_token(tmp_path: Path) -> None:
    guard, task, _, journal = armed(tmp_path, "http://127.0.0.1:9")
    token = (tmp_path / "tasks" / f"task-{task.id}" / "hook-token").read_text()
    payload = {"tool_name": "Write", "tool_input": {"file_path": "/etc/cron.d/x", "content": "* * * * * sh"}}
    assert guard.answer(task.id or 0, "someone-else", "pre-tool-use", payload) is None
    assert guard.answer((task.id or 0) + 1, token, "pre-tool-use", payload) is None
    answer = guard.answer(task.id or 0, token, "pre-tool-use", payload)
    assert answer is not None and answer["allow"] is False and "outside the task's worktree" in answer["reason"]
    assert guard.answer(task.id or 0, token, "pre-tool-use", {"tool_name": "Bash"})["allow"] is False  # type: ignore[index]
    summary = guard.disarm(task.id or 0)
    assert summary["gate_armed"] is False  # no SessionStart came: said in the result
    assert guard.answer(task.id or 0, token, "pre-tool-use", payload) is None  # ended: the token is dead
    assert len(journal.tool_calls(task.id or 0)) == 2
