import asyncio
import time

from conscious.model import Observation
from conscious.observe.clock import ClockObserver


async def take(observer: ClockObserver, n: int, timeout: float = 5.0) -> list[Observation]:
    out: list[Observation] = []
    stream = observer.observe()
    try:
        async with asyncio.timeout(timeout):
            async for obs in stream:
                out.append(obs)
                if len(out) >= n:
                    break
    finally:
        await stream.aclose()  # type: ignore[attr-defined]
    return out


async def test_heartbeats_tick() -> None:
    got = await take(ClockObserver(heartbeat=0.1, idle_reflection=0), 3)
    assert [o.event_type for o in got] == ["heartbeat"] * 3
    assert [o.details["beat"] for o in got] == [1, 2, 3]


async def test_idle_reflection_after_quiet_and_not_again_until_quiet_again() -> None:
    last = time.monotonic() - 10
    got = await take(ClockObserver(heartbeat=0, idle_reflection=0.3, last_activity=lambda: last), 2, timeout=3)
    assert [o.event_type for o in got] == ["idle", "idle"]
