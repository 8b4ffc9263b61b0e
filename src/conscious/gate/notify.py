"""Telling the user: that a delegation waits for their answer (here), or that something went
wrong (``control/alerts.py``), on the same channels — a desktop notification where
``notify-send`` exists, a command of theirs (the message as JSON on stdin), a webhook (POSTed
as JSON). Each channel that fails is reported back, never raised: a missing notification must
not stop the loop."""

from __future__ import annotations

import asyncio
import json
import shutil
from typing import Any

import httpx

from conscious.config import ApprovalConfig

TIMEOUT = 10.0
"""Seconds any one channel may take."""


def summary(request: dict[str, Any]) -> str:
    return (
        f"#{request['id']} {request['agent']} ({request.get('priority', '?')}): {str(request['command'])[:160]}\n"
        f"conscious approve {request['id']}  ·  conscious deny {request['id']}"
    )


async def _run(argv: list[str], stdin: bytes | None = None) -> str | None:
    try:
        proc = await asyncio.create_subprocess_exec(
            *argv,
            stdin=asyncio.subprocess.PIPE if stdin is not None else asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.PIPE,
        )
    except OSError as exc:
        return f"{argv[0]}: {exc.strerror or exc}"
    try:
        _, err = await asyncio.wait_for(proc.communicate(stdin), TIMEOUT)
    except TimeoutError:
        proc.kill()
        await proc.wait()
        return f"{argv[0]}: no answer in {TIMEOUT:.0f}s"
    except asyncio.CancelledError:  # the daemon stops: the command must not outlive it
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
        raise
    if proc.returncode != 0:
        tail = err.decode(errors="replace").strip().splitlines()[-1:] or [""]
        return f"{argv[0]} exited {proc.returncode}: {tail[0][:200]}"
    return None


async def announce(request: dict[str, Any], config: ApprovalConfig) -> list[str]:
    """Send the request on every configured channel; returns one line per channel that failed."""
    payload = {"event": "approval-requested", **request}
    return await send("conscious: a delegation waits for you", summary(request), payload, config)


async def send(title: str, body: str, payload: dict[str, Any], config: ApprovalConfig) -> list[str]:
    """One message on every configured channel; one line per channel that failed."""
    jobs = []
    if config.notify_send and (exe := shutil.which("notify-send")) is not None:
        jobs.append(_run([exe, "--app-name=conscious", title, body]))
    if config.notify_command:
        jobs.append(_run(config.notify_command, json.dumps(payload, default=str).encode()))
    if config.webhook:
        jobs.append(_post(config.webhook, payload))
    return [e for e in await asyncio.gather(*jobs) if e is not None]


async def _post(url: str, payload: dict[str, Any]) -> str | None:
    try:
        async with httpx.AsyncClient(timeout=TIMEOUT) as client:
            response = await client.post(
                url, content=json.dumps(payload, default=str), headers={"content-type": "application/json"}
            )
    except httpx.HTTPError as exc:
        return f"webhook {url}: {exc!r}"
    if response.is_error:
        return f"webhook {url}: HTTP {response.status_code}"
    return None
