"""The control API of a real daemon (``serve``, in this process, on its own uvicorn server and
port), driven over real HTTP. The brain is the scripted one, delegating each user request to
the stand-in `claude` on PATH; approvals are asked for, so one waits to be answered."""

from __future__ import annotations

import asyncio
import json
import os
import stat
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from conscious.config import ApprovalConfig, Config
from conscious.control.terminal import Terminal
from conscious.daemon.serve import serve
from conscious.journal import Journal
from conscious.paths import Paths


@dataclass
class Running:
    url: str
    token: str
    paths: Paths
    stop: asyncio.Event

    def client(self, token: str | None = "") -> httpx.AsyncClient:
        token = self.token if token == "" else token
        headers = {"Authorization": f"Bearer {token}"} if token is not None else {}
        return httpx.AsyncClient(base_url=self.url, headers=headers, timeout=10, trust_env=False)


async def until(check: Any, timeout: float = 20.0, what: str = "") -> Any:
    async with asyncio.timeout(timeout):
        while not (found := await check()):
            await asyncio.sleep(0.05)
    return found


@pytest.fixture
async def daemon(
    paths: Paths, watched: Path, fake_agents: Path, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[Running]:
    monkeypatch.setenv("CONSCIOUS_FAKE_MODE", "slow")
    monkeypatch.setenv("CONSCIOUS_FAKE_SLEEP", "1.5")
    config = Config.load(
        paths,
        watch=[watched],
        probe_lmstudio=False,
        llm_url="scripted://delegate?agent=claude-code",
        decide="compose",  # the scripted brain composes "handle <target>" for what it sees
        api_port=0,
        approval=ApprovalConfig(agents={"claude-code": "ask"}, notify_send=False),
        health_interval=0.2,
        stall_after=0.6,
        heartbeat_interval=3600,
    )
    stop = asyncio.Event()
    task = asyncio.create_task(serve(config, paths, Terminal(quiet=True), stop))
    reader = None

    async def published() -> str | None:
        nonlocal reader
        if task.done():
            task.result()
        if reader is None and paths.journal.exists():
            reader = Journal(paths.journal)
        return reader.identity().get("daemon", {}).get("api_url") if reader else None

    try:
        url = await until(published, what="the API address")
        token = (paths.state_dir / "api-token").read_text().strip()
        yield Running(url, token, paths, stop)
    finally:
        stop.set()
        await asyncio.wait_for(task, 30)
        if reader is not None:
            reader.close()


ROUTES = [
    ("GET", "/api/status"),
    ("GET", "/api/observations"),
    ("GET", "/api/decisions"),
    ("GET", "/api/tasks"),
    ("GET", "/api/approvals"),
    ("GET", "/api/events"),
    ("GET", "/metrics"),
    ("POST", "/api/inbox"),
    ("POST", "/api/approvals/1/approve"),
    ("POST", "/api/approvals/1/deny"),
]


async def test_without_the_token_every_route_is_401_and_nothing_changes(daemon: Running) -> None:
    async with daemon.client() as good:
        before = (await good.get("/api/status")).json()["counts"]
    for token in (None, "wrong-token"):
        async with daemon.client(token) as bad:
            for method, path in ROUTES:
                body = {"text": "delete everything"} if path == "/api/inbox" else None
                response = await bad.request(method, path, json=body)
                assert response.status_code == 401, (method, path, token)
                assert response.headers["www-authenticate"] == "Bearer"
    async with daemon.client() as good:
        after = (await good.get("/api/status")).json()["counts"]
    assert after["observations"] == before["observations"]
    journal = Journal(daemon.paths.journal)
    assert not [o for o in journal.observations(1000) if o.source == "user"]
    journal.close()


def test_the_token_file_is_private(paths: Paths) -> None:
    from conscious.api.token import ensure_token, read_token

    token = ensure_token(paths.state_dir)
    path = paths.state_dir / "api-token"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600 and len(token) >= 40
    assert ensure_token(paths.state_dir) == token == read_token(paths.state_dir)  # made once, then kept
    path.chmod(0o644)
    assert ensure_token(paths.state_dir) == token and stat.S_IMODE(path.stat().st_mode) == 0o600


async def test_inbox_decision_approval_and_result_through_the_api(daemon: Running, fake_agents: Path) -> None:
    async with daemon.client() as api:
        told = await api.post("/api/inbox", json={"text": "the login page is slow, find out why"})
        assert told.status_code == 201
        obs_id = told.json()["id"]

        async def waiting() -> list[dict[str, Any]]:
            return list((await api.get("/api/approvals")).json()["items"])

        request = (await until(waiting, what="an approval request"))[0]
        assert request["agent"] == "claude-code" and request["command"] == "handle inbox"  # the scripted brain's
        assert fake_agents.read_text() == ""  # nothing started before the answer

        decisions = (await api.get("/api/decisions", params={"limit": 5})).json()["items"]
        record = next(d for d in decisions if d["task"] and d["task"]["id"] == request["task_id"])
        assert [o["id"] for o in record["observations"]] == [obs_id]
        assert record["verdict"] == "awaiting-approval" and record["origin"] == "llm"

        answer = await api.post(f"/api/approvals/{request['id']}/approve", json={})
        assert answer.status_code == 200 and answer.json()["answer"] == "approved"
        again = await api.post(f"/api/approvals/{request['id']}/approve", json={})
        assert again.status_code == 409
        assert (await api.post("/api/approvals/9999/deny", json={"reason": "no"})).status_code == 404

        async def finished() -> dict[str, Any] | None:
            tasks = (await api.get("/api/tasks", params={"state": "succeeded"})).json()["items"]
            return tasks[0] if tasks else None

        task = await until(finished, what="the delegation to finish")
        assert task["id"] == request["task_id"]
        starts = [json.loads(line) for line in fake_agents.read_text().splitlines()]
        assert len(starts) == 1  # started once, after the approval

        status = (await api.get("/api/status")).json()
        assert status["running"] is True and status["api_url"] == daemon.url
        assert set(status["checks"]) >= {"llm", "model", "journal", "observers", "budget"}
        # The approval is news to the model (a user observation), so the scripted brain asks again.
        assert status["approvals"] and status["approvals"][0]["id"] != request["id"]


async def test_pages_and_filters(daemon: Running) -> None:
    async with daemon.client() as api:
        for i in range(3):
            await api.post("/api/inbox", json={"text": f"request {i}"})
        page = (await api.get("/api/observations", params={"limit": 2, "source": "user"})).json()
        assert [o["details"]["text"] for o in page["items"]] == ["request 2", "request 1"]
        older = await api.get("/api/observations", params={"limit": 2, "source": "user", "before": page["next_before"]})
        assert [o["details"]["text"] for o in older.json()["items"]] == ["request 0"]
        assert older.json()["next_before"] is None
        newer = (await api.get("/api/observations", params={"after": page["items"][1]["id"], "source": "user"})).json()
        assert [o["details"]["text"] for o in newer["items"]] == ["request 2"]
        assert (await api.get("/api/observations", params={"limit": 0})).status_code == 422
        assert (await api.post("/api/inbox", json={"text": ""})).status_code == 422


async def read_events(response: httpx.Response) -> AsyncIterator[tuple[str, dict[str, Any]]]:
    kind, data = None, None
    async for line in response.aiter_lines():
        if line.startswith("event: "):
            kind = line[len("event: ") :]
        elif line.startswith("data: "):
            data = json.loads(line[len("data: ") :])
        elif line == "" and kind is not None:
            yield kind, data or {}
            kind, data = None, None


async def test_the_event_stream_shows_the_thought_as_it_streams(daemon: Running) -> None:
    seen: list[tuple[str, dict[str, Any]]] = []
    async with daemon.client() as api, api.stream("GET", "/api/events") as response:
        assert response.headers["content-type"].startswith("text/event-stream")
        events = read_events(response)
        kind, hello = await anext(events)
        assert kind == "hello" and hello["status"]["running"] is True
        await api.post("/api/inbox", json={"text": "run the tests please"})
        async with asyncio.timeout(20):
            async for kind, data in events:
                seen.append((kind, data))
                if kind == "approval" and data["what"] == "requested":
                    break
    kinds = [k for k, _ in seen]
    assert kinds.index("observation") < kinds.index("thought") < kinds.index("token") < kinds.index("decision")
    observation = next(d for k, d in seen if k == "observation")
    assert observation["source"] == "user" and observation["details"]["text"] == "run the tests please"
    streamed = "".join(d["text"] for k, d in seen if k == "token")
    decision = next(d for k, d in seen if k == "decision")
    assert json.loads(streamed)["target_agent"] == decision["target_agent"] == "claude-code"
    assert decision["verdict"] == "awaiting-approval" and decision["first_token_ms"] is not None


async def test_metrics_count_what_happened(daemon: Running) -> None:
    async with daemon.client() as api:
        await api.post("/api/inbox", json={"text": "count me"})

        async def decided() -> bool:
            return bool((await api.get("/api/decisions", params={"origin": "llm"})).json()["items"])

        await until(decided)
        text = (await api.get("/metrics")).text
    assert 'conscious_observations_total{severity="info",source="user"} 1.0' in text
    assert 'conscious_decisions_total{action="delegate",origin="llm",verdict="awaiting-approval"} 1.0' in text
    assert "conscious_decision_latency_seconds_count 1.0" in text
    assert "conscious_context_fill_ratio" in text and "conscious_pending_observations" in text


async def test_a_silent_delegation_is_reported_stalled(daemon: Running) -> None:
    async with daemon.client() as api:
        await api.post("/api/inbox", json={"text": "something slow"})
        request = (await until(lambda: _approvals(api)))[0]
        await api.post(f"/api/approvals/{request['id']}/approve")

        async def stalled() -> list[dict[str, Any]]:
            return list((await api.get("/api/status")).json()["stalled"])

        found = (await until(stalled, what="a stall"))[0]
        assert found["task_id"] == request["task_id"] and found["silent_s"] >= 0
        obs = (await api.get("/api/observations", params={"event_type": "stalled"})).json()["items"]
        assert obs and obs[0]["source"] == "agent" and obs[0]["details"]["task_id"] == request["task_id"]


async def _approvals(api: httpx.AsyncClient) -> list[dict[str, Any]]:
    return list((await api.get("/api/approvals")).json()["items"])


async def conscious(*args: str, home: Path, **more: str) -> tuple[int, str, str]:
    """The real CLI, as a subprocess, without blocking the daemon's loop in this process."""
    env = {**os.environ, "CONSCIOUS_HOME": str(home), **more}
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "conscious",
        *args,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    return proc.returncode or 0, out.decode(), err.decode()


async def test_the_cli_goes_through_the_api_while_a_daemon_runs(daemon: Running) -> None:
    home = daemon.paths.data_dir
    code, out, err = await conscious("tell", "look at the flaky test", home=home)
    assert code == 0, err
    assert "told the running daemon" in out
    async with daemon.client() as api:
        request = (await until(lambda: _approvals(api)))[0]
    code, out, err = await conscious("deny", str(request["id"]), "not now", home=home)
    assert code == 0, err
    assert f"denied #{request['id']}" in out
    code, out, err = await conscious("status", "--json", home=home)
    status = json.loads(out)
    assert status["running"] is True and status["api_url"] == daemon.url and "checks" in status
    code, out, err = await conscious("log", "--json", home=home)
    records = [json.loads(line) for line in out.splitlines()]
    [mine] = [r for r in records if r["task"] and r["task"]["id"] == request["task_id"]]
    assert mine["task"]["state"] == "denied" and mine["verdict"] == "awaiting-approval"
    code, out, err = await conscious("page", home=home)
    assert out.strip() == f"{daemon.url}/#token={daemon.token}"
    code, out, err = await conscious("page", "--open", home=home, BROWSER="false")  # no browser that opens
    assert code == 1 and out.strip() == f"{daemon.url}/#token={daemon.token}"
    assert err.strip() == "conscious: no browser found here: open the address above in one"


async def test_each_observation_is_shown_once_on_the_stream(daemon: Running) -> None:
    """Including an agent's result, which the dispatcher journals and the loop then decides."""
    shown: list[int] = []
    async with daemon.client() as api, api.stream("GET", "/api/events") as response:
        events = read_events(response)
        await api.post("/api/inbox", json={"text": "do the slow thing"})
        result_id = None
        async with asyncio.timeout(30):
            async for kind, data in events:
                if kind == "observation":
                    shown.append(data["id"])
                    if data["source"] == "agent" and data["event_type"] == "succeeded":
                        result_id = data["id"]
                elif kind == "approval" and data["what"] == "requested" and result_id is None:
                    assert data["task_id"] and data["decision_id"] and data["requested"]
                    await api.post(f"/api/approvals/{data['id']}/approve")
                elif kind == "thought" and result_id in data["observations"]:
                    break  # the loop has found the result pending: any second showing would be before this
    assert result_id is not None
    assert len(shown) == len(set(shown)), shown


async def test_text_that_is_not_text_is_mended_and_text_too_long_is_one_line(daemon: Running) -> None:
    async with daemon.client() as api:
        # A lone surrogate, as JSON may carry it: a 500 and two tracebacks before.
        raw = b'{"text": "fix \\ud800 the parser \\udcff"}'
        told = await api.post("/api/inbox", content=raw, headers={"content-type": "application/json"})
        assert told.status_code == 201, told.text
        [obs] = [o for o in Journal(daemon.paths.journal).observations(50) if o.id == told.json()["id"]]
        assert obs.details["text"] == "fix \ufffd the parser \ufffd"
        long = await api.post("/api/inbox", json={"text": "x" * 100_000})
        assert long.status_code == 422
        detail = long.json()["detail"]
        assert isinstance(detail, str) and "at most 20,000 characters" in detail and "xxxxxxxxxx" not in detail
        empty = await api.post("/api/inbox", json={"text": "   "})
        assert empty.status_code == 422 and "needs some words" in empty.json()["detail"]
