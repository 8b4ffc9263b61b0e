"""Alerts: a failed or stalled task, or a change of health, sent to whoever is not watching,
on the approvals' channels (``gate/notify.py``). Rate-limited: the first alert goes at once,
then at most one message per ``alert_every`` seconds, carrying everything that happened
meanwhile — a storm of failures is one message, not a hundred."""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Any

from conscious.config import ApprovalConfig
from conscious.control.events import Event
from conscious.gate.notify import send

log = logging.getLogger("conscious")

SENT_KEPT = 50

Send = Callable[[str, str, dict[str, Any], ApprovalConfig], Awaitable[list[str]]]


class Alerts:
    def __init__(self, config: ApprovalConfig, *, deliver: Send = send) -> None:
        self.config = config
        self.deliver = deliver
        self.waiting: list[dict[str, Any]] = []
        self.sent_at = float("-inf")
        self._flush: asyncio.Task[None] | None = None
        self.sent: deque[str] = deque(maxlen=SENT_KEPT)
        """Titles of the latest messages sent (a daemon runs for weeks: only the latest are kept)."""

    def on_event(self, event: Event) -> None:
        """A listener on the event bus, called on the loop's thread."""
        alert = self.alert_for(event)
        if alert is None:
            return
        self.waiting.append(alert)
        if self._flush is None or self._flush.done():
            delay = max(0.0, self.sent_at + self.config.alert_every - time.monotonic())
            self._flush = asyncio.get_running_loop().create_task(self._send_after(delay))

    def alert_for(self, event: Event) -> dict[str, Any] | None:
        d, wanted = event.data, set(self.config.alert_on)
        failed = d.get("what") == "finished" and d.get("state") in ("failed", "timeout")
        if event.type == "task" and "failed" in wanted and failed:
            line = f"task #{d.get('id')} {d.get('agent')} {d.get('state')}: {str(d.get('result') or '')[:160]}"
            return {"kind": "failed", "line": line, **_brief(d)}
        if event.type == "task" and "stalled" in wanted and d.get("what") == "stalled":
            return {"kind": "stalled", "line": f"task #{d.get('id')} {d.get('agent')} went silent", **_brief(d)}
        if event.type == "health" and "health" in wanted:
            failing = [f"{k}: {c.get('detail')}" for k, c in (d.get("checks") or {}).items() if not c.get("ok")]
            said = f"health {d.get('status')}" + (f" ({'; '.join(failing)[:200]})" if failing else "")
            return {"kind": "health", "line": said, "status": d.get("status")}
        return None

    async def _send_after(self, delay: float) -> None:
        if delay:
            await asyncio.sleep(delay)
        # A loop, not one message: what arrives while a message is being delivered would find
        # this flush still running, start none of its own, and wait for an event that may
        # never come.
        while alerts := self._take():
            self.sent_at = time.monotonic()
            first = alerts[0]["line"]
            title = f"conscious: {first[:80]}" if len(alerts) == 1 else f"conscious: {len(alerts)} things need a look"
            body = "\n".join(a["line"] for a in alerts[:10]) + (
                f"\n… and {len(alerts) - 10} more" if len(alerts) > 10 else ""
            )
            self.sent.append(title)
            for failure in await self.deliver(title, body, {"event": "alerts", "alerts": alerts}, self.config):
                log.warning("an alert could not be sent: %s", failure)
            if self.waiting:
                await asyncio.sleep(max(0.0, self.sent_at + self.config.alert_every - time.monotonic()))

    def _take(self) -> list[dict[str, Any]]:
        alerts, self.waiting = self.waiting, []
        return alerts

    async def aclose(self) -> None:
        """Send what waits now (the daemon is stopping)."""
        if self._flush is not None and not self._flush.done():
            self._flush.cancel()
        await self._send_after(0)


def _brief(d: dict[str, Any]) -> dict[str, Any]:
    return {k: d[k] for k in ("id", "agent", "command", "state") if k in d}
