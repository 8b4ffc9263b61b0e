"""Talking to the loop: `tell` (and waiting for the answer to a question), `release`."""

from __future__ import annotations

import contextlib
import sys
import time
from typing import Annotated

import typer
from rich.markup import escape

from conscious.cli.client import DaemonClient
from conscious.cli.common import HomeOpt, app, friendly, journal_at, out
from conscious.errors import ApiUnavailable, ConsciousError
from conscious.journal import Journal
from conscious.model import UNFINISHED, Observation, request
from conscious.paths import Paths
from conscious.think import asks


@app.command()
@friendly
def tell(
    text: Annotated[str, typer.Argument(help="What you want done or known; - reads it from standard input.")],
    home: HomeOpt = None,
    wait: Annotated[
        float, typer.Option("--wait", help="Seconds to wait for the answer to a question (0: do not wait).")
    ] = 60.0,
) -> None:
    """Put a request from you into the running loop; a question is answered here."""
    paths = Paths.resolve(home)
    if text == "-":
        text = sys.stdin.read().strip()
    told = request(text)  # refused here in one line, whether the daemon or the journal takes it
    if (client := DaemonClient.find(paths)) is not None:
        with client, contextlib.suppress(ApiUnavailable):
            obs_id = client.post("/api/inbox", {"text": told.details["text"]})["id"]
            out.print(f"queued as observation #{obs_id} (told the running daemon)")
            if wait > 0 and asks.kind(told.details["text"]) in ("question", "vague"):
                said = await_reply(paths, obs_id, wait)
                print(said if said is not None else f"no answer within {wait:g} s: `conscious log` will show it")
            return
    paths.ensure()
    journal = Journal(paths.journal)
    obs_id = journal.append(told)
    out.print(f"queued as observation #{obs_id}")


@app.command()
@friendly
def release(
    quarantine_id: Annotated[int, typer.Argument(metavar="ID", help="The quarantine entry (see `conscious status`).")],
    home: HomeOpt = None,
) -> None:
    """Let a quarantined item (one that kept failing) be delegated again."""
    journal = journal_at(home)
    entry = journal.release(quarantine_id)
    if entry is None:
        active = ", ".join(str(q["id"]) for q in journal.quarantined()) or "none"
        raise ConsciousError(f"no quarantined item #{quarantine_id} (quarantined now: {active})")
    journal.append(
        Observation(
            source="user",
            event_type="released",
            target=f"quarantine#{quarantine_id}",
            details={
                "text": f"I released {entry['agent']}: {entry['command'][:200]} from quarantine; it may be tried again."
            },
        )
    )
    out.print(f"released #{quarantine_id}: {escape(entry['agent'])}: {escape(entry['command'][:120])}")


def await_reply(paths: Paths, obs_id: int, wait: float) -> str | None:
    """The memory agent's answer to the observation (a question, or an ask it asks back), once
    the loop has decided it; None if it did otherwise or not within ``wait`` seconds."""
    journal = Journal(paths.journal)
    try:
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            reply = journal.reply_to(obs_id)
            if reply is not None and reply["agent"] != "memory":
                return None  # decided otherwise: `conscious log` says how
            if reply is not None and reply["state"] not in UNFINISHED:
                return str(reply["result"] or "")
            time.sleep(0.2)
        return None
    finally:
        journal.close()
