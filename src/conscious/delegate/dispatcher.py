"""The local ``Dispatcher``: runs delegations here, concurrently (bounded), never blocking
observing or thinking.

A task is keyed by its decision (``tasks.decision_id`` is UNIQUE), so it starts at most
once. Every outcome — success, failure, timeout, missing CLI, cancellation — is written to
the journal and comes back into the loop as an ``agent`` observation.
"""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import signal
import tempfile
import time
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Protocol

from conscious.delegate.base import Delegate, Outcome, RunContext
from conscious.delegate.dispatch import RecordedEvents, TaskEvent, TaskEvents, ended
from conscious.delegate.guard import CALLS, ToolGuard
from conscious.delegate.proxy import Proxy
from conscious.delegate.sandbox import Cell, Rooms, Sandbox, Unwalled
from conscious.delegate.workspace import InPlace, Place, Workspace
from conscious.errors import ConsciousError
from conscious.model import Observation, RunningTask, Task, utcnow
from conscious.system.process import ProcessLimits, signal_group


class DispatcherJournal(Protocol):
    """The journal as the dispatcher uses it: the tasks' rows and what they report."""

    def append(self, obs: Observation) -> int: ...

    def update_task(self, task_id: int, **fields: Any) -> None: ...

    def finish_task(self, task_id: int, outcome: Observation, **fields: Any) -> int: ...

    def unfinished_tasks(self) -> list[Task]: ...

    def needing_folders(self, task_ids: Sequence[int]) -> set[int]:
        """Of these tasks, those whose folder a retry may still resume in."""


@dataclass
class _Job:
    task: Task
    runner: asyncio.Task[None]


