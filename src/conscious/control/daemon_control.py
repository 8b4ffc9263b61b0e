"""The running daemon as the control API sees it: what it may read and the little it may write
(the ``Daemon`` facade of ``facade.py``, and what only the API serves: hooks, metrics, the stream).

The API reads in its worker threads, each through a journal connection of its own
(``reader``): a read, however long on an aged journal, never holds the loop's thread, and the
loop's transactions never hold it. It reads the loop's shared ``LoopState``, and writes — on
the loop's thread, with the API's own connection — through the loop's own hands where the loop
must hear at once: an inbox message is accepted like any observation, an answer wakes the loop
to act on it.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from conscious.control.events import EventBus
from conscious.control.facade import JournalDaemon
from conscious.control.listing import Listing
from conscious.control.metrics import Metrics
from conscious.control.status import page, status_report
from conscious.delegate.guard import ToolGuard
from conscious.gate.answers import Answered, answer
from conscious.gate.approvals import Answer, Approvals
from conscious.journal import Journal
from conscious.loop.reporter import Reporter
from conscious.loop.state import LoopState, Published
from conscious.model import Observation, request


class DaemonControl:
    def __init__(
        self,
        state: LoopState,
        published: Published,
        journal: Journal,
        bus: EventBus,
        metrics: Metrics,
        *,
        accept: Callable[[Observation], int],
        reporter: Reporter,
        wake: asyncio.Event,
        rules_file: Path,
        guard: ToolGuard | None = None,
        merged: Callable[[int], None] = lambda _: None,
    ) -> None:
        self.state = state
        self.published = published
        self.journal = journal
        self.bus = bus
        self._metrics = metrics
        self._accept = accept
        self._reporter = reporter
        self._wake = wake
        self.rules_file = rules_file
        self._guard = guard
        self._merged = merged
        """Told when a task's branch is merged into the watched tree (those changes are its own)."""
        self.stopping = asyncio.Event()
        self._readers = threading.local()

    def reader(self) -> Journal:
        """This thread's own connection to the journal (opened on its first read)."""
        journal: Journal | None = getattr(self._readers, "journal", None)
        if journal is None:
            journal = self._readers.journal = Journal(self.journal.path)
        return journal

    def status(self) -> dict[str, Any]:
        # Live figures from the loop itself, not the state it last published (up to a second old).
        return {**status_report(self.reader()), **self.published.status(self.state), "running": True}

    def page(self, listing: Listing) -> dict[str, Any]:
        return page(self.reader(), listing)

    def tell(self, text: str) -> int:
        return self._accept(request(text))

    def waiting(self) -> list[dict[str, Any]]:
        return Approvals(self.journal).waiting()

    def known(self, approval_id: int) -> bool:
        """Whether the approval was ever asked for (an answer refused: answered already, or never asked)."""
        return self.journal.approval(approval_id) is not None

    def series(self, since: str) -> dict[str, Any]:
        """The live page's charts since then."""
        return self.reader().series(since)

    def worktrees(self) -> list[dict[str, Any]]:
        return self.reader().worktrees()

    def has_worktree(self, task_id: int) -> bool:
        return self.reader().worktree(task_id) is not None

    def answer(
        self, approval_id: int, given: Answer, *, reason: str | None, always: bool, pattern: str | None
    ) -> Answered:
        rules = self.rules_file if always else None
        done = answer(self.journal, approval_id, given, reason=reason, always=rules, pattern=pattern)
        self._reporter.approval(given, {"id": approval_id, **_brief(done.request)})
        for other in done.also:
            self._reporter.approval(given, {"id": other["id"], **_brief(other)})
        self._wake.set()
        return done

    def metrics(self) -> bytes:
        return self._metrics.render()

    def hook(self, task_id: int, token: str, event: str, payload: dict[str, Any]) -> dict[str, Any] | None:
        return self._guard.answer(task_id, token, event, payload) if self._guard is not None else None

    def worktree(self, task_id: int, action: str) -> dict[str, Any]:
        """``diff``, ``merge`` (``merge-sensitive``: a person read what it holds for review) or
        ``discard`` a task's workspace (``ConsciousError``: one line why not)."""
        if action == "diff":  # a read, on this worker thread's own connection
            return JournalDaemon(self.reader()).worktree(task_id, action)
        done = JournalDaemon(self.journal).worktree(task_id, action)
        if "merged" in done:
            self._merged(task_id)
            self.bus.publish("worktree", task_id=task_id, what="merged", how=done["merged"])
        else:
            self.bus.publish("worktree", task_id=task_id, what="discarded")
        return done


def _brief(request: dict[str, Any]) -> dict[str, Any]:
    return {k: request[k] for k in ("agent", "command") if k in request}
