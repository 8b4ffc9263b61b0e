"""Running an agent's command line: its own process group, a timeout, and a graceful kill
(SIGTERM to the group, then SIGKILL after a grace period) whether it times out or is cancelled."""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import functools
import os
import resource
import signal
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import psutil

from conscious.errors import CommandNotFound

_PR_SET_PDEATHSIG = 1
_prctl: Callable[..., int] | None = None
if sys.platform.startswith("linux"):
    # Looked up now, in the parent: a forked child of a threaded process must not dlopen.
    with contextlib.suppress(OSError, AttributeError):
        _prctl = ctypes.CDLL(None, use_errno=True).prctl


def die_with_parent(parent: int | None = None) -> None:
    """In the child, before exec: ask Linux to SIGTERM it when the daemon dies, even by
    SIGKILL. Children get their own session (so Ctrl-C reaches the daemon first, which stops
    them in order), and this keeps such a child from outliving a daemon that was killed.
    ``parent``: the daemon's pid, taken before the fork — a daemon killed between the fork and
    this call sends no signal, and the child must not go on as an orphan."""
    if _prctl is not None:
        _prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
    if parent is not None and os.getppid() != parent:
        os._exit(1)


@dataclass(frozen=True)
class ProcessLimits:
    """What an agent's processes may take (0: no limit)."""

    processes: int = 0
    """Processes of the user's at once: a fork bomb stops there (Linux does not count root's)."""
    memory_mb: int = 0
    """Memory each process may write to (``RLIMIT_DATA``: what it uses, not the address space
    a JavaScript engine reserves, so Node runs under it)."""


def _child_setup(limits: ProcessLimits, parent: int) -> None:
    die_with_parent(parent)
    if limits.processes:
        resource.setrlimit(resource.RLIMIT_NPROC, (limits.processes, limits.processes))
    if limits.memory_mb:
        size = limits.memory_mb * 1024 * 1024
        resource.setrlimit(resource.RLIMIT_DATA, (size, size))


OUTPUT_LIMIT = 1_000_000
"""Bytes of stdout/stderr kept per task."""


@dataclass
class ProcessResult:
    exit_code: int | None
    stdout: str
    stderr: str
    timed_out: bool = False
    stopped: bool = False
    """Stopped because ``on_line`` asked for it."""


async def _read(stream: asyncio.StreamReader | None, on_output: Callable[[], None] | None = None) -> bytes:
    if stream is None:
        return b""
    data = bytearray()
    while chunk := await stream.read(65536):
        if on_output is not None:
            on_output()
        if len(data) < OUTPUT_LIMIT:
            data += chunk[: OUTPUT_LIMIT - len(data)]
    return bytes(data)


async def _read_lines(
    stream: asyncio.StreamReader | None,
    on_line: Callable[[str], bool],
    stop: asyncio.Event,
    on_output: Callable[[], None] | None = None,
) -> bytes:
    """Like ``_read``, and each line goes to ``on_line`` as it arrives; True from it sets ``stop``."""
    if stream is None:
        return b""
    data = bytearray()
    while line := await stream.readline():
        if on_output is not None:
            on_output()
        if len(data) < OUTPUT_LIMIT:
            data += line[: OUTPUT_LIMIT - len(data)]
        if not stop.is_set() and on_line(line.decode(errors="replace")):
            stop.set()
    return bytes(data)


def signal_group(pgid: int, sig: signal.Signals, since: float) -> int:
    """Send ``sig`` to the processes of group ``pgid`` created since ``since`` (epoch seconds).

    Never ``killpg`` on a bare number: once the leader is reaped its pid is free, and with
    pid_max at 32,768 a busy machine hands it to an unrelated process group within minutes.
    Returns how many were signalled."""
    sent = 0
    for proc in psutil.process_iter(["create_time"]):
        with contextlib.suppress(psutil.Error, ProcessLookupError, PermissionError):
            if os.getpgid(proc.pid) == pgid and proc.info["create_time"] >= since - 1:
                proc.send_signal(sig)
                sent += 1
    return sent


async def kill_group(proc: asyncio.subprocess.Process, grace: float, since: float) -> None:
    if proc.returncode is not None:
        return
    signal_group(proc.pid, signal.SIGTERM, since)
    try:
        await asyncio.wait_for(proc.wait(), grace)
    except TimeoutError:
        signal_group(proc.pid, signal.SIGKILL, since)
        await proc.wait()


async def run_process(
    argv: Sequence[str],
    *,
    cwd: Path | None = None,
    timeout: float,
    grace: float = 5.0,
    env: dict[str, str] | None = None,
    on_start: Callable[[int], None] | None = None,
    on_line: Callable[[str], bool] | None = None,
    on_output: Callable[[], None] | None = None,
    limits: ProcessLimits = ProcessLimits(),
) -> ProcessResult:
    """Run to completion, timeout, or (``on_line`` returning True for a line of stdout) a stop."""
    try:
        proc = await asyncio.create_subprocess_exec(
            *argv,
            cwd=cwd,
            env=env,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            start_new_session=True,
            preexec_fn=functools.partial(_child_setup, limits, os.getpid()),
            limit=OUTPUT_LIMIT,  # one stream-json line can be long
        )
    except FileNotFoundError:
        raise CommandNotFound(f"command not found: {argv[0]}") from None
    except PermissionError:
        raise CommandNotFound(f"command not executable: {argv[0]}") from None
    since = time.time() - 1.0  # the group's processes are all younger than this
    if on_start is not None:
        on_start(proc.pid)
    stop = asyncio.Event()
    out_reader = (
        _read(proc.stdout, on_output) if on_line is None else _read_lines(proc.stdout, on_line, stop, on_output)
    )
    readers = asyncio.gather(out_reader, _read(proc.stderr, on_output))
    timed_out = False
    ended = asyncio.ensure_future(proc.wait())
    try:
        stopping = asyncio.ensure_future(stop.wait())
        try:
            await asyncio.wait({ended, stopping}, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
        finally:
            stopping.cancel()
        if not ended.done():
            ended.cancel()
            timed_out = not stop.is_set()
            await kill_group(proc, grace, since)
    except asyncio.CancelledError:
        ended.cancel()
        await asyncio.shield(kill_group(proc, grace, since))
        readers.cancel()
        raise
    finally:
        # Grandchildren that outlive the leader still belong to the group.
        signal_group(proc.pid, signal.SIGKILL, since)
    try:
        # A daemonised grandchild in a new session can keep the pipes open forever.
        out, err = await asyncio.wait_for(readers, 5.0)
    except TimeoutError:
        out, err = b"", b"(output unavailable: a descendant kept the pipes open)"
    return ProcessResult(
        proc.returncode, out.decode(errors="replace"), err.decode(errors="replace"), timed_out, stop.is_set()
    )