class LocalDispatcher:
    def __init__(
        self,
        journal: DispatcherJournal,
        delegates: Mapping[str, Delegate],
        *,
        cwd: Path,
        max_concurrent: int = 2,
        timeout: float = 1800.0,
        timeouts: Mapping[str, float] | None = None,
        grace: float = 5.0,
        events: TaskEvents | None = None,
        workspace: Workspace | None = None,
        guard: ToolGuard | None = None,
        guarded: Collection[str] = ("claude-code", "claude-flow"),
        judged_by_diff: Collection[str] = ("claude-flow",),
        trust_project: bool = False,
        sandbox: Sandbox | None = None,
        proxy: Proxy | None = None,
        hidden: Sequence[Path] = (),
        scratch: Path | None = None,
        limits: ProcessLimits | None = None,
    ) -> None:
        self.journal = journal
        self.delegates = dict(delegates)
        self.ctx = RunContext(cwd=cwd, timeout=timeout, grace=grace, trust_project=trust_project)
        if limits is not None:
            self.ctx = replace(self.ctx, limits=limits)
        self.sandbox: Sandbox = sandbox or Unwalled()
        self.proxy = proxy
        """Started with the first walled task: its cells' only way out."""
        self.hidden = tuple(hidden)
        """What no agent may see: the daemon's state (config, journal, tokens, other tasks)."""
        self.scratch = scratch or Path(tempfile.gettempdir()) / "conscious-cells"
        """Where each cell keeps its private /tmp and its copies of the home paths it may write."""
        self.workspace: Workspace = workspace or InPlace(cwd)
        self.guard = guard
        """Puts each tool call of the ``guarded`` agents before the gate (None: only the delegation is judged)."""
        self.guarded = set(guarded)
        self.judged_by_diff = set(judged_by_diff)
        """Agents whose success is what their worktree shows (commits), not what they claim."""
        self._places: dict[int, Place] = {}
        self.timeouts = dict(timeouts or {})
        """Per-agent wall time, where it differs from ``timeout``."""
        self.slots = asyncio.Semaphore(max_concurrent)
        self._jobs: dict[int, _Job] = {}
        self.events: TaskEvents = events or RecordedEvents()
        self.last_output: dict[int, float] = {}
        """Running task id → when (monotonic) it last wrote anything, or started."""
        self._stalled: dict[int, float] = {}
        """Tasks reported stalled → since when they have been silent."""

    def _run_of(self, task: Task) -> RunningTask:
        place = self._places.get(task.id or 0)
        return RunningTask(task, place.cwd if place is not None else self.ctx.cwd)

    def running(self) -> list[RunningTask]:
        return [self._run_of(job.task) for job in self._jobs.values()]

    def start(self, task: Task) -> None:
        assert task.id is not None
        self._jobs[task.id] = _Job(task, asyncio.create_task(self._run(task), name=f"task-{task.id}"))

    async def _run(self, task: Task) -> None:
        assert task.id is not None
        delegate = self.delegates.get(task.agent)
        extra: dict[str, object] = {}
        try:
            async with self.slots:
                self.journal.update_task(task.id, state="running", started=utcnow())
                self.last_output[task.id] = time.monotonic()
                self._emit("started", task, None)
                if delegate is None:
                    outcome = Outcome("failed", f"no delegate named {task.agent}", event="not-installed")
                else:
                    outcome, extra = await self._delegate(delegate, task)
        except asyncio.CancelledError:
            outcome = Outcome("interrupted", "stopped: the orchestrator shut down")
            self._finish(task, outcome)
            raise
        except Exception as exc:  # a delegate bug must still come back as an observation
            outcome = Outcome("failed", f"{task.agent} delegate error: {exc!r}")
        self._finish(task, outcome, extra)

    async def _delegate(self, delegate: Delegate, task: Task) -> tuple[Outcome, dict[str, object]]:
        """Prepare the task's workspace and gate, run it, and say what its workspace shows."""
        assert task.id is not None
        walled = self.sandbox.walled and delegate.confined
        if walled and (why := await asyncio.to_thread(self.sandbox.unavailable)) is not None:
            # Fails closed: no wall, no task.
            return Outcome("failed", f"{task.agent} did not start: {why}", event="sandbox-unavailable"), {}
        try:
            place = await self.workspace.prepare(task)
            armed = self.guard is not None and task.agent in self.guarded
            settings = self.guard.arm(task, place.root, local=walled) if self.guard and armed else None
            cell = await self._cell(task, place, settings) if walled else self.ctx.cell
        except ConsciousError as exc:
            return Outcome("failed", f"{task.agent} could not start: {exc}"), {}
        self._places[task.id] = place
        ctx = replace(
            self.ctx,
            cwd=place.cwd,
            cell=cell,
            settings=settings,
            resume=place.resume,
            timeout=self.timeouts.get(task.agent, self.ctx.timeout),
            on_output=lambda: self._wrote(task.id or 0),
        )
        outcome = await delegate.run(task, ctx, lambda pgid: self.journal.update_task(task.id or 0, pgid=pgid))
        extra = await self.workspace.finish(task, outcome, ctx.cell)
        if task.agent in self.judged_by_diff and outcome.state == "succeeded" and extra.get("commits") == []:
            said = f"{task.agent} said it succeeded, but changed nothing in its worktree"
            outcome = replace(outcome, state="failed", result=said)
        return outcome, extra

    async def _cell(self, task: Task, place: Place, settings: Path | None) -> Cell:
        """The task's wall: its folder writable; the daemon's state, the user's checkout and
        other tasks hidden, but for what its clone borrows and its own hook."""
        if self.proxy is not None:
            await self.proxy.start()
        readable, writable = list(place.readable), []
        if settings is not None:
            hook = settings.parent
            readable += [p for p in hook.iterdir() if p.is_file() and p.name != CALLS]
            writable.append(hook / CALLS)
        scratch = self.scratch / f"task-{task.id}" / "cell"
        earlier = self.scratch / f"task-{place.continues}" / "cell"
        if place.continues is not None and earlier.is_dir() and not scratch.exists():
            # A retry takes over the clone and the cell together: the session it resumes is there.
            scratch.parent.mkdir(parents=True, exist_ok=True)
            earlier.rename(scratch)
            _remove_soon(earlier.parent)  # the rest of it (its hook's settings) was its own
        rooms = Rooms(place.root, place.cwd, scratch, [*self.hidden, *place.hidden], readable, writable)
        return self.sandbox.cell(rooms)

    def _finish(self, task: Task, outcome: Outcome, extra: Mapping[str, object] | None = None) -> None:
        assert task.id is not None
        self._jobs.pop(task.id, None)
        self.last_output.pop(task.id, None)
        self._stalled.pop(task.id, None)
        details = dict(extra or {})
        if self.guard is not None:
            details.update(self.guard.disarm(task.id))
        if (changed := self.events.changes(task.id)) is not None:
            details["files_changed"] = changed
        obs = ended(task, outcome, details)
        self.journal.finish_task(task.id, obs, **outcome.row())
        if not self.journal.needing_folders([task.id]):
            _remove_soon(self.scratch / f"task-{task.id}")
        self._emit("finished", task, outcome)
        self._places.pop(task.id, None)  # after: the event says where it worked
        self.events.noticed(obs)

    async def sweep(self) -> list[str]:
        """Old clones with nothing of theirs let go (the workspace's rule), and task folders no
        task needs any more removed (those a crash or a retry left, those of another run of the
        journal). The removal on another thread."""
        notes = await self.workspace.prune()
        found = {int(p.name[5:]): p for p in self.scratch.glob("task-*") if p.name[5:].isdigit()}
        keep = self.journal.needing_folders(list(found)) | set(self._jobs) if found else set()
        if gone := [path for task_id, path in found.items() if task_id not in keep]:
            await asyncio.to_thread(_remove_all, gone)
            notes.append(f"{len(gone)} task folder(s) no task needs removed")
        return notes

    async def describe(self) -> dict[str, str]:
        """The wall said loudly when there is none: no task can start."""
        wall = self.sandbox.describe()
        if (why := await asyncio.to_thread(self.sandbox.unavailable)) is not None:
            wall = f"UNAVAILABLE — no agent task can start: {why}"
        return {"workspace": self.workspace.describe(), "sandbox": wall}

    def _wrote(self, task_id: int) -> None:
        self.last_output[task_id] = time.monotonic()
        if self._stalled.pop(task_id, None) is not None and task_id in self._jobs:
            self._emit("resumed", self._jobs[task_id].task, None)

    def stalls(self, after: float) -> list[Observation]:
        """Running tasks silent for ``after`` seconds, each reported once per silence (journaled
        here; it writes again → it is no longer stalled, and may be reported again later)."""
        now = time.monotonic()
        found = []
        for task_id, since in list(self.last_output.items()):
            if now - since < after or task_id in self._stalled or task_id not in self._jobs:
                continue
            self._stalled[task_id] = since
            task = self._jobs[task_id].task
            obs = Observation(
                source="agent",
                event_type="stalled",
                target=f"{task.agent}#{task_id}",
                severity="warning",
                details={
                    "task_id": task_id,
                    "agent": task.agent,
                    "command": task.command[:200],
                    "silent_s": round(now - since),
                    "note": "still running, but has written nothing for this long",
                },
            )
            self.journal.append(obs)
            self._emit("stalled", task, None)
            found.append(obs)
        return found

    def stalled(self) -> list[dict[str, object]]:
        now = time.monotonic()
        return [
            {
                "task_id": task_id,
                "agent": self._jobs[task_id].task.agent,
                "command": self._jobs[task_id].task.command[:200],
                "silent_s": round(now - since),
            }
            for task_id, since in self._stalled.items()
            if task_id in self._jobs
        ]

    def _emit(self, what: TaskEvent, task: Task, outcome: Outcome | None) -> None:
        self.events.task_event(what, self._run_of(task), outcome)

    def recover(self) -> int:
        """After a crash: tasks the journal says were unfinished are reported back as
        ``interrupted`` (never started again: the model decides anew), and whatever is left of
        their process groups is killed. Returns how many."""
        tasks = self.journal.unfinished_tasks()
        for obs in self.workspace.recover():
            self.journal.append(obs)
            self.events.noticed(obs)
        for task in tasks:
            if task.pgid and task.started:
                # A task's group outliving its daemon; the time check spares a group that merely
                # reuses the number.
                signal_group(task.pgid, signal.SIGKILL, task.started.timestamp())
            self._finish(task, Outcome("interrupted", "the orchestrator stopped while this task was unfinished"))
        return len(tasks)

    async def shutdown(self, grace: float | None = None) -> None:
        """Give running tasks ``grace`` seconds, then cancel them (killing their process groups)."""
        tasks = [job.runner for job in self._jobs.values()]
        if tasks and grace:
            await asyncio.wait(tasks, timeout=grace)
        for t in tasks:
            t.cancel()
        for t in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await t
        if self.proxy is not None:
            await self.proxy.close()


def _remove_all(paths: Sequence[Path]) -> None:
    for path in paths:
        shutil.rmtree(path, ignore_errors=True)


def _remove_soon(path: Path) -> None:
    """Remove a task's folder off the loop's thread (an agent's /tmp can be large)."""
    try:
        asyncio.get_running_loop().run_in_executor(None, _remove_all, [path])
    except RuntimeError:
        shutil.rmtree(path, ignore_errors=True)
