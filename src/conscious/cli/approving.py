"""Answering the delegations that wait for you: `approve`, `deny`, `approvals`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

from conscious.cli.client import Reached
from conscious.cli.common import ConfigOpt, HomeOpt, app, friendly, out
from conscious.cli.show import waiting_line
from conscious.config import Config
from conscious.control.facade import Answer, journal_of
from conscious.errors import ConsciousError
from conscious.paths import Paths

ReasonArg = Annotated[str | None, typer.Argument(help="Why (told to the model).")]
AlwaysOpt = Annotated[
    bool, typer.Option("--always", help="Keep the answer as a rule in the config file: not asked again.")
]
PatternOpt = Annotated[
    str | None,
    typer.Option("--pattern", help="With --always: the rule's regular expression (default: this exact command)."),
]
ApprovalArg = Annotated[int, typer.Argument(metavar="ID", help="The request (see `conscious approvals`).")]


def _answer(
    given: Answer,
    approval_id: int,
    reason: str | None,
    always: bool,
    pattern: str | None,
    home: Path | None,
    config_file: Path | None,
) -> None:
    if pattern is not None and not always:
        raise ConsciousError("--pattern goes with --always")
    paths = Paths.resolve(home)
    # A config file given: the rule goes there, so the journal answers (the daemon keeps its own).
    with Reached(paths, rules_file=lambda: Config.load(paths, config_file).file, api=config_file is None) as daemon:
        done = daemon.answer(approval_id, given, reason=reason, always=always, pattern=pattern)
    r = done.request
    out.print(f"{given} #{approval_id}: {escape(r['agent'])}: {escape(r['command'][:120])}")
    if done.pattern is not None:
        kept = "approval.always_allow" if given == "approved" else "deny_commands"
        out.print(f"[dim]kept in {done.kept_in} ({kept}): {escape(done.pattern)}[/]")
    for other in done.also:
        out.print(f"{given} #{other['id']} too: {escape(other['agent'])}: {escape(other['command'][:120])}")


@app.command()
@friendly
def approve(
    approval_id: ApprovalArg,
    always: AlwaysOpt = False,
    pattern: PatternOpt = None,
    home: HomeOpt = None,
    config_file: ConfigOpt = None,
) -> None:
    """Let a delegation that waits for your approval start."""
    _answer("approved", approval_id, None, always, pattern, home, config_file)


@app.command()
@friendly
def deny(
    approval_id: ApprovalArg,
    reason: ReasonArg = None,
    always: AlwaysOpt = False,
    pattern: PatternOpt = None,
    home: HomeOpt = None,
    config_file: ConfigOpt = None,
) -> None:
    """Refuse a delegation that waits for your approval (the model is told, with your reason)."""
    _answer("denied", approval_id, reason, always, pattern, home, config_file)


@app.command()
@friendly
def approvals(as_json: Annotated[bool, typer.Option("--json")] = False, home: HomeOpt = None) -> None:
    """Delegations waiting for your approval."""
    with journal_of(Paths.resolve(home)) as journal:
        waiting = journal.waiting()  # a read: the journal answers as the API would
    if as_json:
        print(json.dumps(waiting, default=str))
        return
    if not waiting:
        out.print("[dim]nothing waits for your approval[/]")
    for w in waiting:
        out.print(waiting_line(w))
