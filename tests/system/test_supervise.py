"""Supervised parts: restarted with back-off and told; one that keeps failing stops the daemon,
which then exits non-zero — never a part dead in a task nobody looks at."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from conscious.config import Config
from conscious.control.health import Health
from conscious.control.terminal import Terminal
from conscious.daemon.serve import serve
from conscious.errors import PartFailed
from conscious.paths import Paths
from conscious.system.supervise import Supervisor


class Said:
    def __init__(self) -> None:
        self.lines: list[str] = []

    def warn(self, text: str) -> None:
        self.lines.append(text)


async def test_a_part_that_fails_is_restarted_and_told_then_runs_on() -> None:
    runs = 0

    async def part() -> None:
        nonlocal runs
        runs += 1
        if runs < 3:
            raise RuntimeError(f"boom {runs}")

    said, stop = Said(), asyncio.Event()
    failures = Supervisor(said, stop, first_wait=0.01)
    await failures.start("inbox", part)
    assert runs == 3 and failures.fatal is None and not stop.is_set()
    assert said.lines == [
        "inbox failed (1 within 5 min): RuntimeError: boom 1; restarting it",
        "inbox failed (2 within 5 min): RuntimeError: boom 2; restarting it",
    ]


async def test_a_part_that_keeps_failing_stops_everything_and_says_why() -> None:
    async def part() -> None:
        raise KeyError("decisions.cluster_seq")

    said, stop = Said(), asyncio.Event()
    dropped: list[bool] = []
    failures = Supervisor(said, stop, giving_up=lambda: dropped.append(True), limit=3, first_wait=0.01)
    await failures.start("inbox", part)
    assert stop.is_set() and len(said.lines) == 3 and dropped == [True]
    with pytest.raises(PartFailed) as caught:
        failures.raise_if_fatal()
    assert str(caught.value).startswith("the inbox kept failing (KeyError: 'decisions.cluster_seq'): stopping")


async def test_the_daemon_whose_health_loop_keeps_raising_exits_with_one_line(
    paths: Paths, watched: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A fault injected into a real daemon (in this process): its health loop raises every round."""

    async def broken(self: Health, stop: asyncio.Event) -> None:
        raise OSError("injected fault")

    monkeypatch.setattr(Health, "run", broken)
    config = Config.load(paths, watch=[watched], probe_lmstudio=False, llm_url="scripted://observe", api_port=0)
    with pytest.raises(PartFailed) as caught:
        await asyncio.wait_for(serve(config, paths, Terminal(quiet=True)), 60)
    assert "health loop kept failing (OSError: injected fault)" in str(caught.value)
    assert "\n" not in str(caught.value)


async def test_the_daemon_whose_control_api_dies_exits_with_one_line(paths: Paths, watched: Path) -> None:
    config = Config.load(paths, watch=[watched], probe_lmstudio=False, llm_url="scripted://observe", api_port=0)
    daemon = asyncio.create_task(serve(config, paths, Terminal(quiet=True)))
    async with asyncio.timeout(30):
        while not any(t.get_name() == "control-api" for t in asyncio.all_tasks()):
            await asyncio.sleep(0.05)
    await asyncio.sleep(0.5)
    [api] = [t for t in asyncio.all_tasks() if t.get_name() == "control-api"]
    api.cancel()  # the API's server task ends from outside, as a crash inside uvicorn would end it
    with pytest.raises(PartFailed) as caught:
        await asyncio.wait_for(daemon, 30)
    assert str(caught.value).startswith("the control API kept failing (RuntimeError: stopped serving (cancelled))")
