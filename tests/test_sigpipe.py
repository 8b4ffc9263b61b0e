"""A client that goes away mid-stream never kills the daemon: `conscious run` through the real
entry point (`python -m conscious`), the event stream opened on a raw socket and dropped while
the daemon writes to it. With SIGPIPE at its default in the daemon, this killed it without a
word (the live-page test caught it, once in a while)."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

from conscious.api.token import read_token
from tests.daemon_harness import Daemon, wait_for


def test_a_dropped_event_stream_does_not_kill_the_daemon(tmp_path: Path) -> None:
    watched, home = tmp_path / "project", tmp_path / "home"
    watched.mkdir()
    home.mkdir()
    daemon = Daemon(home, watched, {"CONSCIOUS_LLM_URL": "scripted://observe", "CONSCIOUS_API_PORT": "0"})
    daemon.start()
    try:
        wait_for(daemon.ready, 60, "the daemon")
        status = json.loads(
            subprocess.run(
                [sys.executable, "-m", "conscious", "status", "--json"],
                env=daemon.env(),
                capture_output=True,
                text=True,
            ).stdout
        )
        url = httpx.URL(status["api_url"])
        token = read_token(home)
        for round_ in range(3):
            reader = socket.create_connection((url.host, url.port))
            reader.sendall(
                f"GET /api/events HTTP/1.1\r\nHost: {url.host}:{url.port}\r\nAuthorization: Bearer {token}\r\n\r\n".encode()
            )
            reader.recv(256)
            reader.close()  # gone, while the daemon keeps writing events to it
            with httpx.Client(base_url=str(url), headers={"Authorization": f"Bearer {token}"}, trust_env=False) as api:
                for n in range(5):
                    api.post("/api/inbox", json={"text": f"note: round {round_} fact {n}"})
                    time.sleep(0.05)
        time.sleep(1.0)
        assert daemon.alive(), daemon.stderr()[-2000:]
        with httpx.Client(base_url=str(url), headers={"Authorization": f"Bearer {token}"}, trust_env=False) as api:
            assert api.get("/api/status").status_code == 200
    finally:
        assert daemon.stop() == 0, daemon.stderr()
        daemon.close()
