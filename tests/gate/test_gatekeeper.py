"""Approvals through the real loop: a scripted brain proposes, the gate makes it wait, the user
answers from another connection to the journal (as `conscious approve` does), real stand-in
agents run. Also the notification channels, each against a real receiver."""

from __future__ import annotations

import json
import sys
import threading
from collections.abc import Iterator
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any, ClassVar

import pytest

from conscious.config import Config
from conscious.gate.answers import answer
from conscious.gate.approvals import Approvals
from conscious.journal import Journal
from conscious.model import Decision, DecisionRecord, Observation, Task, utcnow
from conscious.paths import Paths
from conscious.think.backends.scripted import ScriptedBackend
from tests.loop.test_orchestrator import drain, make, reply

FIX = reply(action_type="delegate", target_agent="claude-code", command="Fix the failing test", priority="high")


def asking(paths: Paths, watched: Path, toml: str = "") -> Config:
    paths.config_file.parent.mkdir(parents=True, exist_ok=True)
    paths.config_file.write_text('[approval]\nmode = "ask"\nnotify_send = false\n' + toml)
    return Config.load(paths, watch=[watched], probe_lmstudio=False)


def news(journal: Journal, text: str = "the login test fails") -> None:
    journal.append(Observation(source="user", event_type="request", target="inbox", details={"text": text}))


def started(fake_log: Path) -> list[str]:
    return [json.loads(line)["argv"][-1] for line in fake_log.read_text().splitlines()] if fake_log.exists() else []


async def test_a_request_waits_until_approved_then_runs_once(paths: Paths, watched: Path, fake_agents: Path) -> None:
    backend = ScriptedBackend()
    backend.enqueue(FIX)
    orch, journal = await make(asking(paths, watched), paths, backend)
    news(journal)
    user = Approvals(Journal(paths.journal))  # the CLI's own connection
    await drain(orch, lambda: bool(user.waiting()))
    [waiting] = user.waiting()
    assert (waiting["agent"], waiting["command"], waiting["priority"]) == (
        "claude-code",
        "Fix the failing test",
        "high",
    )
    assert journal.decisions()[0]["verdict"] == "awaiting-approval"
    assert started(fake_agents) == []
    assert orch.facts()["awaiting approval"] == 1

    assert user.answer(waiting["id"], "approved") is not None
    assert user.answer(waiting["id"], "approved") is None  # answered once
    await drain(orch, lambda: journal.tasks()[0]["state"] == "succeeded" and journal.pending_count() == 0)
    assert started(fake_agents) == ["Fix the failing test"]
    said = [o for o in journal.observations(100) if o.source == "user" and o.event_type == "approved"]
    assert len(said) == 1 and said[0].target == f"approval#{waiting['id']}" and said[0].status == "decided"


async def test_a_denial_never_starts_and_the_model_hears_why(paths: Paths, watched: Path, fake_agents: Path) -> None:
    backend = ScriptedBackend()
    backend.enqueue(FIX)
    orch, journal = await make(asking(paths, watched), paths, backend)
    news(journal)
    user = Approvals(Journal(paths.journal))
    await drain(orch, lambda: bool(user.waiting()))
    assert user.answer(user.waiting()[0]["id"], "denied", "not on a Friday") is not None
    await drain(orch, lambda: journal.pending_count() == 0 and len(backend.requests) >= 2)
    assert journal.tasks()[0]["state"] == "denied" and started(fake_agents) == []
    assert "not on a Friday" in json.dumps(backend.requests[-1])


async def test_an_unanswered_request_expires_and_is_fed_back(paths: Paths, watched: Path, fake_agents: Path) -> None:
    backend = ScriptedBackend()
    backend.enqueue(FIX)
    orch, journal = await make(asking(paths, watched, "expire_after = 0.3\n"), paths, backend)
    news(journal)
    await drain(orch, lambda: bool(journal.tasks()) and journal.tasks()[0]["state"] == "expired")
    expired = [o for o in journal.observations(100) if (o.source, o.event_type) == ("policy", "expired")]
    assert len(expired) == 1 and expired[0].details["command"] == "Fix the failing test"
    assert started(fake_agents) == []
    assert Approvals(journal).answer(int(expired[0].target.removeprefix("approval#")), "approved") is None


async def test_a_waiting_request_survives_a_restart(paths: Paths, watched: Path, fake_agents: Path) -> None:
    config = asking(paths, watched)
    backend = ScriptedBackend()
    backend.enqueue(FIX)
    orch, journal = await make(config, paths, backend)
    news(journal)
    await drain(orch, lambda: bool(Approvals(journal).waiting()))
    journal.close()

    orch, journal = await make(config, paths, ScriptedBackend())
    [waiting] = Approvals(journal).waiting()
    Approvals(Journal(paths.journal)).answer(waiting["id"], "approved")
    await drain(orch, lambda: journal.tasks()[0]["state"] == "succeeded")
    assert started(fake_agents) == ["Fix the failing test"]


