"""Trouble with the broker (``Reconnecting``): said once when it starts and once when it is over, with back-off
in between — the same for every loop that talks to the broker (outbox, inbox, worker)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable

from conscious.errors import BrokerError
from conscious.loop.backoff import backoff

LONGEST_WAIT_S = 10.0
"""A host cut off retries at least this often, so it catches up soon after it is back."""


async def pause(stop: asyncio.Event, seconds: float) -> None:
    """Wait ``seconds``, or less if asked to stop."""
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), seconds)


class Reconnecting:
    def __init__(self, said: Callable[[str | None], None] = lambda _: None) -> None:
        self.said = said
        """Told why (once per outage), and None when it works again."""
        self.why: str | None = None
        self.failures = 0

    def ok(self) -> None:
        self.failures = 0
        if self.why is not None:
            self.why = None
            self.said(None)

    async def failed(self, exc: BrokerError, stop: asyncio.Event) -> None:
        self.failures += 1
        if self.why is None:
            self.why = str(exc)
            self.said(self.why)
        await pause(stop, min(LONGEST_WAIT_S, backoff(self.failures, 0.5)))
