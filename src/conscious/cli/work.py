"""What the agents did in their worktrees: `worktrees`, `diff`, `merge`, `discard`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape

from conscious.cli.client import Reached
from conscious.cli.common import HomeOpt, app, friendly, out
from conscious.control.facade import journal_of
from conscious.paths import Paths

TaskArg = Annotated[int, typer.Argument(metavar="ID", help="The task (see `conscious worktrees`).")]


def _on(home: Path | None, task_id: int, action: str) -> dict[str, Any]:
    with Reached(Paths.resolve(home)) as daemon:
        return daemon.worktree(task_id, action)


@app.command()
@friendly
def worktrees(as_json: Annotated[bool, typer.Option("--json")] = False, home: HomeOpt = None) -> None:
    """Tasks' worktrees not merged or discarded yet."""
    with journal_of(Paths.resolve(home)) as journal:
        rows = journal.worktrees()
    if as_json:
        out.print_json(json.dumps(rows, default=str))
        return
    if not rows:
        out.print("no worktrees waiting")
    for w in rows:
        out.print(
            f"task {w['task_id']} ({escape(w['agent'])}, {w['task_state']}): {escape(w['branch'])} in {w['path']}"
            f"\n  {escape(w['command'][:100])}"
        )


@app.command()
@friendly
def diff(task_id: TaskArg, home: HomeOpt = None) -> None:
    """A task's changes: its branch against where it began."""
    text = _on(home, task_id, "diff")["diff"]
    out.print(escape(text) if text else "no changes", end="" if text else "\n", soft_wrap=True)


@app.command()
@friendly
def merge(
    task_id: TaskArg,
    sensitive: Annotated[
        bool,
        typer.Option(
            "--sensitive",
            help="Merge even what a person must see first (links out of the repository, git attributes,"
            " hooks, agent settings, CI and build files): read `conscious diff` before.",
        ),
    ] = False,
    home: HomeOpt = None,
) -> None:
    """Merge a task's branch into the branch checked out in your repository (a fast-forward
    when it can be; a conflict leaves everything untouched)."""
    how = _on(home, task_id, "merge-sensitive" if sensitive else "merge")["merged"]
    out.print(f"task {task_id} merged: {how}")


@app.command()
@friendly
def discard(task_id: TaskArg, home: HomeOpt = None) -> None:
    """Throw a task's worktree and branch away."""
    _on(home, task_id, "discard")
    out.print(f"task {task_id} discarded: its worktree and branch are removed")
