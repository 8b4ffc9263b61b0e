"""What a daemon that runs for months does now and then: let the journal's old rows go, the
old workspaces and task folders with them, and its logs keep their size — while it runs, not
only when it starts; on every host that runs tasks.

Runs in a worker thread with a journal connection of its own: deletes are small transactions
between the loop's writes, never on the loop's thread.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Sequence
from datetime import timedelta
from pathlib import Path

from conscious.delegate.dispatch import Dispatcher
from conscious.journal import Journal
from conscious.loop.reporter import Reporter
from conscious.model import utcnow
from conscious.system.rotate import rotate

log = logging.getLogger("conscious")


def tidy(path: Path, retention_days: float, logs: Sequence[Path] = ()) -> str:
    """One round: what was let go, in a line ('' when nothing was); child processes' logs
    kept to a size."""
    for file in logs:
        rotate(file)
    journal = Journal(path)
    try:
        return journal.compact(utcnow() - timedelta(days=retention_days)).said()
    finally:
        journal.close()


async def keep_house(
    path: Path,
    dispatcher: Dispatcher,
    reporter: Reporter,
    stop: asyncio.Event,
    *,
    every: float,
    retention_days: float,
    logs: Sequence[Path] = (),
) -> None:
    while not stop.is_set():
        said = await asyncio.to_thread(tidy, path, retention_days, logs)
        if said:
            reporter.info(said)
        for note in await dispatcher.sweep():
            reporter.info(note)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), every)
