"""The clock: heartbeats (never worth an LLM call alone) and idle reflection (worth one)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable

from conscious.model import Observation


class ClockObserver:
    name = "clock"

    def __init__(
        self,
        *,
        heartbeat: float = 60.0,
        idle_reflection: float = 900.0,
        last_activity: Callable[[], float] = time.monotonic,
    ) -> None:
        self.heartbeat = heartbeat
        self.idle_reflection = idle_reflection
        self.last_activity = last_activity
        """Monotonic time of the last observation that was not from the clock."""

    async def observe(self) -> AsyncIterator[Observation]:
        beats = 0
        next_beat = time.monotonic() + self.heartbeat if self.heartbeat > 0 else float("inf")
        reflected_at = 0.0
        while True:
            now = time.monotonic()
            if now >= next_beat:
                beats += 1
                next_beat = now + self.heartbeat
                yield Observation(
                    source="clock",
                    event_type="heartbeat",
                    target="orchestrator",
                    severity="debug",
                    details={"beat": beats},
                )
            idle_since = max(self.last_activity(), reflected_at)
            if self.idle_reflection > 0 and now - idle_since >= self.idle_reflection:
                reflected_at = now
                yield Observation(
                    source="clock",
                    event_type="idle",
                    target="orchestrator",
                    details={"idle_s": round(now - self.last_activity())},
                )
            await asyncio.sleep(min(1.0, max(0.05, min(self.heartbeat or 1.0, self.idle_reflection or 1.0) / 10)))
