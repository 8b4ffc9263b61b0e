"""`conscious mcp` as Claude Code would run it: a subprocess spoken to over stdio by the
official SDK's own client. The daemon is not running here: every tool works on the journal."""

from __future__ import annotations

import json
import os
import sys
from datetime import timedelta
from pathlib import Path

from mcp import Client
from mcp.client.stdio import StdioServerParameters

from conscious.journal import Journal
from conscious.model import Decision, DecisionRecord, Task, utcnow
from conscious.paths import Paths


def server(home: Path) -> StdioServerParameters:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CONSCIOUS_")}
    return StdioServerParameters(
        command=sys.executable, args=["-m", "conscious", "mcp"], env={**env, "CONSCIOUS_HOME": str(home)}
    )


def text(result: object) -> str:
    return "".join(getattr(c, "text", "") for c in result.content)  # type: ignore[attr-defined]


async def test_every_tool_through_the_sdk_s_own_client(home: Path) -> None:
    paths = Paths.resolve(home)
    async with Client(server(home)) as client:
        names = {t.name for t in (await client.list_tools()).tools}
        assert {"tell", "status", "log", "approvals", "approve", "deny", "diff"} <= names

        told = await client.call_tool("tell", {"text": "the login page is slow, find out why"})
        assert not told.is_error and text(told).startswith("queued as observation #")
        none = await client.call_tool("approvals", {})
        assert not none.is_error and "nothing is waiting for an answer" in text(none)
        journal = Journal(paths.journal)
        [obs] = [o for o in journal.observations(10) if o.source == "user"]
        assert obs.details["text"] == "the login page is slow, find out why"

        # A delegation waiting for a person, as the gate leaves it; answered through MCP.
        decision = Decision(
            action_type="delegate",
            reasoning="r",
            target_agent="claude-code",
            command="profile the login view",
            priority="high",
            confidence=0.9,
        )
        task = Task(decision_id=0, agent="claude-code", command="profile the login view", state="awaiting-approval")
        expires = utcnow() + timedelta(hours=1)
        made = journal.record_decision(
            DecisionRecord.of(decision, [], verdict="awaiting-approval", task=task, approval_expires=expires)
        ).task
        assert made is not None
        request = made.approval_id
        waiting = await client.call_tool("approvals", {})
        assert "profile the login view" in text(waiting) and "1 waiting for an answer" in text(waiting)
        denied = await client.call_tool("deny", {"approval_id": request, "reason": "not now"})
        assert not denied.is_error and text(denied).startswith(f"denied #{request}: claude-code")

        status = await client.call_tool("status", {})
        assert json.loads(text(status))["counts"]["observations"] >= 1
        shown = await client.call_tool("log", {"limit": 5})
        assert "profile the login view" in text(shown)

        missing = await client.call_tool("diff", {"task_id": 999})
        assert missing.is_error and "has no worktree" in text(missing)


def test_the_real_claude_code_connects_to_it(home: Path, tmp_path: Path) -> None:
    """The one line the README gives (`claude mcp add …`), then `claude mcp list`, whose health
    check starts the server and speaks MCP to it (no account needed)."""
    import subprocess

    from tests.delegate.test_real_clis import CLAUDE, require

    claude = str(require(CLAUDE))
    env = {**os.environ, "HOME": str(tmp_path / "user")}
    (tmp_path / "user").mkdir()
    command = [sys.executable, "-m", "conscious", "mcp", "--home", str(home)]
    added = subprocess.run(
        [claude, "mcp", "add", "--scope", "user", "conscious", "--", *command],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert added.returncode == 0, added.stderr
    listed = subprocess.run([claude, "mcp", "list"], env=env, capture_output=True, text=True, timeout=120)
    assert "conscious:" in listed.stdout and "Connected" in listed.stdout, listed.stdout + listed.stderr
