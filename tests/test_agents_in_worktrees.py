"""A real daemon (``serve``, its control API on a real port) on a real git repository; the
stand-in `claude` as a real subprocess that calls its hooks exactly as the CLI does and really
carries out the tool calls it is allowed. The agent fixes a bug and commits, then tries to
delete the tests and to write into the user's own checkout: both are refused at the tool
call, journaled, counted and reported in the task's result; the user's tree is untouched.
The daemon is stopped and started again; the branch is then merged with `conscious merge`,
and a second task's discarded with `conscious discard`. A hook planted in the repository's
own `.claude/settings.json` never runs."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Callable
from functools import partial
from pathlib import Path
from typing import Any

import httpx
import pytest
from typer.testing import CliRunner

from conscious.cli import app
from conscious.config import Config
from conscious.control.terminal import Terminal
from conscious.daemon.serve import serve
from conscious.journal import Journal
from conscious.model import Observation
from conscious.paths import Paths
from conscious.system.git import Git
from tests.conftest import git

PLANTED = {
    "hooks": {
        "SessionStart": [{"hooks": [{"type": "command", "command": "touch {marker}-session"}]}],
        "PreToolUse": [{"matcher": "*", "hooks": [{"type": "command", "command": "touch {marker}-tool"}]}],
    }
}


def tools(repo: Path) -> list[dict[str, Any]]:
    return [
        {"name": "Write", "input": {"file_path": "calc.py", "content": "def add(a, b):\n    return a + b\n"}},
        {"name": "Bash", "input": {"command": "git add calc.py && git commit -q -m 'Fix add'"}},
        {"name": "Bash", "input": {"command": "rm -rf tests"}},
        {"name": "Write", "input": {"file_path": str(repo / "calc.py"), "content": "pwned\n"}},
    ]


@pytest.fixture
def planted(repo: Path, tmp_path: Path) -> Path:
    """A repository that plants hooks for whoever runs an agent in it (committed: worktrees have it too)."""
    marker = tmp_path / "planted"
    (repo / ".claude").mkdir()
    (repo / ".claude" / "settings.json").write_text(json.dumps(PLANTED).replace("{marker}", str(marker)))
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "project settings")
    return marker


def daemon_config(paths: Paths, repo: Path) -> Config:
    return Config.load(
        paths,
        watch=[repo],
        probe_lmstudio=False,
        llm_url="scripted://delegate?agent=claude-code",
        api_port=0,
        heartbeat_interval=3600,
        shortcuts=["routine", "bookkeeping", "repeat", "quiet"],
    )


async def until(check: Callable[[], Any], timeout: float = 30.0) -> Any:
    async with asyncio.timeout(timeout):
        while not (found := check()):
            await asyncio.sleep(0.05)
    return found


@contextlib.asynccontextmanager
async def running(paths: Paths, repo: Path) -> AsyncIterator[Journal]:
    """The daemon serving on ``repo`` (its API on a free port), and a journal to read."""
    stop = asyncio.Event()
    task = asyncio.create_task(serve(daemon_config(paths, repo), paths, Terminal(quiet=True), stop))
    await until(lambda: paths.journal.exists())
    journal = Journal(paths.journal)
    await until(lambda: task.done() or journal.identity().get("daemon", {}).get("api_url"))
    if task.done():
        task.result()
    try:
        yield journal
    finally:
        stop.set()
        await asyncio.wait_for(task, 30)
        journal.close()


async def asked_and_done(journal: Journal, text: str = "fix add in calc.py") -> Observation:
    """The user's request told to the daemon, and the result of the task it became."""
    journal.append(Observation(source="user", event_type="request", target="inbox", details={"text": text}))
    done: Observation = await until(partial(result_of, journal))
    return done


def result_of(journal: Journal) -> Observation | None:
    done = [o for o in journal.observations(200) if o.source == "agent" and o.event_type in ("succeeded", "failed")]
    return done[-1] if done else None


