"""What the journal holds: `log` and `status`."""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Iterator
from datetime import datetime
from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table

from conscious.cli.client import Reached
from conscious.cli.cluster import configured, report_for, rows
from conscious.cli.common import HomeOpt, app, friendly, out
from conscious.control.facade import Daemon, JournalDaemon, Listing, as_seen
from conscious.paths import Paths


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
    follow: Annotated[
        bool, typer.Option("--follow", "-f", help="Keep printing what happens, as it happens (Ctrl-C to stop).")
    ] = False,
    home: HomeOpt = None,
) -> None:
    """Show recent decisions with the observations they covered and their delegations."""
    with Reached(Paths.resolve(home), api=not list_observations) as daemon:
        journal = daemon.journal
        if list_observations:
            _log_observations(journal, limit, as_json, show_all)
            return
        records = recent_decisions(daemon, limit or 20, show_all)
        for record in records:
            _show_decision(record, as_json)
        if follow:
            _follow(journal, max((r["id"] for r in records), default=0), as_json, show_all)
            return
        if (pending := journal.pending()) and not as_json:
            out.print(f"[yellow]{pending} observation(s) pending[/]")
        if (waiting := len(journal.waiting())) and not as_json:
            out.print(f"[yellow]{waiting} delegation(s) waiting for your approval: `conscious approvals`[/]")


def recent_decisions(daemon: Daemon, limit: int, show_all: bool) -> list[dict[str, Any]]:
    """Oldest first: from the running daemon's API, else from the journal (the same records)."""
    found: list[dict[str, Any]] = daemon.page(Listing("decisions", limit, routine=show_all))["items"]
    return found[::-1]


def _show_decision(record: dict[str, Any], as_json: bool) -> None:
    if as_json:
        out.print_json(data=record) if sys.stdout.isatty() else print(json.dumps(record, default=str), flush=True)
        return
    seen = as_seen(record["observations"])
    obs_text = "; ".join(_seen(o) for o in seen[:4])
    if len(seen) > 4:
        obs_text += f"; +{len(seen) - 4} more"
    verdict = "" if record["verdict"] == "accepted" else f" [yellow]({record['verdict']})[/]"
    delegates = record["action_type"] == "delegate" and record["target_agent"]
    target = f" → {record['target_agent']}: {escape((record['command'] or '')[:100])}" if delegates else ""
    measured = " measured" if record["metadata"].get("confidence_from") == "logprobs" else ""
    out.print(
        f"[dim]{_when(record['ts'])}[/] [bold]#{record['id']} {record['action_type']}[/]{verdict}{target} "
        f"[dim]conf {record['confidence']:.2f}{measured} · {record['origin']}[/]"
    )
    out.print(f"    [cyan]saw:[/] {escape(obs_text)}")
    out.print(f"    [dim]why: {escape(record['reasoning'][:160])}[/]")
    if task := record["task"]:
        _show_task(task)


def _seen(o: dict[str, Any]) -> str:
    """An observation in a line: the user's own words, a burst's size, or what and where."""
    details = o.get("details") or {}
    if o["source"] == "user" and isinstance(details.get("text"), str):
        return f"the user asks: {details['text'][:200]!r}"
    if o["source"] == "filesystem" and isinstance(details.get("files"), int):
        kinds = ", ".join(f"{n} {k}" for k, n in (details.get("kinds") or {}).items())
        return f"{details['files']} files {o['event_type']} under {details.get('relative')} ({kinds})"
    return f"{o['source']}/{o['event_type']} {o['target']}" + (f" x{o['count']}" if o["count"] > 1 else "")


def _show_task(task: dict[str, Any]) -> None:
    cost = f" ${task['cost_usd']:.4f}" if task["cost_usd"] is not None else ""
    style = "green" if task["state"] in ("succeeded", "running", "pending") else "yellow"
    out.print(
        f"    [{style}]task #{task['id']} {escape(task['agent'])} {task['state']}{cost}[/]"
        + (f": {escape((task['result'] or '')[:160])}" if task["result"] else "")
    )
    if changed := task.get("files_changed"):
        examples = ", ".join(changed["examples"])
        out.print(f"    [dim]its own changes: {changed['files']} file(s): {escape(examples)}[/]")
    if task.get("workspace"):  # it changed nothing: its clone and branch were removed as it ended
        out.print(f"    [dim]workspace {escape(str(task['workspace']))}: nothing to merge[/]")
    elif branch := task.get("branch"):
        commits = task.get("commits") or []
        state = task.get("worktree_state") or "ready"
        where, n = "", task["id"]
        if task.get("worker"):  # run by a worker of the cluster: its branch is in that host's checkout
            where, n = f"on {task['worker']}: ", task.get("worker_task_id", n)
        what = {"ready": f"{where}`conscious diff {n}`, `merge {n}` or `discard {n}`"}
        out.print(
            f"    [cyan]branch {escape(branch)}[/]: {len(commits)} commit(s), {escape(task.get('diffstat') or '')};"
            f" checks {escape(str(task.get('checks')))}; {what.get(state, state)}"
        )
        for commit in commits[:3]:
            out.print(f"      [dim]{escape(commit)}[/]")
    for denial in task.get("denials") or []:
        out.print(f"    [red]refused at the tool call:[/] {escape(denial)}")