async def test_approved_but_over_budget_by_now_is_refused(paths: Paths, watched: Path, fake_agents: Path) -> None:
    config = asking(paths, watched).model_copy(update={"max_spend_usd_per_day": 1.0})
    backend = ScriptedBackend()
    backend.enqueue(FIX)
    orch, journal = await make(config, paths, backend)
    news(journal)
    await drain(orch, lambda: bool(Approvals(journal).waiting()))
    # While it waits, another task reports what it cost: the day's budget is spent.
    other = Task(decision_id=0, agent="claude-code", command="something else", state="succeeded")
    d = Decision(action_type="delegate", reasoning="r", target_agent="claude-code", command="something else")
    made = journal.record_decision(DecisionRecord.of(d, [], verdict="accepted", task=other)).task
    assert made is not None and made.id is not None
    journal.update_task(made.id, cost_usd=1.5)
    Approvals(Journal(paths.journal)).answer(Approvals(journal).waiting()[0]["id"], "approved")
    await drain(orch, lambda: journal.tasks()[0]["state"] == "refused")
    refused = [o for o in journal.observations(100) if (o.source, o.event_type) == ("policy", "refused")]
    assert refused and refused[-1].details["rule"] == "budget" and "$1.50" in refused[-1].details["reason"]
    assert started(fake_agents) == []


async def test_approve_always_is_saved_and_applies_to_the_running_daemon(
    paths: Paths, watched: Path, fake_agents: Path
) -> None:
    config = asking(paths, watched, "# my own comment\n")
    backend = ScriptedBackend()
    backend.enqueue(FIX, reply(action_type="delegate", target_agent="claude-code", command="Fix the flaky test"))
    orch, journal = await make(config, paths, backend)
    news(journal)
    await drain(orch, lambda: bool(Approvals(journal).waiting()))
    done = answer(Journal(paths.journal), 1, "approved", always=config.file, pattern=r"^Fix the \w+ test$")
    assert done.pattern == r"^Fix the \w+ test$"
    text = config.file.read_text()
    assert "# my own comment" in text and "always_allow" in text
    assert Config.load(paths).approval.always_allow[0].pattern == r"^Fix the \w+ test$"

    news(journal, "the flaky test again")
    await drain(orch, lambda: len(journal.tasks()) == 2 and journal.tasks()[1]["state"] == "succeeded")
    second = [d for d in journal.decisions() if d["command"] == "Fix the flaky test"]
    assert [d["verdict"] for d in second] == ["accepted"]
    assert sorted(started(fake_agents)) == ["Fix the failing test", "Fix the flaky test"]
    assert Approvals(journal).waiting() == []


def test_deny_always_becomes_a_deny_rule_and_answers_the_others_it_matches(paths: Paths, watched: Path) -> None:
    config = asking(paths, watched)
    journal = Journal(paths.journal)
    for i, command in enumerate(["deploy to prod", "deploy to prod", "run the tests"]):
        journal.append(Observation(source="tests", event_type="x", target=str(i)))
        task = Task(decision_id=0, agent="claude-code", command=command, state="awaiting-approval")
        d = Decision(action_type="delegate", reasoning="r", target_agent="claude-code", command=command, confidence=0.9)
        journal.record_decision(
            DecisionRecord.of(
                d, [], verdict="awaiting-approval", task=task, approval_expires=utcnow() + timedelta(hours=1)
            )
        )
    done = answer(journal, 1, "denied", reason="never deploy", always=config.file)
    assert [a["id"] for a in done.also] == [2]
    assert [w["command"] for w in Approvals(journal).waiting()] == ["run the tests"]
    reloaded = Config.load(paths, watch=[watched])
    assert reloaded.deny_commands == [r"^deploy\ to\ prod$"]


# -- telling the user


class _Hook(BaseHTTPRequestHandler):
    received: ClassVar[list[dict[str, Any]]] = []

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["content-length"]))
        _Hook.received.append(json.loads(body))
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def webhook() -> Iterator[str]:
    server = HTTPServer(("127.0.0.1", 0), _Hook)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    _Hook.received = []
    yield f"http://127.0.0.1:{server.server_port}/hook"
    server.shutdown()
    server.server_close()


async def test_the_user_is_told_by_command_and_webhook(
    paths: Paths, watched: Path, fake_agents: Path, tmp_path: Path, webhook: str
) -> None:
    got = tmp_path / "notified.json"
    catcher = [sys.executable, "-c", f"import sys; open({str(got)!r}, 'w').write(sys.stdin.read())"]
    config = asking(paths, watched, f"notify_command = {json.dumps(catcher)}\nwebhook = {json.dumps(webhook)}\n")
    backend = ScriptedBackend()
    backend.enqueue(FIX)
    orch, journal = await make(config, paths, backend)
    news(journal)
    await drain(orch, lambda: got.exists() and got.stat().st_size > 0 and bool(_Hook.received))
    sent = json.loads(got.read_text())
    assert (sent["event"], sent["id"], sent["agent"], sent["command"]) == (
        "approval-requested",
        1,
        "claude-code",
        "Fix the failing test",
    )
    assert _Hook.received[0]["command"] == "Fix the failing test"


async def test_a_failing_channel_is_a_journaled_observation(paths: Paths, watched: Path, fake_agents: Path) -> None:
    config = asking(paths, watched, 'notify_command = ["false"]\nwebhook = "http://127.0.0.1:9/nothing"\n')
    backend = ScriptedBackend()
    backend.enqueue(FIX)
    orch, journal = await make(config, paths, backend)
    news(journal)
    await drain(orch, lambda: any(o.event_type == "notify-failed" for o in journal.observations(100)))
    [failed] = [o for o in journal.observations(100) if o.event_type == "notify-failed"]
    assert len(failed.details["errors"]) == 2
    assert Approvals(journal).waiting()  # the request itself still waits
