"""Trouble with the broker is said once when it starts and once when it is over."""

from __future__ import annotations

import asyncio

from conscious.cluster.reconnect import Reconnecting
from conscious.errors import BrokerError


async def test_said_once_per_outage() -> None:
    said: list[str | None] = []
    trouble = Reconnecting(said.append)
    stop = asyncio.Event()
    stop.set()  # no waiting in a test
    trouble.ok()
    for _ in range(3):
        await trouble.failed(BrokerError("cannot reach the broker"), stop)
    trouble.ok()
    trouble.ok()
    await trouble.failed(BrokerError("again"), stop)
    assert said == ["cannot reach the broker", None, "again"]
    assert trouble.failures == 1
