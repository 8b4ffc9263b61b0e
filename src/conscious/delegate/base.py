"""The ``Delegate`` plug point: an agent that runs one task and reports how it went."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from conscious.delegate.sandbox import Cell
from conscious.model import Task, TaskState, utcnow
from conscious.system.process import ProcessLimits


@dataclass
class Outcome:
    state: TaskState
    result: str
    exit_code: int | None = None
    cost_usd: float | None = None
    num_turns: int | None = None
    session_id: str | None = None
    event: str | None = None
    """Observation event type when it differs from the state (e.g. ``not-installed``)."""

    def row(self) -> dict[str, object]:
        """The task's row fields once it ended this way."""
        return {
            "state": self.state,
            "ended": utcnow(),
            "exit_code": self.exit_code,
            "result": self.result,
            "cost_usd": self.cost_usd,
            "num_turns": self.num_turns,
            "session_id": self.session_id,
        }


@dataclass(frozen=True)
class RunContext:
    cwd: Path
    timeout: float
    grace: float
    on_output: Callable[[], None] | None = None
    """Called whenever the agent writes anything (how a stalled task is told from a busy one)."""
    settings: Path | None = None
    """Agent settings carrying the hooks that put each tool call before the gate."""
    resume: str | None = None
    """A session to continue (a retry in the same worktree)."""
    trust_project: bool = False
    """Whether the agent may load the repository's own agent settings (hooks, MCP servers)."""
    cell: Cell = field(default_factory=Cell)
    """The wall every process of the task starts in (``sandbox.py``)."""
    limits: ProcessLimits = field(default_factory=ProcessLimits)
    """What its processes may take."""


class Delegate(Protocol):
    name: str
    confined: bool
    """Whether it runs processes (and so needs the wall): the memory store does not."""

    async def run(self, task: Task, ctx: RunContext, on_start: PgidCallback) -> Outcome: ...


class PgidCallback(Protocol):
    def __call__(self, pgid: int) -> None: ...


def tail(text: str, limit: int = 2000) -> str:
    text = text.strip()
    return text if len(text) <= limit else "…" + text[-limit:]
