"""Running an agent's command line: its own process group, a timeout, and a graceful kill
(SIGTERM to the group, then SIGKILL after a grace period) whether it times out or is cancelled."""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import os
import signal
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

_PR_SET_PDEATHSIG = 1
_prctl: Callable[..., int] | None = None
if sys.platform.startswith("linux"):
    # Looked up now, in the parent: a forked child of a threaded process must not dlopen.
    with contextlib.suppress(OSError, AttributeError):
        _prctl = ctypes.CDLL(None, use_errno=True).prctl


def die_with_parent() -> None:
    """In the child, before exec: ask Linux to SIGTERM it when the daemon dies, even by
    SIGKILL. Children get their own session (so Ctrl-C reaches the daemon first, which stops
    them in order), and this keeps such a child from outliving a daemon that was killed."""
    if _prctl is not None:
        _prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


OUTPUT_LIMIT = 1_000_000
"""Bytes of stdout/stderr kept per task."""


@dataclass
class ProcessResult:
    exit_code: int | None
    stdout: str
    stderr: str
    timed_out: bool = False


class CommandNotFound(Exception):
    pass


async def _read(stream: asyncio.StreamReader | None) -> bytes:
    if stream is None:
        return b""
    data = bytearray()
    while chunk := await stream.read(65536):
        if len(data) < OUTPUT_LIMIT:
            data += chunk[: OUTPUT_LIMIT - len(data)]
    return bytes(data)


async def kill_group(proc: asyncio.subprocess.Process, grace: float) -> None:
    if proc.returncode is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGTERM)
    try:
        await asyncio.wait_for(proc.wait(), grace)
    except TimeoutError:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        await proc.wait()


async def run_process(
    argv: Sequence[str],
    *,
    cwd: Path | None = None,
    timeout: float,
    grace: float = 5.0,
    env: dict[str, str] | None = None,
    on_start: Callable[[int], None] | None = None,
) -> ProcessResult:
    try:
        proc = await asyncio.create_subprocess_exec(
            *argv,
            cwd=cwd,
            env=env,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            start_new_session=True,
            preexec_fn=die_with_parent,
        )
    except FileNotFoundError:
        raise CommandNotFound(f"command not found: {argv[0]}") from None
    except PermissionError:
        raise CommandNotFound(f"command not executable: {argv[0]}") from None
    if on_start is not None:
        on_start(proc.pid)
    readers = asyncio.gather(_read(proc.stdout), _read(proc.stderr))
    timed_out = False
    try:
        await asyncio.wait_for(proc.wait(), timeout)
    except TimeoutError:
        timed_out = True
        await kill_group(proc, grace)
    except asyncio.CancelledError:
        await asyncio.shield(kill_group(proc, grace))
        readers.cancel()
        raise
    finally:
        # Grandchildren that outlive the leader still belong to the group.
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGKILL)
    try:
        # A daemonised grandchild in a new session can keep the pipes open forever.
        out, err = await asyncio.wait_for(readers, 5.0)
    except TimeoutError:
        out, err = b"", b"(output unavailable: a descendant kept the pipes open)"
    return ProcessResult(proc.returncode, out.decode(errors="replace"), err.decode(errors="replace"), timed_out)