FOLLOW_INTERVAL = 0.5


def _follow(journal: JournalDaemon, last_decision: int, as_json: bool, show_all: bool) -> None:
    """Print new decisions (and, as text, the observations between them, agents' results among
    them) as the journal receives them, whether the daemon runs or not; Ctrl-C ends it."""
    last_obs = journal.newest()
    version = None
    try:
        while True:
            if (now := journal.changed()) != version:
                version = now
                if not as_json:
                    for o in journal.page(Listing("observations", 500, after=last_obs))["items"]:
                        last_obs = o["id"]
                        if show_all or (o["source"], o["event_type"]) != ("clock", "heartbeat"):
                            _show_observation(o)
                for record in journal.page(Listing("decisions", 500, after=last_decision, routine=show_all))["items"]:
                    last_decision = record["id"]
                    _show_decision(record, as_json)
            time.sleep(FOLLOW_INTERVAL)
    except KeyboardInterrupt:
        return


def _show_observation(o: dict[str, Any]) -> None:
    repeat = f" x{o['count']}" if o["count"] > 1 else ""
    whose = f" (by task #{o['details'].get('task_id')})" if o.get("status") == "attributed" else ""
    out.print(
        f"[dim]{_when(o['timestamp'])}[/] [cyan]◇ #{o['id']} {escape(o['source'])}/{escape(o['event_type'])}[/] "
        f"{escape(o['target'][:100])}{repeat} [dim]{o['severity']}{whose}[/]"
    )


def _log_observations(journal: JournalDaemon, limit: int | None, as_json: bool, show_all: bool) -> None:
    """What the orchestrator saw; its own feedback (reflections, refusals, outages) only with
    ``--all``, so that a replay of the export does not see it twice."""
    for o in journal.observations(limit):
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
        if o.status == "attributed":
            decided = f"[dim]by task #{o.details.get('task_id')}[/]"
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
    """Model, context usage, health, pending observations, uptime and counts."""
    paths = Paths.resolve(home)
    if as_json and not paths.journal.exists():
        # JSON is asked for: JSON it gets, whatever the state (and the exit code says it).
        said = {"running": False, "journal": str(paths.journal), "error": "no journal yet: start `conscious run`"}
        print(json.dumps(said))
        raise typer.Exit(1)
    with Reached(paths) as reached:
        report = reached.status()
        size = f"{reached.journal.size() / 1e6:,.1f} MB"
    daemon, counts, alive = report, report["counts"], report["running"]
    if (in_cluster := configured(home)) is not None:
        report["cluster"] = report_for(in_cluster)  # from the broker: the same on every host
    if as_json:
        print(json.dumps(report, default=str))
        return
    table = Table(show_header=False, box=None)
    for key, value in [
        *_life_rows(daemon, alive),
        *_model_rows(daemon, counts),
        *_work_rows(report),
        ("journal", f"{report['journal']} ({size}{_horizon(daemon)})"),
    ]:
        table.add_row(key, value)
    if alive and daemon.get("api_url"):
        table.add_row("api", f"{daemon['api_url']} (`conscious page` for the live page)")
    for key, value in rows(report["cluster"]) if in_cluster is not None else []:
        table.add_row(key, value)
    out.print(table)


Row = tuple[str, str]


