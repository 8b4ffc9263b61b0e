"""Claude Code in headless mode: ``claude -p --output-format stream-json --verbose -- <command>``.

Runs in its workspace (a worktree of its own, or the watched folder) with the configured
permission mode and tool lists, the settings that put each tool call before the gate, and
only the user's own setting sources unless the repository's are trusted; records the result,
cost, turns and session id from its final result object. The stream is watched as it
comes: a task that makes the same tool call with the same input ``loop_repeats`` times is
stopped and reported as a loop, while one that is merely slow (a long build) is not.
"""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

from conscious.config import ClaudeCodeConfig
from conscious.delegate.base import Outcome, PgidCallback, RunContext, tail
from conscious.errors import CommandNotFound
from conscious.model import Task
from conscious.system.process import run_process


class ClaudeCodeDelegate:
    name = "claude-code"
    confined = True

    def __init__(self, config: ClaudeCodeConfig) -> None:
        self.config = config

    def argv(self, command: str, ctx: RunContext | None = None) -> list[str]:
        c = self.config
        argv = [c.binary, "-p", "--output-format", "stream-json", "--verbose", "--permission-mode", c.permission_mode]
        if ctx is not None:
            if not ctx.trust_project:
                # Only the user's own settings, and ours: a hook or MCP server planted in the
                # watched repository's .claude/ never runs.
                argv += ["--setting-sources", "user", "--strict-mcp-config"]
            if ctx.settings is not None:
                argv += ["--settings", str(ctx.settings)]
            if ctx.resume:
                argv += ["--resume", ctx.resume]
        if c.max_turns:
            argv += ["--max-turns", str(c.max_turns)]
        if c.max_budget_usd is not None:
            argv += ["--max-budget-usd", f"{c.max_budget_usd:g}"]
        # The `=` form: the list options are variadic and would swallow a following argument.
        if c.allowed_tools:
            argv.append("--allowedTools=" + ",".join(c.allowed_tools))
        if c.disallowed_tools:
            argv.append("--disallowedTools=" + ",".join(c.disallowed_tools))
        # `--` ends the options: the prompt can never be read as a flag.
        return [*argv, *c.extra_args, "--", command]

    async def run(self, task: Task, ctx: RunContext, on_start: PgidCallback) -> Outcome:
        loops = LoopDetector(self.config.loop_repeats)
        try:
            result = await run_process(
                ctx.cell.wrap(self.argv(task.command, ctx)),
                cwd=ctx.cwd,
                limits=ctx.limits,
                timeout=ctx.timeout,
                grace=ctx.grace,
                on_start=on_start,
                on_line=loops.feed if self.config.loop_repeats else None,
                on_output=ctx.on_output,
            )
        except CommandNotFound:
            return Outcome(
                "failed",
                f"Claude Code CLI not installed ({self.config.binary} not found on PATH)",
                event="not-installed",
            )
        if result.timed_out:
            return Outcome("timeout", f"claude-code: no result within {ctx.timeout:.0f}s", result.exit_code)
        if result.stopped:
            return Outcome("failed", f"claude-code stopped: {loops.found}", result.exit_code, event="loop")
        data = _result_object(result.stdout)
        if data is None:
            detail = tail(result.stderr or result.stdout, 500) or "no output"
            return Outcome(
                "failed", f"claude-code exited {result.exit_code} without a JSON result: {detail}", result.exit_code
            )
        # "Not logged in" arrives as subtype "success" with is_error true: trust is_error and the exit code.
        is_error = bool(data.get("is_error")) or result.exit_code != 0 or str(data.get("subtype")).startswith("error")
        text = data.get("result")
        if not isinstance(text, str) or not text:
            errors = data.get("errors")
            text = "; ".join(map(str, errors)) if isinstance(errors, list) and errors else str(data.get("subtype"))
        return Outcome(
            "failed" if is_error else "succeeded",
            tail(text),
            result.exit_code,
            cost_usd=_float(data.get("total_cost_usd")),
            num_turns=_int(data.get("num_turns")),
            session_id=data.get("session_id") if isinstance(data.get("session_id"), str) else None,
        )


class LoopDetector:
    """Counts the tool calls of a stream-json transcript; says stop at the N-th identical one."""

    def __init__(self, repeats: int) -> None:
        self.repeats = repeats
        self.calls: Counter[tuple[str, str]] = Counter()
        self.found = ""

    def feed(self, line: str) -> bool:
        try:
            message = json.loads(line)
        except ValueError:
            return False
        if not isinstance(message, dict) or message.get("type") != "assistant":
            return False
        content = (message.get("message") or {}).get("content")
        for item in content if isinstance(content, list) else []:
            if isinstance(item, dict) and item.get("type") == "tool_use":
                key = (str(item.get("name")), json.dumps(item.get("input"), sort_keys=True))
                self.calls[key] += 1
                if self.calls[key] >= self.repeats:
                    self.found = f"the same tool call repeated {self.calls[key]} times: {key[0]} {key[1][:160]}"
                    return True
        return False


def _result_object(stdout: str) -> dict[str, Any] | None:
    """The ``type: result`` object: the whole output, or the last JSON line of a stream."""
    candidates = [stdout.strip(), *reversed(stdout.strip().splitlines())]
    for text in candidates:
        try:
            data = json.loads(text)
        except ValueError:
            continue
        if isinstance(data, dict) and data.get("type") == "result":
            return data
    return None


def _float(v: object) -> float | None:
    return float(v) if isinstance(v, int | float) else None


def _int(v: object) -> int | None:
    return int(v) if isinstance(v, int | float) else None
