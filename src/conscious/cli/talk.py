"""Talking to the loop: `tell` (and waiting for the answer to a question), `release`."""

from __future__ import annotations

import sys
from typing import Annotated

import typer
from rich.markup import escape

from conscious.cli.client import Reached
from conscious.cli.common import HomeOpt, app, friendly, out
from conscious.control.facade import asks_back, journal_of
from conscious.model import request
from conscious.paths import Paths


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
    said = str(request(text).details["text"])  # refused here in one line, whether the daemon or the journal takes it
    with Reached(paths, make=True) as daemon:
        obs_id = daemon.tell(said)
        if not daemon.live:
            out.print(f"queued as observation #{obs_id}")
            return
        out.print(f"queued as observation #{obs_id} (told the running daemon)")
        if wait > 0 and asks_back(said):
            reply = daemon.journal.reply(obs_id, wait)
            print(reply if reply is not None else f"no answer within {wait:g} s: `conscious log` will show it")


@app.command()
@friendly
def release(
    quarantine_id: Annotated[int, typer.Argument(metavar="ID", help="The quarantine entry (see `conscious status`).")],
    home: HomeOpt = None,
) -> None:
    """Let a quarantined item (one that kept failing) be delegated again."""
    with journal_of(Paths.resolve(home)) as journal:
        entry = journal.release(quarantine_id)
    out.print(f"released #{quarantine_id}: {escape(entry['agent'])}: {escape(entry['command'][:120])}")
