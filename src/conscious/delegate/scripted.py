"""``ScriptedDelegate``: the ``Delegate`` plug point's in-tree fake. It hands back queued
outcomes (or raises queued exceptions) in order and keeps the tasks it was given; it starts
no process. The agents' real CLIs are tested through stand-ins on PATH (``tests/fakes/bin``):
this is for the dispatcher's own logic and for benchmarks that isolate our overhead."""

from __future__ import annotations

import asyncio
from collections import deque

from conscious.delegate.base import Outcome, PgidCallback, RunContext
from conscious.model import Task


class ScriptedDelegate:
    confined = False

    def __init__(self, name: str, *outcomes: Outcome | BaseException, delay: float = 0.0) -> None:
        self.name = name
        self.outcomes: deque[Outcome | BaseException] = deque(outcomes)
        self.delay = delay
        self.tasks: list[Task] = []

    def enqueue(self, *outcomes: Outcome | BaseException) -> None:
        self.outcomes.extend(outcomes)

    async def run(self, task: Task, ctx: RunContext, on_start: PgidCallback) -> Outcome:
        self.tasks.append(task)
        if self.delay:
            await asyncio.sleep(self.delay)
        if ctx.on_output is not None:
            ctx.on_output()
        step = self.outcomes.popleft() if self.outcomes else Outcome("succeeded", f"done: {task.command}")
        if isinstance(step, BaseException):
            raise step
        return step
