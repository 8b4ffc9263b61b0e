"""Alerts on the approvals' channels, through a real command of the user's (a subprocess that
writes each message it gets on stdin to a file): a storm of failures is one message, a change
of health goes out too, and nothing else does."""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path

from conscious.config import ApprovalConfig
from conscious.control.alerts import Alerts
from conscious.control.events import EventBus

WRITE = "import sys, uuid, pathlib; pathlib.Path(sys.argv[1], uuid.uuid4().hex).write_text(sys.stdin.read())"


def received(folder: Path) -> list[dict[str, object]]:
    return [json.loads(p.read_text()) for p in folder.iterdir()]


async def test_a_storm_of_failures_is_one_message_and_a_health_change_the_next(tmp_path: Path) -> None:
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    config = ApprovalConfig(
        notify_send=False, notify_command=[sys.executable, "-c", WRITE, str(inbox)], alert_every=0.5
    )
    bus, alerts = EventBus(), Alerts(config)
    bus.listen(alerts.on_event)
    bus.publish("task", what="finished", id=1, agent="claude-code", state="failed", result="Tests still fail")
    for i in range(2, 30):
        bus.publish("task", what="finished", id=i, agent="claude-code", state="timeout", result="no result")
    bus.publish("task", what="finished", id=99, agent="claude-code", state="succeeded", result="ok")
    bus.publish("task", what="started", id=100, agent="claude-code")
    await until(lambda: len(list(inbox.iterdir())) == 1)
    bus.publish("health", status="degraded", checks={"llm": {"ok": False, "detail": "connection refused"}})
    bus.publish("task", what="stalled", id=5, agent="claude-flow")
    await asyncio.sleep(0.2)
    assert len(list(inbox.iterdir())) == 1  # within alert_every of the first: it waits
    await until(lambda: len(list(inbox.iterdir())) == 2)
    storm, later = sorted(received(inbox), key=lambda m: -len(m["alerts"]))  # type: ignore[arg-type]
    assert len(storm["alerts"]) == 29 and alerts.sent[0] == "conscious: 29 things need a look"  # type: ignore[arg-type]
    assert storm["alerts"][0]["line"] == "task #1 claude-code failed: Tests still fail"  # type: ignore[index]
    assert [a["line"] for a in later["alerts"]] == [  # type: ignore[index,union-attr]
        "health degraded (llm: connection refused)",
        "task #5 claude-flow went silent",
    ]
    await alerts.aclose()  # nothing left running after the test (a notify command outlived it once)


async def until(check: object, timeout: float = 10.0) -> None:
    async with asyncio.timeout(timeout):
        while not check():  # type: ignore[operator]
            await asyncio.sleep(0.05)


async def test_what_the_user_turned_off_is_not_sent_and_a_broken_channel_does_not_raise(tmp_path: Path) -> None:
    config = ApprovalConfig(notify_send=False, notify_command=["/nonexistent/notify"], alert_on=["health"])
    bus, alerts = EventBus(), Alerts(config)
    bus.listen(alerts.on_event)
    bus.publish("task", what="stalled", id=3, agent="claude-code")
    assert alerts.waiting == []
    bus.publish("health", status="ok", checks={})
    await alerts.aclose()
    assert list(alerts.sent) == ["conscious: health ok"]


async def test_what_arrives_while_a_message_is_being_delivered_is_sent_next() -> None:
    """The notification command is slow (a loaded machine): alerts that arrive meanwhile are not
    stranded until some later event."""
    sent: list[str] = []
    delivering, release = asyncio.Event(), asyncio.Event()

    async def slow(title: str, body: str, data: dict[str, object], config: ApprovalConfig) -> list[str]:
        sent.append(title)
        delivering.set()
        await release.wait()
        return []

    alerts = Alerts(ApprovalConfig(notify_send=False, alert_every=0.1), deliver=slow)
    bus = EventBus()
    bus.listen(alerts.on_event)
    bus.publish("task", what="finished", id=1, agent="claude-code", state="failed", result="first")
    await delivering.wait()
    bus.publish("task", what="stalled", id=2, agent="claude-flow")  # while the first is out
    release.set()
    await until(lambda: len(sent) == 2)
    assert "first" in sent[0] and "went silent" in sent[1]
