"""One daemon per journal, held with an advisory lock beside it.

The lock, not the journal's published state, says whether a daemon is alive: a daemon killed
with SIGKILL never gets to say it stopped, but the kernel releases its lock. The holder writes
its pid in the lock file, so that ``conscious stop`` knows whom to signal.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from collections.abc import Iterator
from pathlib import Path
from typing import IO

from conscious.errors import ConsciousError


@contextlib.contextmanager
def single_instance(journal: Path) -> Iterator[None]:
    """One daemon per journal: a second ``conscious run`` on it is refused, not a second loop."""
    lock_path = journal.with_suffix(".lock")
    handle: IO[str] = open(lock_path, "a+")  # noqa: SIM115 (held for the daemon's life)
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.close()
        raise ConsciousError(f"another conscious daemon is already running on {journal}") from None
    handle.truncate(0)
    handle.write(f"{os.getpid()}\n")
    handle.flush()
    try:
        yield
    finally:
        fcntl.flock(handle, fcntl.LOCK_UN)
        handle.close()


def daemon_running(journal: Path) -> bool:
    """Whether a daemon holds this journal's lock (true even after its state went stale)."""
    lock_path = journal.with_suffix(".lock")
    if not lock_path.exists():
        return False
    with open(lock_path, "a+") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        fcntl.flock(handle, fcntl.LOCK_UN)
        return False


def daemon_pid(journal: Path) -> int | None:
    """The pid of the daemon holding this journal's lock; None when none holds it, or when its
    holder did not write one (a daemon of an older conscious)."""
    if not daemon_running(journal):
        return None
    try:
        return int(journal.with_suffix(".lock").read_text().strip())
    except (OSError, ValueError):
        return None
