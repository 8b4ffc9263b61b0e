"""Long-lived parts run supervised: no silent deaths.

A part (the inbox, the lease, the health loop …) that raises is told in one line and restarted
with back-off; one that fails ``limit`` times within ``window`` seconds cannot be trusted to go on,
and ``gave_up`` is called — the daemon then stops and exits non-zero, so that its supervisor
(systemd) restarts it whole, and a brain gives up its lease at once. Before, such a part ended
with its exception kept in a finished task that nobody looked at until the stop, while the rest
reported health: a brain whose inbox had died kept its lease and decided nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Protocol

from conscious.errors import PartFailed

log = logging.getLogger("conscious")

Told = Callable[[str, BaseException, int], None]
"""A part failed: its name, what it raised, its failures within the window."""
GaveUp = Callable[[str, BaseException], None]
LIMIT = 5
WINDOW = 300.0
"""A part that fails ``LIMIT`` times within ``WINDOW`` seconds is given up on."""


async def supervised(
    name: str,
    run: Callable[[], Awaitable[None]],
    stop: asyncio.Event,
    *,
    told: Told,
    gave_up: GaveUp,
    limit: int = LIMIT,
    window: float = WINDOW,
    first_wait: float = 0.5,
) -> None:
    """Run ``run()`` until it returns, ``stop`` is set, or it fails ``limit`` times within ``window``."""
    failures: deque[float] = deque()
    while not stop.is_set():
        try:
            await run()
            return
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            now = time.monotonic()
            failures.append(now)
            while now - failures[0] > window:
                failures.popleft()
            log.error("%s failed (%d in %.0f s)", name, len(failures), window, exc_info=exc)
            told(name, exc, len(failures))
            if len(failures) >= limit:
                gave_up(name, exc)
                return
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), min(30.0, first_wait * 2 ** (len(failures) - 1)))


class Warns(Protocol):
    def warn(self, text: str) -> None: ...


class Supervisor:
    """The supervised parts of one daemon: each started here and its failures told through
    ``reporter``; the first that cannot go on stops them all (``giving_up`` first: a brain drops
    its lead) and is raised as ``PartFailed`` once the daemon has shut down."""

    def __init__(
        self,
        reporter: Warns,
        stop: asyncio.Event,
        *,
        giving_up: Callable[[], None] = lambda: None,
        limit: int = LIMIT,
        first_wait: float = 0.5,
    ) -> None:
        self.reporter = reporter
        self.stop = stop
        self.giving_up = giving_up
        self.limit = limit
        self.first_wait = first_wait
        self.fatal: str | None = None

    def start(self, name: str, part: Callable[[], Awaitable[None]]) -> asyncio.Task[None]:
        run = supervised(
            name, part, self.stop, told=self.told, gave_up=self.gave_up, limit=self.limit, first_wait=self.first_wait
        )
        return asyncio.create_task(run, name=name)

    def told(self, name: str, exc: BaseException, count: int) -> None:
        self.reporter.warn(f"{name} failed ({count} within {WINDOW / 60:g} min): {_one_line(exc)}; restarting it")

    def gave_up(self, name: str, exc: BaseException) -> None:
        self.giving_up()
        if self.fatal is None:
            self.fatal = f"the {name} kept failing ({_one_line(exc)}): stopping, for a supervisor to restart the daemon"
        self.stop.set()

    def raise_if_fatal(self) -> None:
        if self.fatal is not None:
            raise PartFailed(self.fatal)


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    return f"{type(exc).__name__}: {text}"[:200]
