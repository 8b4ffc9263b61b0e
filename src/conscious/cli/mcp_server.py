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
from conscious.cli.client import Reached
from conscious.cli.common import HomeOpt, app, friendly
from conscious.cli.show import recent_decisions
from conscious.control.facade import Answer, asks_back
from conscious.errors import ConsciousError
from conscious.model import request
from conscious.paths import Paths

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

    @server.tool()
    @said
    def tell(text: str) -> str:
        """Give the orchestrator a request or a fact, as `conscious tell` does."""
        said = str(request(text).details["text"])
        with Reached(paths, make=True) as daemon:
            queued = f"queued as observation #{(obs_id := daemon.tell(said))}"
            if not daemon.live or not asks_back(said):
                return queued
            reply = daemon.journal.reply(obs_id, ANSWER_WAIT)
        return f"{queued}\n{reply}" if reply is not None else f"{queued}; no answer yet: see the `log` tool"

    @server.tool()
    @said
    def status() -> dict[str, Any]:
        """The daemon's status: running or not, model, context, budget, waiting approvals, counts."""
        with Reached(paths) as daemon:
            return _plain(daemon.status())

    @server.tool()
    @said
    def log(limit: int = 10) -> list[dict[str, Any]]:
        """The latest decisions, oldest first: what was seen, what was decided and why, the task and its result."""
        with Reached(paths) as daemon:
            return _plain(recent_decisions(daemon, max(1, min(limit, 100)), False))

    @server.tool()
    @said
    def approvals() -> dict[str, Any]:
        """Delegations waiting for a person's answer."""
        with Reached(paths, api=False) as daemon:
            waiting = _plain(daemon.waiting())
        # Never empty content: a client shows nothing at all for an empty list.
        said = f"{len(waiting)} waiting for an answer" if waiting else "nothing is waiting for an answer"
        return {"said": said, "waiting": waiting}

    def answered(approval_id: int, given: Answer, reason: str | None) -> str:
        with Reached(paths) as daemon:
            request = daemon.answer(approval_id, given, reason=reason, always=False, pattern=None).request
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
        with Reached(paths) as daemon:
            text: str = daemon.worktree(task_id, "diff")["diff"]
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
