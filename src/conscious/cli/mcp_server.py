"""`conscious mcp`: the running orchestrator as an MCP server (stdio), so that Claude Code or any
MCP client can tell it something, read its status and log, answer its approvals and read a
task's diff. Built on the official ``mcp`` SDK. Like every command, it talks to the daemon's
API when one runs and to the journal otherwise; a tool that cannot do what it was asked returns
an error result with one line, never a traceback.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, ParamSpec, TypeVar

import conscious
from conscious.cli.client import through_daemon
from conscious.cli.common import HomeOpt, app, friendly
from conscious.cli.show import recent_decisions
from conscious.cli.talk import await_reply
from conscious.control.status import status_report
from conscious.delegate import branches
from conscious.errors import ConsciousError
from conscious.gate.answers import answer
from conscious.gate.approvals import Answer, Approvals
from conscious.journal import Journal
from conscious.model import request
from conscious.paths import Paths
from conscious.think import asks

if TYPE_CHECKING:
    from mcp.server.mcpserver import MCPServer

INSTRUCTIONS = (
    "conscious is a local LLM orchestrator that watches a project, decides, and delegates work to coding "
    "agents. Tell it what you want done (`tell`); read what it saw and did (`status`, `log`); answer the "
    "delegations that wait for a person (`approvals`, `approve`, `deny`); read what a task changed (`diff`)."
)


ANSWER_WAIT = 60.0
"""Seconds `tell` waits for the answer to a question (the loop decides it, the memory agent answers)."""

P = ParamSpec("P")
R = TypeVar("R")
T = TypeVar("T")


def said(fn: Callable[P, R]) -> Callable[P, R]:
    """Our errors reach the client as the tool's error, in one line (the SDK shows anything
    else as a bare "Error executing tool")."""

    @functools.wraps(fn)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return fn(*args, **kwargs)
        except ConsciousError as exc:
            from mcp.server.mcpserver.exceptions import ToolError

            raise ToolError(str(exc)) from None

    return wrapper


def build_server(paths: Paths) -> MCPServer:
    # The SDK is imported here, when the server is made: every other command would pay ~0.5 s.
    from mcp.server.mcpserver import MCPServer

    server = MCPServer("conscious", instructions=INSTRUCTIONS, version=conscious.__version__)

    def daemon(method: str, path: str, body: dict[str, Any] | None = None) -> Any | None:
        return through_daemon(paths, method, path, body)

    def journal() -> Journal:
        if not paths.journal.exists():
            raise ConsciousError(f"no journal at {paths.journal} yet: start `conscious run` first")
        return Journal(paths.journal)

    @server.tool()
    @said
    def tell(text: str) -> str:
        """Give the orchestrator a request or a fact, as `conscious tell` does."""
        obs = request(text)
        if (told := daemon("POST", "/api/inbox", {"text": obs.details["text"]})) is not None:
            queued = f"queued as observation #{told['id']}"
            if asks.kind(obs.details["text"]) not in ("question", "vague"):
                return queued
            said = await_reply(paths, told["id"], ANSWER_WAIT)
            return f"{queued}\n{said}" if said is not None else f"{queued}; no answer yet: see the `log` tool"
        paths.ensure()
        return f"queued as observation #{Journal(paths.journal).append(obs)}"

    @server.tool()
    @said
    def status() -> dict[str, Any]:
        """The daemon's status: running or not, model, context, budget, waiting approvals, counts."""
        live: dict[str, Any] | None = daemon("GET", "/api/status")
        return live if live is not None else _plain(status_report(journal()))

    @server.tool()
    @said
    def log(limit: int = 10) -> list[dict[str, Any]]:
        """The latest decisions, oldest first: what was seen, what was decided and why, the task and its result."""
        found = recent_decisions(paths, journal(), max(1, min(limit, 100)), False)
        return _plain(found)

    @server.tool()
    @said
    def approvals() -> dict[str, Any]:
        """Delegations waiting for a person's answer."""
        waiting = _plain(Approvals(journal()).waiting())
        # Never empty content: a client shows nothing at all for an empty list.
        said = f"{len(waiting)} waiting for an answer" if waiting else "nothing is waiting for an answer"
        return {"said": said, "waiting": waiting}

    def answered(approval_id: int, given: Answer, reason: str | None) -> str:
        verb = "approve" if given == "approved" else "deny"
        reply = daemon("POST", f"/api/approvals/{approval_id}/{verb}", {"reason": reason})
        request = (
            reply["request"] if reply is not None else answer(journal(), approval_id, given, reason=reason).request
        )
        return f"{given} #{approval_id}: {request['agent']}: {request['command'][:200]}"

    @server.tool()
    @said
    def approve(approval_id: int) -> str:
        """Let a waiting delegation start (every other rule of the gate is checked again)."""
        return answered(approval_id, "approved", None)

    @server.tool()
    @said
    def deny(approval_id: int, reason: str | None = None) -> str:
        """Refuse a waiting delegation; the model is told, with the reason."""
        return answered(approval_id, "denied", reason)

    @server.tool()
    @said
    def diff(task_id: int) -> str:
        """What a task changed in its worktree: its branch against where it began."""
        reply = daemon("GET", f"/api/tasks/{task_id}/diff")
        text: str = reply["diff"] if reply is not None else branches.diff(journal(), task_id)
        return text or "no changes"

    return server


def _plain(value: T) -> T:
    """JSON-able as MCP wants it (timestamps and paths as strings)."""
    plain: T = json.loads(json.dumps(value, default=str))
    return plain


@app.command()
@friendly
def mcp(home: HomeOpt = None) -> None:
    """Serve the orchestrator over MCP on stdin/stdout (Claude Code: `claude mcp add conscious -- conscious mcp`)."""
    import logging

    # Standard error is the client's log: one line per HTTP request to the daemon is noise there.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    build_server(Paths.resolve(home)).run("stdio")
