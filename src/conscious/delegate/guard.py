"""The gate at each tool call of a running agent: Claude Code's hooks ask the daemon.

When a task starts, ``ToolGuard.arm`` writes the settings the agent is started with: a
``PreToolUse`` hook for every tool and a ``SessionStart`` hook, both the command
``python -m conscious.delegate.hook`` (``hook.py``), which asks the daemon's control API with a
token good for that task only (the API's own token never reaches an agent). The daemon judges
the call with ``gate.tools.ToolPolicy``; a refusal is journaled with the task, reported live and
told to the agent. The hook fails closed: no answer, a wrong answer or a crash of the hook
itself is exit code 2, which Claude Code treats as a refusal (any other code would let the
call through).

With the control API off (``api = false``) the hook judges by itself, with the same policy
written next to the settings, and leaves each verdict in a file the guard books when the
task ends: the gate holds either way; only the live report waits.
"""

from __future__ import annotations

import json
import os
import secrets
import shlex
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from conscious.gate.tools import ToolCall, ToolPolicy, ToolVerdict, call_of
from conscious.model import Task

DENIALS_SHOWN = 5
LOCAL = "local"
"""The hook's address when it judges by itself."""
CALLS = "calls.jsonl"
"""Refusals quoted in a task's result (all are in the journal)."""


class GuardJournal(Protocol):
    """The journal as the tool gate uses it: each call an agent made, and the verdict."""

    def record_tool_call(self, task_id: int, tool: str, tool_input: object, verdict: str, reason: str) -> int: ...


@dataclass
class Armed:
    task: Task
    root: str
    token: str
    calls: Path | None = None
    """Where the hook leaves its own verdicts when there is no API to ask."""
    allowed: int = 0
    denied: list[str] = field(default_factory=list)
    session_started: bool = False


class ToolGuard:
    def __init__(
        self,
        journal: GuardJournal,
        policy: ToolPolicy,
        folder: Path,
        *,
        timeout: float = 20.0,
        python: str = sys.executable,
        on_call: Callable[[Task, ToolCall, ToolVerdict], None] | None = None,
    ) -> None:
        self.journal = journal
        self.policy = policy
        self.folder = folder
        """Where the per-task settings and tokens are written (the state directory's ``tasks/``)."""
        self.timeout = timeout
        self.python = python
        self.on_call = on_call
        self.url: str | None = None
        """The control API's address, once it serves (None: the hook judges by itself)."""
        self.armed: dict[int, Armed] = {}

    def arm(self, task: Task, root: Path, *, local: bool = False) -> Path:
        """Settings for ``task`` working in ``root``; the hooks in it reach this guard.
        ``local``: the hook judges by itself even when the API serves (in a sandbox cell, which
        reaches no daemon: the policy is bound in read-only, the verdicts file writable)."""
        assert task.id is not None
        token = secrets.token_urlsafe(24)
        here = self.folder / f"task-{task.id}"
        here.mkdir(parents=True, exist_ok=True, mode=0o700)
        (here / CALLS).unlink(missing_ok=True)
        local = local or self.url is None
        if local:
            (here / CALLS).touch(mode=0o600)
            policy = {"root": str(root), **{k: list(getattr(self.policy, k)) for k in ("deny", "allow", "paths")}}
            secret = here / "policy.json"
            secret.write_text(json.dumps(policy), encoding="utf-8")
        else:
            secret = here / "hook-token"
            secret.write_text(token, encoding="utf-8")
        os.chmod(secret, 0o600)
        settings = here / "settings.json"
        settings.write_text(json.dumps(self.settings(task.id, secret, local=local), indent=2), encoding="utf-8")
        self.armed[task.id] = Armed(task, str(root), token, calls=here / CALLS if local else None)
        return settings

    def settings(self, task_id: int, secret: Path, *, local: bool = False) -> dict[str, Any]:
        def hook(event: str) -> dict[str, Any]:
            where = LOCAL if local or self.url is None else self.url
            argv = [self.python, "-m", "conscious.delegate.hook", event, where, str(task_id), str(secret)]
            argv.append(f"{self.timeout:g}")
            # `|| exit 2`: whatever goes wrong in the hook (even before our code runs) refuses the call.
            return {"type": "command", "command": shlex.join(argv) + " || exit 2", "timeout": int(self.timeout) + 10}

        return {
            "hooks": {
                "PreToolUse": [{"matcher": "*", "hooks": [hook("pre-tool-use")]}],
                "SessionStart": [{"hooks": [hook("session-start")]}],
            }
        }

    def disarm(self, task_id: int) -> dict[str, Any]:
        """What the task's tool calls came to, for its result."""
        armed = self.armed.pop(task_id, None)
        if armed is None:
            return {}
        if armed.calls is not None:
            self._book_local(armed)
        out: dict[str, Any] = {"tool_calls": armed.allowed + len(armed.denied), "tools_denied": len(armed.denied)}
        if armed.denied:
            out["denials"] = armed.denied[:DENIALS_SHOWN]
        if not armed.session_started:
            out["gate_armed"] = False  # the agent never started a session with our hooks
        return out

    def answer(self, task_id: int, token: str, event: str, payload: dict[str, Any]) -> dict[str, Any] | None:
        """The hook's answer; None when the token is not this task's (or it is not running)."""
        armed = self.armed.get(task_id)
        if armed is None or not secrets.compare_digest(armed.token.encode(), token.encode()):
            return None
        if event == "session-start":
            armed.session_started = True
            return {"allow": True, "reason": "armed"}
        call = call_of(payload)
        if call is None:
            call, verdict = ToolCall("?", {}), ToolVerdict(False, "a tool call without tool_name and tool_input")
        else:
            verdict = self.policy.judge(call, armed.root)
        self._book(armed, call, verdict)
        return {"allow": verdict.allowed, "reason": verdict.reason}

    def _book_local(self, armed: Armed) -> None:
        """The verdicts the hook gave by itself (no API), booked as if it had asked."""
        assert armed.calls is not None
        try:
            lines = armed.calls.read_text(encoding="utf-8").splitlines()
        except FileNotFoundError:
            return
        for line in lines:
            try:
                entry = json.loads(line)
            except ValueError:
                continue  # a line cut short by a killed hook: its call was refused (exit 2)
            if entry.get("event") == "session-start":
                armed.session_started = True
            elif isinstance(entry.get("tool"), str) and isinstance(entry.get("input"), dict):
                call = ToolCall(entry["tool"], entry["input"])
                self._book(armed, call, ToolVerdict(bool(entry.get("allowed")), str(entry.get("reason"))))

    def _book(self, armed: Armed, call: ToolCall, verdict: ToolVerdict) -> None:
        task_id = armed.task.id or 0
        if verdict.allowed:
            armed.allowed += 1
        else:
            armed.denied.append(f"{call.text()[:160]} — {verdict.reason}")
            self.journal.record_tool_call(task_id, call.tool, dict(call.input), "denied", verdict.reason)
        if self.on_call is not None:
            self.on_call(armed.task, call, verdict)
