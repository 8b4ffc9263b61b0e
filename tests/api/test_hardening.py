"""The control API attacked as an outsider would: over real HTTP, against the real daemon's
uvicorn server in this process (so the process's memory is the daemon's), with bodies too big
to hold, ids too big for SQLite, and Host headers of other sites."""

from __future__ import annotations

import threading
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from urllib.parse import urlsplit

import httpx
import psutil
import pytest

from conscious.api.admission import MAX_BODY
from conscious.journal import Journal
from tests.api.test_app import Running

MiB = 1024 * 1024
HUGE = 64 * MiB
GROWTH = 20 * MiB
"""What the process's memory may grow by while a huge body comes in: far less than the body."""


async def chunks(total: int = HUGE, size: int = MiB) -> AsyncIterator[bytes]:
    """A body sent as it is made: the client never holds more than one chunk."""
    block = b"x" * size
    for _ in range(total // size):
        yield block


class Peak:
    """The most this process's resident memory grew by while a block ran, sampled every ms."""

    def __init__(self) -> None:
        self.growth = 0


@contextmanager
def peak_growth() -> Iterator[Peak]:
    process = psutil.Process()
    base = process.memory_info().rss
    peak = Peak()
    done = threading.Event()

    def sample() -> None:
        while not done.wait(0.001):
            peak.growth = max(peak.growth, process.memory_info().rss - base)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    try:
        yield peak
    finally:
        done.set()
        sampler.join()


def user_requests(running: Running) -> list[object]:
    journal = Journal(running.paths.journal)
    try:
        return [o for o in journal.observations(1000) if o.source == "user"]
    finally:
        journal.close()


async def test_a_huge_anonymous_post_is_refused_without_being_read(daemon: Running) -> None:
    async with daemon.client(None) as anonymous:
        await anonymous.get("/")  # the first request's own allocations are not the body's
        for declared in ({}, {"Content-Length": str(HUGE)}):
            with peak_growth() as peak:
                response = await anonymous.post("/api/inbox", content=chunks(), headers=declared)
            assert response.status_code == 401, declared
            assert response.headers["www-authenticate"] == "Bearer"
            assert peak.growth < GROWTH, (declared, peak.growth // MiB)
    assert user_requests(daemon) == []


async def test_a_huge_hook_post_is_refused_after_a_little(daemon: Running) -> None:
    async with daemon.client(None) as anonymous:
        await anonymous.get("/")
        nameless = await anonymous.post("/api/hooks/1", content=chunks())
        assert nameless.status_code == 403  # no hook token: not read at all
        with peak_growth() as peak:
            guessed = await anonymous.post("/api/hooks/1", content=chunks(), headers={"X-Conscious-Hook": "guess"})
        # A hook's token is the task's, checked with the body: the body is read, but no more than the limit.
        assert guessed.status_code == 413
        assert peak.growth < GROWTH, peak.growth // MiB


async def test_an_authenticated_body_too_large_is_413_and_not_kept(daemon: Running) -> None:
    async with daemon.client() as api:
        await api.get("/api/status")
        declared = await api.post("/api/inbox", json={"text": "x" * (MAX_BODY + 10)})
        assert declared.status_code == 413
        assert declared.json() == {"detail": f"a request body may hold at most {MAX_BODY} bytes"}
        with peak_growth() as peak:
            streamed = await api.post("/api/inbox", content=chunks(), headers={"content-type": "application/json"})
        assert streamed.status_code == 413 and "xxxx" not in streamed.text
        assert peak.growth < GROWTH, peak.growth // MiB
        assert (await api.get("/api/status")).status_code == 200  # and it goes on serving
        just_under = await api.post("/api/inbox", json={"text": "a body under the limit"})
        assert just_under.status_code == 201
    assert len(user_requests(daemon)) == 1


@pytest.mark.parametrize("number", [str(2**63), str(2**70), "-1", "9" * 5000])
async def test_ids_out_of_range_are_422_not_500(daemon: Running, number: str) -> None:
    routes = [
        ("POST", f"/api/approvals/{number}/approve"),
        ("POST", f"/api/approvals/{number}/deny"),
        ("GET", f"/api/tasks/{number}/diff"),
        ("POST", f"/api/tasks/{number}/merge"),
        ("POST", f"/api/tasks/{number}/discard"),
        ("GET", f"/api/observations?decision_id={number}"),
        ("GET", f"/api/observations?before={number}"),
        ("GET", f"/api/decisions?after={number}"),
        ("GET", f"/api/tasks?before={number}"),
    ]
    async with daemon.client() as api:
        for method, path in routes:
            response = await api.request(method, path)
            assert response.status_code == 422, (method, path[:60], response.text[:200])
            assert number not in response.json()["detail"]
        hook = await api.post(
            f"/api/hooks/{number}", json={"event": "session-start"}, headers={"X-Conscious-Hook": "any"}
        )
        assert hook.status_code == 422


async def test_the_largest_sqlite_id_is_only_not_found(daemon: Running) -> None:
    async with daemon.client() as api:
        assert (await api.post(f"/api/approvals/{2**63 - 1}/approve")).status_code == 404


async def test_a_last_event_id_that_is_no_number_is_ignored(daemon: Running) -> None:
    async with daemon.client() as api:
        for last in ("²".encode("latin-1"), b"9" * 40):  # headers are read as latin-1
            async with api.stream("GET", "/api/events", headers={"Last-Event-ID": last}) as response:
                assert response.status_code == 200


FOREIGN = ["evil.example", "evil.example:8377", "127.0.0.1.nip.io", "localhost.evil.example", "[::2]", "a b", ""]


async def test_a_foreign_host_is_refused_even_with_the_token(daemon: Running) -> None:
    """A page on another site, its name rebound to 127.0.0.1, sends its own name as the Host."""
    async with daemon.client() as api:
        for host in FOREIGN:
            for method, path in (("GET", "/api/status"), ("GET", "/"), ("POST", "/api/inbox")):
                response = await api.request(method, path, headers={"Host": host}, json={"text": "from afar"})
                assert response.status_code == 421, (host, path)
                assert response.json() == {"detail": "this server does not answer to that Host"}
                assert "\n" not in response.text
    assert user_requests(daemon) == []


async def test_loopback_hosts_with_or_without_the_port_are_served(daemon: Running) -> None:
    port = urlsplit(daemon.url).port
    hosts = ["localhost", f"localhost:{port}", "127.0.0.1", f"127.0.0.1:{port}", f"[::1]:{port}", "[::1]", "LocalHost"]
    async with daemon.client() as api:
        for host in hosts:
            response = await api.get("/api/status", headers={"Host": host})
            assert response.status_code == 200, host
    async with httpx.AsyncClient(trust_env=False) as browser:
        page = await browser.get(daemon.url.replace("127.0.0.1", "localhost"))
        assert page.status_code == 200
