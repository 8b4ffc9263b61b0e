"""The process runner with real subprocesses: groups, timeouts, stubborn children."""

import asyncio
import signal
import subprocess
import sys
from pathlib import Path

import psutil
import pytest

from conscious.errors import CommandNotFound
from conscious.system.process import ProcessLimits, run_process

PY = sys.executable


async def test_output_and_exit_code(tmp_path: Path) -> None:
    r = await run_process([PY, "-c", "import os,sys; print(os.getcwd()); sys.exit(3)"], cwd=tmp_path, timeout=10)
    assert (r.exit_code, r.stdout.strip(), r.timed_out) == (3, str(tmp_path), False)


async def test_missing_command() -> None:
    with pytest.raises(CommandNotFound, match="no-such-cli"):
        await run_process(["no-such-cli-xyz"], timeout=5)


async def test_timeout_kills_the_whole_group_even_if_it_ignores_sigterm() -> None:
    script = (
        "import signal, subprocess, sys, time\n"
        "signal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
        "child = subprocess.Popen([sys.executable, '-c', 'import signal,time; "
        "signal.signal(signal.SIGTERM, signal.SIG_IGN); time.sleep(60)'])\n"
        "print(child.pid, flush=True)\n"
        "time.sleep(60)\n"
    )
    pids: list[int] = []
    r = await run_process([PY, "-c", script], timeout=1.5, grace=0.5, on_start=pids.append)
    assert r.timed_out
    child = int(r.stdout.split()[0])
    await asyncio.sleep(0.2)
    for pid in (pids[0], child):
        assert not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE


async def test_cancellation_kills_the_group() -> None:
    pids: list[int] = []
    task = asyncio.create_task(
        run_process([PY, "-c", "import time; time.sleep(60)"], timeout=60, grace=0.5, on_start=pids.append)
    )
    await asyncio.sleep(0.5)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert pids and (not psutil.pid_exists(pids[0]) or psutil.Process(pids[0]).status() == psutil.STATUS_ZOMBIE)


def test_children_die_with_a_killed_daemon(tmp_path: Path) -> None:
    """A daemon killed with SIGKILL must not leave its agents (or its llama-server) behind."""
    pid_file = tmp_path / "child.pid"
    script = (
        "import asyncio, os, signal, sys\n"
        "from conscious.system.process import run_process\n"
        "def started(pid):\n"
        f"    open({str(pid_file)!r}, 'w').write(str(pid))\n"
        "    os.kill(os.getpid(), signal.SIGKILL)\n"
        "asyncio.run(run_process([sys.executable, '-c', 'import time; time.sleep(60)'], timeout=60, on_start=started))\n"
    )
    daemon = subprocess.run([PY, "-c", script], timeout=30)
    assert daemon.returncode == -signal.SIGKILL
    try:
        child = psutil.Process(int(pid_file.read_text()))
    except psutil.NoSuchProcess:
        return  # gone already, before it could be looked at: it died with its daemon
    try:
        child.wait(timeout=5)
    except psutil.TimeoutExpired:
        child.kill()
        raise AssertionError("the agent outlived its daemon") from None


async def test_memory_beyond_the_limit_is_refused_to_the_process_and_node_still_runs() -> None:
    hog = [sys.executable, "-c", "x = bytearray(400 * 1024 * 1024); print('allocated')"]
    limited = await run_process(hog, timeout=60, limits=ProcessLimits(memory_mb=200))
    assert limited.exit_code != 0 and "MemoryError" in limited.stderr
    free = await run_process(hog, timeout=60)
    assert free.exit_code == 0 and "allocated" in free.stdout
    node = await run_process(
        ["node", "-e", "console.log('node runs')"], timeout=60, limits=ProcessLimits(memory_mb=512)
    )
    assert node.exit_code == 0 and "node runs" in node.stdout, node.stderr
