"""Agents that are a command line: Claude Flow by default, and any the user defines."""

from __future__ import annotations

from collections.abc import Sequence

from conscious.delegate.base import Outcome, PgidCallback, RunContext, tail
from conscious.errors import CommandNotFound
from conscious.model import Task, TaskState
from conscious.system.process import run_process


class CommandDelegate:
    def __init__(
        self, name: str, argv: Sequence[str], *, init_argv: Sequence[str] = (), init_marker: str | None = None
    ) -> None:
        self.name = name
        self.template = list(argv)
        self.init_argv = list(init_argv)
        """Run first when ``init_marker`` (relative to the working folder) does not exist yet."""
        self.init_marker = init_marker

    def argv(self, command: str) -> list[str]:
        # Substituted as one argument each: the command is never parsed by a shell.
        return [part.replace("{command}", command) for part in self.template]

    async def run(self, task: Task, ctx: RunContext, on_start: PgidCallback) -> Outcome:
        if self.init_argv and self.init_marker and not (ctx.cwd / self.init_marker).exists():
            try:
                init = await run_process(
                    self.init_argv, cwd=ctx.cwd, timeout=ctx.timeout, grace=ctx.grace, on_output=ctx.on_output
                )
            except CommandNotFound as exc:
                return Outcome("failed", f"{self.name}: {exc}", event="not-installed")
            if init.exit_code != 0:
                detail = tail(init.stderr or init.stdout, 300)
                return Outcome("failed", f"{self.name}: set-up failed ({init.exit_code}): {detail}", init.exit_code)
        try:
            result = await run_process(
                self.argv(task.command),
                cwd=ctx.cwd,
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
