"""The daemon's life as systemd sees it: READY, STATUS, WATCHDOG and STOPPING on a real
NOTIFY_SOCKET, and the variables kept from the agents it starts."""

from __future__ import annotations

import asyncio
import os
import socket
from pathlib import Path

import pytest

from conscious.config import Config
from conscious.control.terminal import Terminal
from conscious.daemon.serve import serve
from conscious.paths import Paths


async def test_sd_notify_ready_status_watchdog_stopping(
    paths: Paths, watched: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    address = str(tmp_path / "notify.sock")
    server = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    server.bind(address)
    server.setblocking(False)
    monkeypatch.setenv("NOTIFY_SOCKET", address)
    monkeypatch.setenv("WATCHDOG_USEC", "400000")  # ping every 0.2 s
    monkeypatch.setenv("WATCHDOG_PID", str(os.getpid()))
    config = Config.load(paths, watch=[watched], probe_lmstudio=False, llm_url="scripted://observe", api_port=0)
    stop = asyncio.Event()
    daemon = asyncio.create_task(serve(config, paths, Terminal(quiet=True), stop))
    messages: list[str] = []
    loop = asyncio.get_running_loop()

    async def receive_until(predicate: object, timeout: float = 20) -> None:
        async with asyncio.timeout(timeout):
            while not predicate(messages):  # type: ignore[operator]
                messages.append((await loop.sock_recv(server, 4096)).decode())

    try:
        await receive_until(lambda m: any("READY=1" in x for x in m) and sum("WATCHDOG=1" in x for x in m) >= 3)
        assert messages[0] == "STATUS=waiting for the LLM server"  # before the server answers
        statuses = [x for x in messages if x.startswith("STATUS=")]
        assert any("health " in s and "context " in s for s in statuses)
        assert "NOTIFY_SOCKET" not in os.environ and "WATCHDOG_USEC" not in os.environ  # not for the agents
    finally:
        stop.set()
        await asyncio.wait_for(daemon, 30)
    await receive_until(lambda m: any(x.startswith("STOPPING=1") for x in m), 5)
    server.close()
