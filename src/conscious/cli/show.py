"""What the journal holds: `log` and `status`."""

from __future__ import annotations

import json
import sys
from datetime import datetime
from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table

from conscious.approvals import Approvals
from conscious.budget import budget_lines, budget_use
from conscious.cli.common import HomeOpt, app, friendly, journal_at, out
from conscious.delegate.policy import DAY
from conscious.journal import Journal
from conscious.lock import daemon_running


def _when(ts: str | None) -> str:
    if not ts:
        return ""
    return datetime.fromisoformat(ts).astimezone().strftime("%m-%d %H:%M:%S")


@app.command("log")
@friendly
def log_(
    limit: Annotated[
        int | None, typer.Option("--limit", "-n", help="How many decisions (default 20) or observations (default all).")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per decision.")] = False,
    show_all: Annotated[
        bool,
        typer.Option("--all", help="Include routine decisions (with --observations: its own feedback too)."),
    ] = False,
    list_observations: Annotated[
        bool,
        typer.Option(
            "--observations",
            help="List observations instead (with --json: in the shape `conscious replay` reads).",
        ),
    ] = False,
    home: HomeOpt = None,
) -> None:
    """Show recent decisions with the observations they covered and their delegations."""
    journal = journal_at(home)
    if list_observations:
        _log_observations(journal, limit, as_json, show_all)
        return
    limit = limit or 20
    tasks = {t["decision_id"]: t for t in journal.tasks(limit=limit * 4)}
    for d in journal.decisions(limit, include_rule=show_all):
        observations = journal.observations(decision_id=d["id"])
        task = tasks.get(d["id"])
        if as_json:
            record: dict[str, Any] = {
                **d,
                "metadata": json.loads(d["metadata"]),
                "observations": [o.model_dump(mode="json") for o in observations],
                "task": task,
            }
            out.print_json(data=record) if sys.stdout.isatty() else print(json.dumps(record, default=str))
            continue
        obs_text = "; ".join(
            f"{o.source}/{o.event_type} {o.target}" + (f" x{o.count}" if o.count > 1 else "") for o in observations[:4]
        )
        if len(observations) > 4:
            obs_text += f"; +{len(observations) - 4} more"
        verdict = "" if d["verdict"] == "accepted" else f" [yellow]({d['verdict']})[/]"
        target = f" → {d['target_agent']}: {escape((d['command'] or '')[:100])}" if d["target_agent"] else ""
        out.print(
            f"[dim]{_when(d['ts'])}[/] [bold]#{d['id']} {d['action_type']}[/]{verdict}{target} "
            f"[dim]conf {d['confidence']:.2f} · {d['origin']}[/]"
        )
        out.print(f"    [cyan]saw:[/] {escape(obs_text)}")
        out.print(f"    [dim]why: {escape(d['reasoning'][:160])}[/]")
        if task:
            cost = f" ${task['cost_usd']:.4f}" if task["cost_usd"] is not None else ""
            out.print(
                f"    [green]task #{task['id']} {task['agent']} {task['state']}{cost}[/]"
                + (f": {escape((task['result'] or '')[:160])}" if task["result"] else "")
            )
    pending = journal.pending_count()
    if pending and not as_json:
        out.print(f"[yellow]{pending} observation(s) pending[/]")
    if (waiting := len(Approvals(journal).waiting())) and not as_json:
        out.print(f"[yellow]{waiting} delegation(s) waiting for your approval: `conscious approvals`[/]")


def _log_observations(journal: Journal, limit: int | None, as_json: bool, show_all: bool) -> None:
    """What the orchestrator saw; its own feedback (reflections, refusals, outages) only with
    ``--all``, so that a replay of the export does not see it twice."""
    for o in journal.observations(limit or 2**62):
        if o.source in ("self", "system", "policy") and not show_all:
            continue
        if as_json:
            record = o.model_dump(
                mode="json", include={"timestamp", "source", "event_type", "target", "severity", "details"}
            )
            print(json.dumps(record))
            continue
        repeat = f" x{o.count}" if o.count > 1 else ""
        decided = f"→ #{o.decision_id}" if o.decision_id else "[yellow]pending[/]"
        out.print(
            f"[dim]{_when(o.timestamp.isoformat())}[/] #{o.id} {escape(o.source)}/{escape(o.event_type)} "
            f"{escape(o.target[:100])}{repeat} [dim]{o.severity}[/] {decided}"
        )


@app.command()
@friendly
def status(
    as_json: Annotated[bool, typer.Option("--json")] = False,
    home: HomeOpt = None,
) -> None:
    """Model, context usage, pending observations, uptime and counts."""
    journal = journal_at(home)
    ident = journal.identity()
    daemon: dict[str, Any] = ident.get("daemon", {})
    counts = journal.counts()
    # The lock, not the last published state: a killed daemon never said it stopped.
    alive = daemon_running(journal.path)
    report = {
        "running": alive,
        **daemon,
        "counts": counts,
        "first_start": ident.get("first_start"),
        "sessions": ident.get("sessions"),
        "journal": str(journal.path),
        "quarantined": journal.quarantined(),
        "approvals": Approvals(journal).waiting(),
        "budget": budget_use(journal.recent_tasks(DAY), daemon.get("limits", {})),
    }
    report["running"] = alive
    if as_json:
        print(json.dumps(report, default=str))
        return
    table = Table(show_header=False, box=None)
    table.add_row(
        "state", ("[green]running[/]" if alive else "[red]stopped[/]") + f" · health {daemon.get('health', '?')}"
    )
    for problem in daemon.get("problems", []) if alive else []:
        table.add_row("problem", f"[yellow]{escape(problem)}[/]")
    if daemon.get("started") and alive:
        uptime = int((datetime.now().astimezone() - datetime.fromisoformat(daemon["started"])).total_seconds())
        table.add_row("uptime", f"{uptime // 3600}h {uptime % 3600 // 60}m {uptime % 60}s")
    table.add_row(
        "model",
        f"{daemon.get('model', '?')} · profile {daemon.get('profile') or 'none'} · {daemon.get('server', '?')} · "
        f"{daemon.get('llm_url', '?')}",
    )
    used, budget = daemon.get("context_used"), daemon.get("context_budget")
    if used is not None and budget:
        exact = "" if daemon.get("exact_tokens", True) else " (estimated)"
        table.add_row(
            "context",
            f"{used}/{budget} tokens ({100 * used / budget:.0f}%){exact}, "
            f"{daemon.get('turns', 0)} turns; model context {daemon.get('context_length')}",
        )
    if daemon.get("memory_tokens"):
        table.add_row(
            "memory", f"{daemon['memory_tokens']} tokens of identity and summary; {counts['summaries']} summaries"
        )
    for w in report["approvals"]:
        table.add_row("waiting", waiting_line(w))
    use = report["budget"]
    for agent, line in budget_lines(use):
        table.add_row("budget" if agent is None else f"  {agent}", line)
    for q in journal.quarantined():
        table.add_row(
            "quarantined",
            f"[yellow]#{q['id']} {escape(q['agent'])}: {escape(q['command'][:80])}[/] "
            f"[dim]({escape(q['reason'])}; `conscious release {q['id']}`)[/]",
        )
    table.add_row("pending", str(counts["pending"]))
    table.add_row(
        "counts",
        f"{counts['observations']} observations · {counts['decisions']} decisions · "
        f"{counts['delegations']} delegations ({counts['running']} running) · {counts['notes']} notes",
    )
    table.add_row("journal", str(journal.path))
    out.print(table)


def waiting_line(w: dict[str, Any]) -> str:
    return (
        f"[yellow]#{w['id']}[/] {escape(w['agent'])} ({w['priority']}, {w['confidence']:.2f}): "
        f"{escape(w['command'][:100])} [dim]expires {_when(w['expires'])}; "
        f"`conscious approve {w['id']}` / `conscious deny {w['id']}`[/]"
    )
