"""The notification channels, with real commands: one cut short by a stop does not outlive it."""

from __future__ import annotations

import asyncio
import contextlib
import sys
from pathlib import Path

import psutil

from conscious.config import ApprovalConfig
from conscious.gate.notify import send

SLOW = "import os, sys, time, pathlib; pathlib.Path(sys.argv[1]).write_text(str(os.getpid())); time.sleep(60)"


async def test_a_notify_command_cut_short_by_a_stop_is_killed(tmp_path: Path) -> None:
    pid_file = tmp_path / "pid"
    config = ApprovalConfig(notify_send=False, notify_command=[sys.executable, "-c", SLOW, str(pid_file)])
    sending = asyncio.create_task(send("title", "body", {"event": "test"}, config))
    async with asyncio.timeout(10):
        while not pid_file.exists() or not pid_file.read_text():
            await asyncio.sleep(0.05)
    pid = int(pid_file.read_text())
    sending.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await sending
    assert not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