async def test_a_task_s_tool_calls_pass_the_gate_and_its_branch_is_merged_after_a_restart(
    repo: Path, planted: Path, paths: Paths, fake_agents: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CONSCIOUS_FAKE_TOOLS", json.dumps(tools(repo)))
    head = Git(repo).head()
    async with running(paths, repo) as journal:
        api = journal.identity()["daemon"]["api_url"]
        result = await asked_and_done(journal)
        d = result.details
        task_id = d["task_id"]
        assert result.event_type == "succeeded"
        assert [c.split(" ", 1)[1] for c in d["commits"]] == ["Fix add"]
        assert (d["tool_calls"], d["tools_denied"]) == (4, 2) and "gate_armed" not in d
        assert "deletes recursively" in d["denials"][0] and "outside the task's worktree" in d["denials"][1]
        refused = journal.tool_calls(task_id)
        assert [(r["tool"], r["verdict"]) for r in refused] == [("Bash", "denied"), ("Write", "denied")]
        token = (paths.state_dir / "api-token").read_text().strip()
        async with httpx.AsyncClient(base_url=api, headers={"Authorization": f"Bearer {token}"}) as client:
            metrics = (await client.get("/metrics")).text
            assert 'conscious_tool_calls_total{agent="claude-code",verdict="denied"} 2.0' in metrics
            assert 'conscious_tool_calls_total{agent="claude-code",verdict="allowed"} 2.0' in metrics
            # Another task's token, or none, gets nothing from the hook route.
            hook = await client.post(f"/api/hooks/{task_id}", json={"event": "pre-tool-use", "payload": {}})
            assert hook.status_code == 403
        # The user's tree: untouched, tests and all; the planted hooks never ran.
        assert (repo / "tests" / "test_calc.py").exists()
        assert (repo / "calc.py").read_text().endswith("a - b\n") and Git(repo).head() == head
        assert Git(repo).dirty() == []
        assert not list(planted.parent.glob("planted-*"))
        # What the user reads: the branch and the refusals in the log, the workspace in status.
        shown = CliRunner().invoke(app, ["log"], env={"COLUMNS": "300"})
        assert f"branch conscious/task-{task_id}: 1 commit(s), 1 file changed" in shown.output, shown.output
        assert "refused at the tool call: Bash: rm -rf tests — deletes recursively" in shown.output
        status = CliRunner().invoke(app, ["status"], env={"COLUMNS": "300"})
        assert "clones: a clone and branch per task of claude-code, claude-flow" in status.output

    # Started again: the worktree is still there, and merged from the command line.
    async with running(paths, repo) as journal:
        runner = CliRunner()
        shown = runner.invoke(app, ["diff", str(task_id)])
        assert shown.exit_code == 0 and "+    return a + b" in shown.output
        listed = runner.invoke(app, ["worktrees"])
        assert f"task {task_id}" in listed.output
        merged = runner.invoke(app, ["merge", str(task_id)])
        assert merged.exit_code == 0 and "fast-forward" in merged.output, merged.output
        assert (repo / "calc.py").read_text().endswith("a + b\n") and (repo / "tests").exists()
        assert journal.worktree(task_id)["state"] == "merged"  # type: ignore[index]
        assert f"conscious/task-{task_id}" not in git(repo, "branch")
        again = runner.invoke(app, ["merge", str(task_id)])
        assert again.exit_code == 1 and "merged already" in again.output
        gone = runner.invoke(app, ["diff", str(task_id)])  # its branch went with the merge
        assert gone.exit_code == 1 and "branch was merged: nothing to diff" in gone.output, gone.output


async def test_a_conflict_leaves_the_tree_untouched_and_discard_removes_the_branch(
    repo: Path, paths: Paths, fake_agents: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CONSCIOUS_FAKE_TOOLS", json.dumps(tools(repo)[:2]))
    async with running(paths, repo) as journal:
        task_id = (await asked_and_done(journal)).details["task_id"]
        # Meanwhile the user fixed it differently and committed.
        (repo / "calc.py").write_text("def add(a, b):\n    return b + a\n")
        git(repo, "commit", "-q", "-am", "my own fix")
        head = Git(repo).head()
        runner = CliRunner()
        refused = runner.invoke(app, ["merge", str(task_id)])
        assert refused.exit_code == 1 and "conflicts" in refused.output and "calc.py" in refused.output
        assert len(refused.output.strip().splitlines()) == 1
        assert Git(repo).head() == head and Git(repo).dirty() == []
        assert (repo / "calc.py").read_text().endswith("b + a\n")
        thrown = runner.invoke(app, ["discard", str(task_id)])
        assert thrown.exit_code == 0
        assert not (paths.state_dir / "worktrees" / f"task-{task_id}").exists()
        assert f"conscious/task-{task_id}" not in git(repo, "branch")
