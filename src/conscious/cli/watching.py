"""`conscious watch -- CMD`: run a command as you would, and tell the loop how it ended."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections import deque
from typing import Annotated

import typer

from conscious.cli.common import HomeOpt, app, err, friendly
from conscious.control.facade import JournalDaemon
from conscious.errors import ConsciousError
from conscious.observe.command import TAIL_LINES, ended
from conscious.paths import Paths


@app.command(context_settings={"ignore_unknown_options": True})
@friendly
def watch(
    command: Annotated[list[str], typer.Argument(help="The command and its arguments, after `--`.")],
    home: HomeOpt = None,
) -> None:
    """Run a command (its output as usual) and tell the loop its exit code and the tail of its output."""
    paths = Paths.resolve(home)
    tail: deque[str] = deque(maxlen=TAIL_LINES)
    began = time.monotonic()
    try:
        proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    except OSError as exc:
        raise ConsciousError(f"cannot run {command[0]}: {exc.strerror or exc}") from None
    assert proc.stdout is not None
    try:
        for raw in proc.stdout:
            sys.stdout.buffer.write(raw)
            sys.stdout.buffer.flush()
            tail.append(raw.decode("utf-8", "replace"))
        code = proc.wait()
    except KeyboardInterrupt:
        proc.terminate()
        code = proc.wait()
    obs = ended(command, code, list(tail), time.monotonic() - began, os.getcwd())
    with JournalDaemon.at(paths) as journal:
        obs_id = journal.observed(obs)
    err.print(f"conscious: {obs.event_type} with exit code {code}; told the loop (observation #{obs_id})")
    raise typer.Exit(code if 0 <= code < 256 else 1)
