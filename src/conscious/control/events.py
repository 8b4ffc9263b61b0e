"""Everything the daemon does, as it happens: one in-process stream of events.

The journal is the durable record; this is the live one. The terminal, the control API's
server-sent-event stream, the metrics and the structured log all read it, so they can never
disagree on what happened. Publishing is synchronous and never blocks the loop: listeners
are plain callbacks, and each stream subscriber has a bounded queue that drops its oldest
events (and says how many) rather than hold the thinker back.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import logging
from collections import deque
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

from conscious.control.terminal import Terminal
from conscious.delegate.base import Outcome
from conscious.loop.reporter import Reporter
from conscious.model import DecisionRecord, Observation, Task

log = logging.getLogger("conscious")

EventType = Literal[
    "observation",
    "thought",
    "token",
    "decision",
    "task",
    "approval",
    "tool",
    "worktree",
    "health",
    "info",
    "warn",
    "dropped",
]

HISTORY = 500
"""Events kept for a subscriber that reconnects (``Last-Event-ID``) or a page that just opened."""
QUEUE = 1000
"""Events a slow subscriber may fall behind before its oldest are dropped."""


@dataclass(frozen=True)
class Event:
    id: int
    type: EventType
    data: dict[str, Any]
    ts: str = field(default_factory=lambda: datetime.now(UTC).isoformat(timespec="milliseconds"))

    def record(self) -> dict[str, Any]:
        return {"id": self.id, "type": self.type, "ts": self.ts, "data": self.data}

    def sse(self) -> str:
        """The server-sent-events frame: ``id``, ``event`` and one ``data`` line of JSON."""
        body = json.dumps({"ts": self.ts, **self.data}, default=str, ensure_ascii=False)
        return f"id: {self.id}\nevent: {self.type}\ndata: {body}\n\n"


class Subscription:
    """One consumer's view of the stream: an async iterator over a bounded queue."""

    def __init__(self, bus: EventBus, backlog: list[Event]) -> None:
        self._bus = bus
        self._queue: deque[Event] = deque(backlog, maxlen=QUEUE)
        self._ready = asyncio.Event()
        self.dropped = 0
        if backlog:
            self._ready.set()

    def _push(self, event: Event) -> None:
        if len(self._queue) == self._queue.maxlen:
            self.dropped += 1
        self._queue.append(event)
        self._ready.set()

    async def next(self, timeout: float | None = None) -> Event | None:
        """The next event, or None when ``timeout`` passes first (time for a keep-alive)."""
        if not self._queue:
            self._ready.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._ready.wait(), timeout)
        if not self._queue:
            return None
        if self.dropped:
            lost, self.dropped = self.dropped, 0
            return Event(self._queue[0].id, "dropped", {"count": lost, "reason": "subscriber fell behind"})
        return self._queue.popleft()

    def __aiter__(self) -> AsyncIterator[Event]:
        return self._iterate()

    async def _iterate(self) -> AsyncIterator[Event]:
        while True:
            event = await self.next()
            if event is not None:
                yield event

    def close(self) -> None:
        self._bus._subscribers.discard(self)


class EventBus:
    def __init__(self, history: int = HISTORY) -> None:
        self._ids = itertools.count(1)
        self._history: deque[Event] = deque(maxlen=history)
        self._listeners: list[Callable[[Event], None]] = []
        self._subscribers: set[Subscription] = set()

    def publish(self, type: EventType, **data: Any) -> Event:
        event = Event(next(self._ids), type, data)
        if type != "token":  # tokens are only for whoever watches the thought live
            self._history.append(event)
        for listener in self._listeners:
            try:
                listener(event)
            except Exception:  # a broken listener must not take the loop down
                log.exception("event listener failed on %s", type)
        for sub in self._subscribers:
            sub._push(event)
        return event

    def listen(self, fn: Callable[[Event], None]) -> None:
        """Call ``fn`` synchronously with every event (metrics, logs)."""
        self._listeners.append(fn)

    def subscribe(self, after: int | None = None) -> Subscription:
        """A stream of the events from now on; with ``after``, the kept ones newer than that id first."""
        backlog = [e for e in self._history if after is not None and e.id > after]
        sub = Subscription(self, backlog)
        self._subscribers.add(sub)
        return sub

    @property
    def subscribers(self) -> int:
        return len(self._subscribers)


def _task(task: Task) -> dict[str, Any]:
    return {"id": task.id, "decision_id": task.decision_id, "agent": task.agent, "command": task.command[:500]}


class Broadcast:
    """A ``Reporter`` wrapping another: publishes each report on the bus, then hands it on."""

    def __init__(self, bus: EventBus, inner: Reporter | None = None) -> None:
        self.bus = bus
        self.inner: Reporter = inner or Terminal(quiet=True)

    def info(self, text: str) -> None:
        self.bus.publish("info", text=text)
        self.inner.info(text)

    def warn(self, text: str) -> None:
        self.bus.publish("warn", text=text)
        self.inner.warn(text)

    def observation(self, obs: Observation) -> None:
        self.bus.publish("observation", **obs.model_dump(mode="json"))
        self.inner.observation(obs)

    def thinking(self, turn: int, observations: list[int]) -> None:
        self.bus.publish("thought", turn=turn, observations=observations)
        self.inner.thinking(turn, observations)

    def streamed(self, turn: int, text: str) -> None:
        self.bus.publish("token", turn=turn, text=text)
        self.inner.streamed(turn, text)

    def decision(self, decision_id: int, record: DecisionRecord) -> None:
        decision = record.decision
        self.bus.publish(
            "decision",
            id=decision_id,
            turn=record.turn,
            action_type=decision.action_type,
            action=record.action,
            verdict=record.verdict,
            verdict_reason=record.verdict_reason,
            target_agent=decision.target_agent,
            command=decision.command,
            priority=decision.priority,
            confidence=decision.confidence,
            reasoning=decision.reasoning,
            covers=len(record.covers),
            latency_ms=record.latency_ms,
            first_token_ms=record.first_token_ms,
            prompt_tokens=record.prompt_tokens,
            cached_tokens=record.cached_tokens,
            origin=record.origin,
        )
        self.inner.decision(decision_id, record)

    def task(self, what: str, task: Task, outcome: Outcome | None) -> None:
        data = {**_task(task), "what": what}
        if outcome is not None:
            data.update(state=outcome.state, result=outcome.result[:500], cost_usd=outcome.cost_usd)
        else:
            data["state"] = "running" if what == "started" else what
        self.bus.publish("task", **data)
        self.inner.task(what, task, outcome)

    def tool_call(self, task: Task, call: str, allowed: bool, reason: str) -> None:
        self.bus.publish("tool", **_task(task), call=call[:300], allowed=allowed, reason=reason)
        self.inner.tool_call(task, call, allowed, reason)

    def approval(self, what: str, request: dict[str, Any]) -> None:
        self.bus.publish("approval", what=what, **request)
        self.inner.approval(what, request)

    def health(self, status: str, checks: dict[str, Any]) -> None:
        self.bus.publish("health", status=status, checks=checks)
        self.inner.health(status, checks)
