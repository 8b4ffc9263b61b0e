"""Agents that are a command line: Claude Flow by default, and any the user defines.

An agent that starts Claude Code itself (Claude Flow) gets the gate's hooks the only way it can
be given them: as the workspace's ``.claude/settings.local.json`` for the length of the run.
Such an agent also loads the repository's own ``.claude/settings.json``, so it is refused in a
repository whose settings define hooks, unless those are trusted.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

from conscious.delegate.base import Outcome, PgidCallback, RunContext, tail
from conscious.errors import CommandNotFound
from conscious.model import Task, TaskState
from conscious.system.process import run_process


class CommandDelegate:
    confined = True

    def __init__(
        self,
        name: str,
        argv: Sequence[str],
        *,
        init_argv: Sequence[str] = (),
        init_marker: str | None = None,
        required: Sequence[str] = (),
        claude_settings: bool = False,
    ) -> None:
        self.name = name
        self.template = [*argv, *(flag for flag in required if flag not in argv)]
        """``required``: flags the command line always has, whatever the config says."""
        self.claude_settings = claude_settings
        self.init_argv = list(init_argv)
        """Run first when ``init_marker`` (relative to the working folder) does not exist yet."""
        self.init_marker = init_marker

    def argv(self, command: str) -> list[str]:
        # Substituted as one argument each: the command is never parsed by a shell.
        return [part.replace("{command}", command) for part in self.template]

    async def run(self, task: Task, ctx: RunContext, on_start: PgidCallback) -> Outcome:
        if not self.claude_settings or ctx.settings is None:
            return await self._run(task, ctx, on_start)
        planted = _hooks_in(ctx.cwd / ".claude" / "settings.json")
        if planted and not ctx.trust_project:
            return Outcome(
                "failed",
                f"{self.name}: refused: the repository's .claude/settings.json defines hooks ({planted}) that"
                " it would run; set trust_repository_settings = true to allow them",
            )
        local = ctx.cwd / ".claude" / "settings.local.json"
        kept = local.read_bytes() if local.exists() else None
        local.parent.mkdir(exist_ok=True)
        local.write_bytes(ctx.settings.read_bytes())
        try:
            return await self._run(task, ctx, on_start)
        finally:
            if kept is None:
                local.unlink(missing_ok=True)
            else:
                local.write_bytes(kept)

    async def _run(self, task: Task, ctx: RunContext, on_start: PgidCallback) -> Outcome:
        if self.init_argv and self.init_marker and not (ctx.cwd / self.init_marker).exists():
            try:
                init = await run_process(
                    ctx.cell.wrap(self.init_argv),
                    cwd=ctx.cwd,
                    timeout=ctx.timeout,
                    grace=ctx.grace,
                    on_output=ctx.on_output,
                    limits=ctx.limits,
                )
            except CommandNotFound as exc:
                return Outcome("failed", f"{self.name}: {exc}", event="not-installed")
            if init.exit_code != 0:
                detail = tail(init.stderr or init.stdout, 300)
                return Outcome("failed", f"{self.name}: set-up failed ({init.exit_code}): {detail}", init.exit_code)
        try:
            result = await run_process(
                ctx.cell.wrap(self.argv(task.command)),
                cwd=ctx.cwd,
                limits=ctx.limits,
                timeout=ctx.timeout,
                grace=ctx.grace,
                on_start=on_start,
                on_output=ctx.on_output,
            )
        except CommandNotFound as exc:
            return Outcome("failed", f"{self.name}: {exc}", event="not-installed")
        if result.timed_out:
            return Outcome("timeout", f"{self.name}: no result within {ctx.timeout:.0f}s", result.exit_code)
        output = result.stdout if result.stdout.strip() else result.stderr
        state: TaskState = "succeeded" if result.exit_code == 0 else "failed"
        if state == "failed" and result.stderr.strip():
            output = result.stderr
        return Outcome(state, tail(output) or f"exit code {result.exit_code}", result.exit_code)


def _hooks_in(settings: Path) -> str:
    """The hook events a settings file defines ('' when none, or no such file)."""
    try:
        data = json.loads(settings.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return "unreadable" if settings.exists() else ""
    hooks = data.get("hooks") if isinstance(data, dict) else None
    return ", ".join(sorted(hooks)) if isinstance(hooks, dict) and hooks else ""
