"""Runs delegations concurrently (bounded), never blocking observing or thinking.

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
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import replace
from pathlib import Path

from conscious.delegate.base import Delegate, Outcome, RunContext
from conscious.delegate.guard import CALLS, ToolGuard
from conscious.delegate.proxy import Proxy
from conscious.delegate.sandbox import Cell, Rooms, Sandbox, Unwalled
from conscious.delegate.workspace import InPlace, Place, Workspace
from conscious.errors import ConsciousError
from conscious.journal import Journal
from conscious.model import Observation, Severity, Task, utcnow
from conscious.system.process import ProcessLimits, signal_group

RESULT_LIMIT = 500
"""Characters of an agent's result shown back to the model; the journal keeps more."""


class Dispatcher:
    def __init__(
        self,
        journal: Journal,
        delegates: Mapping[str, Delegate],
        *,
        cwd: Path,
        max_concurrent: int = 2,
        timeout: float = 1800.0,
        timeouts: Mapping[str, float] | None = None,
        grace: float = 5.0,
        on_event: Callable[[str, Task, Outcome | None], None] | None = None,
        on_observation: Callable[[Observation], None] | None = None,
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
        self.running: dict[int, tuple[Task, asyncio.Task[None]]] = {}
        self.on_event = on_event
        self.on_observation = on_observation
        self.changes: Callable[[int], dict[str, object] | None] = lambda _: None
        """What a task changed in its folder, for its result (the loop's ``Hands``)."""
        self.last_output: dict[int, float] = {}
        """Running task id → when (monotonic) it last wrote anything, or started."""
        self._stalled: dict[int, float] = {}
        """Tasks reported stalled → since when they have been silent."""

    def folder(self, task: Task) -> Path:
        """Where the task works."""
        place = self._places.get(task.id or 0)
        return place.cwd if place is not None else self.ctx.cwd

    def working(self) -> list[tuple[int, Path]]:
        """(task id, working folder) of the tasks not finished."""
        return [(task_id, self.folder(task)) for task_id, (task, _) in self.running.items()]

    def active(self) -> set[tuple[str, str]]:
        return {(t.agent, t.command) for t, _ in self.running.values()}

    def start(self, task: Task) -> None:
        assert task.id is not None
        self.running[task.id] = (task, asyncio.create_task(self._run(task), name=f"task-{task.id}"))

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
        self.running.pop(task.id, None)
        self.last_output.pop(task.id, None)
        self._stalled.pop(task.id, None)
        details: dict[str, object] = {
            "task_id": task.id,
            "decision_id": task.decision_id,
            "agent": task.agent,
            "command": task.command[:200],
            "state": outcome.state,
            "result": outcome.result[:RESULT_LIMIT],
        }
        for key in ("exit_code", "cost_usd", "num_turns", "session_id"):
            if (value := getattr(outcome, key)) is not None:
                details[key] = value
        details.update(extra or {})
        if self.guard is not None:
            details.update(self.guard.disarm(task.id))
        if (changed := self.changes(task.id)) is not None:
            details["files_changed"] = changed
        severity: Severity = {"succeeded": "info", "interrupted": "warning"}.get(outcome.state, "error")  # type: ignore[assignment]
        obs = Observation(
            source="agent",
            event_type=outcome.event or outcome.state,
            target=f"{task.agent}#{task.id}",
            severity=severity,
            details=details,
        )
        self.journal.finish_task(task.id, obs, **outcome.row())
        if not self.journal.needing_folders([task.id]):
            _remove_soon(self.scratch / f"task-{task.id}")
        self._emit("finished", task, outcome)
        self._places.pop(task.id, None)  # after: whoever hears of the end may ask where it worked
        if self.on_observation is not None:
            self.on_observation(obs)

    async def sweep(self) -> int:
        """Task folders no task needs any more removed (those a crash or a retry left, those
        of another run of the journal); how many. The removal on another thread."""
        found = {int(p.name[5:]): p for p in self.scratch.glob("task-*") if p.name[5:].isdigit()}
        if not found:
            return 0
        keep = self.journal.needing_folders(list(found)) | set(self.running)
        gone = [path for task_id, path in found.items() if task_id not in keep]
        await asyncio.to_thread(_remove_all, gone)
        return len(gone)

    def _wrote(self, task_id: int) -> None:
        self.last_output[task_id] = time.monotonic()
        if self._stalled.pop(task_id, None) is not None and task_id in self.running:
            self._emit("resumed", self.running[task_id][0], None)

    def stalls(self, after: float) -> list[Observation]:
        """Running tasks silent for ``after`` seconds, each reported once per silence (journaled
        here; it writes again → it is no longer stalled, and may be reported again later)."""
        now = time.monotonic()
        found = []
        for task_id, since in list(self.last_output.items()):
            if now - since < after or task_id in self._stalled or task_id not in self.running:
                continue
            self._stalled[task_id] = since
            task = self.running[task_id][0]
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

    def stalled_report(self) -> list[dict[str, object]]:
        now = time.monotonic()
        return [
            {
                "task_id": task_id,
                "agent": self.running[task_id][0].agent,
                "command": self.running[task_id][0].command[:200],
                "silent_s": round(now - since),
            }
            for task_id, since in self._stalled.items()
            if task_id in self.running
        ]

    def _emit(self, what: str, task: Task, outcome: Outcome | None) -> None:
        if self.on_event is not None:
            self.on_event(what, task, outcome)

    def recover(self) -> int:
        """After a crash: tasks the journal says were unfinished are reported back as
        ``interrupted`` (never started again: the model decides anew), and whatever is left of
        their process groups is killed. Returns how many."""
        tasks = self.journal.unfinished_tasks()
        for obs in self.workspace.recover():
            self.journal.append(obs)
            if self.on_observation is not None:
                self.on_observation(obs)
        for task in tasks:
            if task.pgid and task.started:
                # A task's group outliving its daemon; the time check spares a group that merely
                # reuses the number.
                signal_group(task.pgid, signal.SIGKILL, task.started.timestamp())
            self._finish(task, Outcome("interrupted", "the orchestrator stopped while this task was unfinished"))
        return len(tasks)

    async def shutdown(self, grace: float | None = None) -> None:
        """Give running tasks ``grace`` seconds, then cancel them (killing their process groups)."""
        tasks = [t for _, t in self.running.values()]
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
