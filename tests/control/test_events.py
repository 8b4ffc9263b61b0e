"""The live event stream: fan-out to listeners and bounded subscribers, history for reconnects,
and the Broadcast reporter that feeds it."""

from __future__ import annotations

import asyncio
import json

from conscious.control.events import QUEUE, Broadcast, EventBus
from conscious.control.terminal import Terminal
from conscious.delegate.base import Outcome
from conscious.model import Decision, DecisionRecord, Observation, Task


async def test_subscribers_get_events_in_order_and_listeners_see_them_synchronously() -> None:
    bus = EventBus()
    seen: list[str] = []
    bus.listen(lambda e: seen.append(e.type))
    sub = bus.subscribe()
    bus.publish("info", text="one")
    bus.publish("warn", text="two")
    assert seen == ["info", "warn"]
    first, second = await sub.next(1), await sub.next(1)
    assert first is not None and second is not None
    assert (first.type, first.data, second.type, second.data) == ("info", {"text": "one"}, "warn", {"text": "two"})
    assert second.id == first.id + 1
    assert await sub.next(0.05) is None  # nothing more: the caller sends a keep-alive
    sub.close()
    assert bus.subscribers == 0


async def test_a_reconnecting_subscriber_gets_what_it_missed_but_no_tokens() -> None:
    bus = EventBus()
    first = bus.publish("info", text="before")
    bus.publish("token", turn=1, text="{")
    bus.publish("decision", id=1)
    sub = bus.subscribe(after=first.id)
    event = await sub.next(1)
    assert event is not None and event.type == "decision"
    assert await sub.next(0.05) is None


async def test_a_slow_subscriber_loses_its_oldest_events_and_is_told_how_many() -> None:
    bus = EventBus()
    sub = bus.subscribe()
    for i in range(QUEUE + 7):
        bus.publish("info", text=str(i))
    event = await sub.next(1)
    assert event is not None and event.type == "dropped" and event.data["count"] == 7
    event = await sub.next(1)
    assert event is not None and event.data["text"] == "7"  # the oldest kept


async def test_a_failing_listener_does_not_stop_the_others_or_the_publisher() -> None:
    bus = EventBus()
    got: list[int] = []

    def broken(_: object) -> None:
        raise RuntimeError("listener bug")

    bus.listen(broken)
    bus.listen(lambda e: got.append(e.id))
    event = bus.publish("info", text="x")
    assert got == [event.id]


def test_the_sse_frame_is_one_event_with_one_json_data_line() -> None:
    bus = EventBus()
    event = bus.publish("observation", source="fs", target="a\nb")
    frame = event.sse()
    lines = frame.split("\n")
    assert lines[0] == f"id: {event.id}" and lines[1] == "event: observation"
    assert lines[2].startswith("data: ") and frame.endswith("\n\n")
    data = json.loads(lines[2][len("data: ") :])
    assert data["target"] == "a\nb" and "ts" in data


async def test_broadcast_publishes_what_the_reporter_reports() -> None:
    bus = EventBus()
    sub = bus.subscribe()
    live = Broadcast(bus, Terminal(quiet=True))
    live.observation(Observation(id=3, source="user", event_type="request", target="inbox", details={"text": "hi"}))
    live.thinking(1, [3])
    live.streamed(1, '{"action')
    decision = Decision(action_type="observe", reasoning="fine", priority="low", confidence=0.8)
    record = DecisionRecord(
        decision=decision,
        covers=[3],
        action="observe",
        verdict="accepted",
        verdict_reason="observing",
        origin="llm",
        latency_ms=12.5,
    )
    live.decision(4, record)
    task = Task(id=9, decision_id=4, agent="memory", command="remember this", state="running")
    live.task("started", task, None)
    live.task("finished", task, Outcome("succeeded", "stored", cost_usd=0.01))
    kinds = []
    while (event := await sub.next(0.05)) is not None:
        kinds.append((event.type, event.data))
    assert [k for k, _ in kinds] == ["observation", "thought", "token", "decision", "task", "task"]
    assert kinds[0][1]["details"] == {"text": "hi"}
    assert kinds[2][1] == {"turn": 1, "text": '{"action'}
    assert kinds[3][1]["latency_ms"] == 12.5 and kinds[3][1]["verdict"] == "accepted"
    assert kinds[4][1]["state"] == "running"
    assert kinds[5][1]["state"] == "succeeded" and kinds[5][1]["cost_usd"] == 0.01


async def test_a_subscription_wakes_for_an_event_published_while_it_waits() -> None:
    bus = EventBus()
    sub = bus.subscribe()
    waiter = asyncio.create_task(sub.next(5))
    await asyncio.sleep(0.01)
    bus.publish("info", text="now")
    event = await asyncio.wait_for(waiter, 1)
    assert event is not None and event.data["text"] == "now"
