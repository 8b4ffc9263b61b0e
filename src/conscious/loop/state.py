"""What the loop shares with those who watch it: one small state object.

In the manner of uvicorn's ``ServerState``: the orchestrator keeps it current, and the status
(``conscious status``, the API), the health loop and sd_notify read it — never the
orchestrator itself. The health loop writes its findings (``checks``) here too.
"""

from __future__ import annotations

import asyncio
import os
import time
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    from conscious.delegate.dispatch import Dispatcher
    from conscious.gate.gatekeeper import Gatekeeper
    from conscious.think.connection import Connection
    from conscious.think.context import ContextWindow


@dataclass
class LoopState:
    started: datetime
    watch: list[str]
    session: int = 0
    turn: int = 0
    activity: str = "starting"
    """What it is doing now, in a few words (sd_notify STATUS, the live page)."""
    llm: Literal["ok", "degraded"] = "ok"
    failures: int = 0
    """LLM calls failed in a row (the server down, or its model)."""
    journal_trouble: str | None = None
    """Why the journal cannot be written, while it cannot."""
    journal_failures: int = 0
    beat: float = field(default_factory=time.monotonic)
    """Monotonic time the loop last went round (or a thought last streamed): its heartbeat."""
    stall_after: float = 600.0
    """Seconds without a beat after which the loop counts as stalled (set from the config)."""
    last_activity: float = field(default_factory=time.monotonic)
    """When something other than the clock last happened (``time.monotonic``)."""
    observer_tasks: list[asyncio.Task[None]] = field(default_factory=list)
    observer_failures: dict[str, int] = field(default_factory=dict)
    """Observer name → failures in a row (it is restarted with back-off meanwhile)."""
    observer_errors: dict[str, str] = field(default_factory=dict)
    """Observer name → what its last failure said."""
    model: dict[str, Any] = field(default_factory=dict)
    """The server and model in use, as ``status`` shows them."""
    context: dict[str, Any] = field(default_factory=dict)
    """The context window's figures after the last step."""
    confidence_from: str | None = None
    """Where the last decision's confidence came from: ``logprobs`` (measured) or ``self-report``."""
    running_tasks: int = 0
    stalled: list[dict[str, object]] = field(default_factory=list)
    limits: dict[str, Any] = field(default_factory=dict)
    """The budgets in force."""

    def problems(self) -> list[str]:
        """What is wrong with the loop now, one line each (empty: healthy)."""
        found = []
        if self.llm != "ok":
            found.append(f"LLM server unavailable ({self.failures} failures)")
        if self.journal_trouble is not None:
            found.append(f"journal: {self.journal_trouble}")
        if (quiet := self.since_beat()) > self.stall_after:
            found.append(f"loop: no progress for {quiet:.0f} s")
        return found

    def since_beat(self) -> float:
        return time.monotonic() - self.beat

    def stalled_loop(self) -> bool:
        """The loop has not gone round for longer than any step may take: the watchdog stops."""
        return self.since_beat() > self.stall_after

    def status(self, running: bool = True) -> dict[str, Any]:
        """The loop's own part of ``conscious status``."""
        return {
            "running": running,
            "pid": os.getpid(),
            "started": self.started.isoformat(),
            "updated": datetime.now().astimezone().isoformat(),
            **self.model,
            **{k: v for k, v in self.context.items() if k != "fill"},
            "watch": self.watch,
            "confidence_from": self.confidence_from,
            "running_tasks": self.running_tasks,
            "limits": self.limits,
            "session": self.session,
            "activity": self.activity,
            "stalled": self.stalled,
        }


@dataclass
class Published:
    """What the daemon's other parts say of it beside the loop — the health loop's checks, the
    control API's address, the walls, the cluster — theirs to write. The loop only reads it, to
    publish it with its own state (in the journal, and live through the API)."""

    checks: dict[str, dict[str, Any]] = field(default_factory=dict)
    """The health loop's latest findings (``control/health.py``)."""
    facts: dict[str, Any] = field(default_factory=dict)

    def problems(self, state: LoopState) -> list[str]:
        """What is wrong now, one line each (empty: healthy)."""
        failing = [f"{n}: {c['detail']}" for n, c in self.checks.items() if not c["ok"] and n != "llm"]
        return state.problems() + failing

    def status(self, state: LoopState, running: bool = True) -> dict[str, Any]:
        """The running daemon's part of ``conscious status``: the loop's state, then the rest."""
        problems = self.problems(state)
        health = {"health": "degraded" if problems else "ok", "problems": problems, "checks": self.checks}
        return {**state.status(running), **health, **self.facts}


def share(state: LoopState, window: ContextWindow, conn: Connection, dispatcher: Dispatcher, gate: Gatekeeper) -> None:
    """What the running parts show of themselves, brought into the shared state."""
    state.context = {
        "context_budget": window.budget,
        "context_used": window.used,
        "memory_tokens": window.memory_tokens,
        "turns": len(window.turns),
        "fill": window.fill,
    }
    state.model = {
        "llm_url": conn.backend.url,
        "server": conn.info.server,
        "model": conn.info.model,
        "profile": conn.profile.name if conn.profile else None,
        "context_length": conn.context_length,
        "exact_tokens": conn.backend.exact_tokens,
    }
    state.running_tasks = len(dispatcher.running())
    state.stalled = dispatcher.stalled()
    state.limits = gate.limits()
