"""Shared fixtures. The LLM path runs against a real llama-server with the bundled model,
started once per session by our own EmbeddedServer."""

from __future__ import annotations

import asyncio
import json
import os
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from conscious.config import Config
from conscious.paths import Paths
from conscious.think.backends.bundled import bundled_model
from conscious.think.backends.embedded import EmbeddedServer, find_llama_server

FAKES_BIN = Path(__file__).parent / "fakes" / "bin"


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A private CONSCIOUS_HOME: no test shares a journal with another, or with the user."""
    h = tmp_path / "home"
    h.mkdir()
    monkeypatch.setenv("CONSCIOUS_HOME", str(h))
    for var in list(os.environ):
        if var.startswith("CONSCIOUS_") and var != "CONSCIOUS_HOME":
            monkeypatch.delenv(var)
    return h


@pytest.fixture
def paths(home: Path) -> Paths:
    return Paths.resolve(home)


@pytest.fixture
def watched(tmp_path: Path) -> Path:
    d = tmp_path / "project"
    d.mkdir()
    return d


@pytest.fixture
def config(paths: Paths, watched: Path) -> Config:
    return Config.load(paths, watch=[watched], probe_lmstudio=False)


@pytest.fixture
def fake_agents(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """Stand-in claude / claude-flow executables first on PATH; returns their argv log."""
    monkeypatch.setenv("PATH", f"{FAKES_BIN}{os.pathsep}{os.environ['PATH']}")
    log = tmp_path / "fake-agents.jsonl"
    log.touch()
    monkeypatch.setenv("CONSCIOUS_FAKE_LOG", str(log))
    # The stand-ins' log is the one thing outside their task's folder they may write (the wall
    # around them is otherwise the default one).
    monkeypatch.setenv("CONSCIOUS_SANDBOX__WRITABLE", json.dumps([str(log)]))
    return log


class _ServerThread:
    """Runs our EmbeddedServer on its own event loop so every test's loop can use it."""

    def __init__(self, server: EmbeddedServer) -> None:
        self.server = server
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()

    def call(self, coro: object, timeout: float = 180) -> None:
        asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)  # type: ignore[arg-type]

    def close(self) -> None:
        self.call(self.server.stop())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
        self.loop.close()


@pytest.fixture(scope="session")
def llama_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedServer]:
    """One real llama-server with SmolLM2-135M for the whole session."""
    log = tmp_path_factory.mktemp("llama") / "llama-server.log"
    server = EmbeddedServer(binary=find_llama_server(), model=bundled_model(), context_length=4096, log_file=log)
    runner = _ServerThread(server)
    runner.call(server.start(timeout=180))
    try:
        yield server
    finally:
        runner.close()


def git(repo: Path, *args: str) -> str:
    import subprocess

    done = subprocess.run(["git", "-C", str(repo), *args], capture_output=True, text=True, check=True)
    return done.stdout


@pytest.fixture
def repo(watched: Path) -> Path:
    """The watched folder as a real git repository: two files, one commit, its own identity."""
    git(watched, "init", "-q", "-b", "main")
    git(watched, "config", "user.name", "Test User")
    git(watched, "config", "user.email", "user@example.com")
    (watched / "calc.py").write_text("def add(a, b):\n    return a - b\n")
    (watched / "tests").mkdir()
    (watched / "tests" / "test_calc.py").write_text(
        "from calc import add\n\n\ndef test_add():\n    assert add(1, 2) == 3\n"
    )
    git(watched, "add", "-A")
    git(watched, "commit", "-q", "-m", "init")
    return watched
