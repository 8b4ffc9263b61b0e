"""The loop's own hands are not news: file changes made while one of its tasks runs, under that
task's working folder, belong to the task.

They are journaled (status ``attributed``, with the task's id), shown with the task and
summarised in its result observation — and never handed to the model as outside events, so
an agent's edit does not come back as new work. Changes that arrive a little after the task
ended (the watcher debounces) still belong to it. While tasks run in the watched folder itself,
everything changed there meanwhile is theirs; once each task has its own worktree, its folder
says exactly what it touched.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from conscious.model import Observation, RunningTask

GRACE = 3.0
"""Seconds after a task ends during which changes under its folder are still its own."""
EXAMPLES = 5


class Attribution:
    def __init__(self, running: Callable[[], Iterable[RunningTask]], *, grace: float = GRACE) -> None:
        self.running = running
        """The tasks running now, with their working folders."""
        self.grace = grace
        self._ended: dict[int, tuple[float, Path]] = {}
        self._changed: dict[int, dict[str, None]] = {}

    def claim(self, obs: Observation) -> int | None:
        """The task whose change this is, or None when it came from outside."""
        if obs.source != "filesystem":
            return None
        now = time.monotonic()
        for gone in [t for t, (at, _) in self._ended.items() if now - at > self.grace]:
            del self._ended[gone]
            self._changed.pop(gone, None)  # its result is written: a daemon running for days keeps nothing
        path = Path(obs.target)
        now_running = ((run.task.id or 0, run.folder) for run in self.running())
        for task_id, cwd in [*now_running, *((t, cwd) for t, (_, cwd) in self._ended.items())]:
            if path == cwd or cwd in path.parents:
                self._changed.setdefault(task_id, {})[str(obs.details.get("relative") or path)] = None
                return task_id
        return None

    def attribute(self, obs: Observation) -> bool:
        """Mark ``obs`` as its task's own doing (``attributed``, with the task's id), if it is."""
        if (task_id := self.claim(obs)) is None:
            return False
        obs.status, obs.details = "attributed", {**obs.details, "task_id": task_id}
        return True

    def ended(self, task_id: int, cwd: Path) -> None:
        self._ended[task_id] = (time.monotonic(), cwd)

    def summary(self, task_id: int) -> dict[str, Any] | None:
        """What the task changed, as far as seen: how many files, and a few of them."""
        changed = list(self._changed.get(task_id, {}))
        return {"files": len(changed), "examples": changed[:EXAMPLES]} if changed else None