def _life_rows(daemon: dict[str, Any], alive: bool) -> Iterator[Row]:
    """Running or not, its health, what it does, what is stuck, since when."""
    yield "state", ("[green]running[/]" if alive else "[red]stopped[/]") + f" · health {daemon.get('health', '?')}"
    if not alive:
        return
    for problem in daemon.get("problems", []):
        yield "problem", f"[yellow]{escape(problem)}[/]"
    if daemon.get("activity"):
        yield "doing", escape(daemon["activity"])
    for st in daemon.get("stalled", []):
        said = f"[yellow]task #{st['task_id']} {escape(st['agent'])} silent for {st['silent_s']}s:[/] "
        yield "stalled", said + escape(st["command"][:80])
    if daemon.get("started"):
        uptime = int((datetime.now().astimezone() - datetime.fromisoformat(daemon["started"])).total_seconds())
        yield "uptime", f"{uptime // 3600}h {uptime % 3600 // 60}m {uptime % 60}s"


def _model_rows(daemon: dict[str, Any], counts: dict[str, Any]) -> Iterator[Row]:
    """The model and its window, where the agents work and what walls them in."""
    yield (
        "model",
        f"{daemon.get('model', '?')} · profile {daemon.get('profile') or 'none'} · {daemon.get('server', '?')} · "
        f"{daemon.get('llm_url', '?')}",
    )
    if workspace := daemon.get("workspace"):
        yield "workspace", escape(workspace)
    if wall := daemon.get("sandbox"):
        yield "sandbox", f"[bold red]{escape(wall)}[/]" if wall.startswith(("OFF", "UNAVAILABLE")) else escape(wall)
    if source := daemon.get("confidence_from"):
        yield (
            "confidence",
            "measured: the probability the model gave its choice (log-probabilities)"
            if source == "logprobs"
            else "[yellow]self-reported: the server gives no log-probabilities[/]",
        )
    used, budget = daemon.get("context_used"), daemon.get("context_budget")
    if used is not None and budget:
        exact = "" if daemon.get("exact_tokens", True) else " (estimated)"
        yield (
            "context",
            f"{used}/{budget} tokens ({100 * used / budget:.0f}%){exact}, "
            f"{daemon.get('turns', 0)} turns; model context {daemon.get('context_length')}",
        )
    if daemon.get("memory_tokens"):
        yield "memory", f"{daemon['memory_tokens']} tokens of identity and summary; {counts['summaries']} summaries"


def _work_rows(report: dict[str, Any]) -> Iterator[Row]:
    """What waits for you, what was spent, what is held back, what is pending, the counts."""
    for w in report["approvals"]:
        yield "waiting", waiting_line(w)
    for agent, line in budget_lines(report["budget"]):
        yield "budget" if agent is None else f"  {agent}", line
    for q in report["quarantined"]:
        yield (
            "quarantined",
            f"[yellow]#{q['id']} {escape(q['agent'])}: {escape(q['command'][:80])}[/] "
            f"[dim]({escape(q['reason'])}; `conscious release {q['id']}`)[/]",
        )
    counts = report["counts"]
    yield "pending", str(counts["pending"])
    yield (
        "counts",
        f"{counts['observations']} observations · {counts['decisions']} decisions · "
        f"{counts['delegations']} delegations ({counts['running']} running) · {counts['notes']} notes",
    )


def _horizon(daemon: dict[str, Any]) -> str:
    return f", rows older than {daemon['retention_days']:g} days let go" if daemon.get("retention_days") else ""


def waiting_line(w: dict[str, Any]) -> str:
    return (
        f"[yellow]#{w['id']}[/] {escape(w['agent'])} ({w['priority']}, {w['confidence']:.2f}): "
        f"{escape(w['command'][:100])} [dim]expires {_when(w['expires'])}; "
        f"`conscious approve {w['id']}` / `conscious deny {w['id']}`[/]"
    )


def _of(used: float, cap: float | None, money: bool = False) -> str:
    def fmt(v: float) -> str:
        return f"${v:.2f}" if money else f"{v:g}"

    return fmt(used) + (f"/{fmt(cap)}" if cap is not None else "")


def budget_lines(use: dict[str, Any]) -> Iterator[tuple[str | None, str]]:
    """(agent or None for overall, line)."""
    limits = use["limits"]
    yield (
        None,
        f"{_of(use['delegations_last_hour'], limits.get('delegations_per_hour'))} delegations this hour · "
        f"{_of(use['spent_today_usd'], limits.get('max_spend_usd_per_day'), money=True)} spent today",
    )
    for agent, figures in use["by_agent"].items():
        own = limits.get("budgets", {}).get(agent, {})
        yield (
            agent,
            f"{_of(figures['delegations_last_hour'], own.get('delegations_per_hour'))} this hour · "
            f"{_of(figures['spent_today_usd'], own.get('max_spend_usd_per_day'), money=True)} today",
        )
