"""The ``conscious`` command. Every command talks to the daemon through the journal, so
``tell``, ``log`` and ``status`` work the same whether or not anything else is up."""

from __future__ import annotations

import asyncio
import functools
import json
import logging
import sys
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any, ParamSpec, TypeVar

import click
import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from conscious.answers import answer
from conscious.approvals import Answer, Approvals
from conscious.budget import budget_lines, budget_use
from conscious.config import Config
from conscious.console import Reporter
from conscious.delegate.policy import DAY
from conscious.errors import ConsciousError
from conscious.journal import Journal
from conscious.lock import daemon_running, single_instance
from conscious.model import Observation
from conscious.paths import Paths
from conscious.shortcuts import RULES
from conscious.think.profiles import SAMPLING, catalogue

app = typer.Typer(
    help="A local LLM as a continuous orchestrator: it observes, decides, and delegates to agents.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
out = Console(highlight=False)
err = Console(stderr=True, highlight=False)

P = ParamSpec("P")
R = TypeVar("R")

HomeOpt = Annotated[
    Path | None,
    typer.Option(
        "--home",
        help="Keep config, journal and logs in this folder (default: CONSCIOUS_HOME, else the XDG directories).",
    ),
]
ConfigOpt = Annotated[Path | None, typer.Option("--config", "-c", help="TOML config file.")]


def friendly(fn: Callable[P, R]) -> Callable[P, R]:
    """Any ConsciousError becomes one line on stderr and exit code 1 — never a traceback."""

    @functools.wraps(fn)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return fn(*args, **kwargs)
        except ConsciousError as exc:
            err.print(f"[red]conscious: error:[/] {escape(str(exc))}")
            raise typer.Exit(1) from None
        except OSError as exc:
            where = f" ({exc.filename})" if exc.filename else ""
            err.print(f"[red]conscious: error:[/] {escape(exc.strerror or str(exc))}{escape(where)}")
            raise typer.Exit(1) from None
        except (typer.Exit, typer.Abort, click.ClickException):
            raise
        except Exception as exc:
            # A bug of ours: still one line for the user; the traceback goes to the log.
            logging.getLogger("conscious").exception("unexpected error")
            err.print(f"[red]conscious: internal error:[/] {escape(repr(exc))[:300]} (details in the log file)")
            raise typer.Exit(70) from None

    return wrapper


def _journal(home: Path | None) -> Journal:
    paths = Paths.resolve(home)
    if not paths.journal.exists():
        raise ConsciousError(f"no journal at {paths.journal} yet: start `conscious run` first")
    return Journal(paths.journal)


@app.command()
@friendly
def run(
    watch: Annotated[
        list[Path] | None, typer.Option("--watch", "-w", help="Folder to watch (repeatable; default: current folder).")
    ] = None,
    llm_url: Annotated[
        str | None, typer.Option("--llm-url", help="OpenAI-compatible base URL, e.g. http://localhost:1234/v1")
    ] = None,
    model: Annotated[
        str | None, typer.Option("--model", help="Model id (default: what the server has loaded).")
    ] = None,
    context_length: Annotated[
        int | None, typer.Option("--context-length", help="Override the model's context length.")
    ] = None,
    system_prompt: Annotated[
        Path | None, typer.Option("--system-prompt", help="File replacing the default system prompt.")
    ] = None,
    model_path: Annotated[Path | None, typer.Option("--model-path", help="GGUF file for the embedded server.")] = None,
    dry_run: Annotated[
        bool | None, typer.Option("--dry-run/--no-dry-run", help="Decide, but start no delegation.")
    ] = None,
    log_level: Annotated[str | None, typer.Option("--log-level")] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No live output.")] = False,
    home: HomeOpt = None,
    config_file: ConfigOpt = None,
) -> None:
    """Run the orchestrator: observe, decide, delegate — until Ctrl-C."""
    from conscious.daemon import serve

    paths = Paths.resolve(home)
    config = Config.load(
        paths,
        config_file,
        watch=[p.expanduser().resolve() for p in watch] if watch else None,
        llm_url=llm_url,
        model=model,
        context_length=context_length,
        system_prompt_file=system_prompt,
        model_path=model_path,
        dry_run=dry_run,
        log_level=log_level.upper() if log_level else None,
    )
    try:
        asyncio.run(serve(config, paths, Reporter(quiet=quiet)))
    except (KeyboardInterrupt, asyncio.CancelledError):
        err.print("conscious: interrupted")
        raise typer.Exit(130) from None


@app.command()
@friendly
def tell(
    text: Annotated[str, typer.Argument(help="What you want done or known.")],
    home: HomeOpt = None,
) -> None:
    """Put a request from you into the running loop."""
    paths = Paths.resolve(home)
    paths.ensure()
    journal = Journal(paths.journal)
    obs_id = journal.append(Observation(source="user", event_type="request", target="inbox", details={"text": text}))
    out.print(f"queued as observation #{obs_id}")


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
    journal = _journal(home)
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
    journal = _journal(home)
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
        table.add_row("waiting", _waiting_line(w))
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


@app.command()
@friendly
def replay(
    file: Annotated[Path, typer.Argument(help="Recorded observations, one JSON object per line.")],
    llm_url: Annotated[
        str | None, typer.Option("--llm-url", help="OpenAI-compatible base URL (default: as `run` chooses).")
    ] = None,
    model: Annotated[str | None, typer.Option("--model", help="Model id.")] = None,
    system_prompt: Annotated[
        Path | None, typer.Option("--system-prompt", help="File replacing the default system prompt.")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON line per decision, then a summary line.")] = False,
    window: Annotated[
        float, typer.Option("--window", help="Seconds within which recorded observations arrive together.")
    ] = 1.0,
    journal_file: Annotated[
        Path | None, typer.Option("--journal", help="Keep the replay's journal in this file (default: temporary).")
    ] = None,
    delegate: Annotated[
        bool, typer.Option("--delegate", help="Really start the delegations the gate accepts (default: dry run).")
    ] = False,
    home: HomeOpt = None,
    config_file: ConfigOpt = None,
) -> None:
    """Feed recorded observations through the real loop and print each decision."""
    import tempfile

    from conscious.daemon import build, setup_logging
    from conscious.replay import read_observations
    from conscious.replay import replay as run_replay
    from conscious.think.connect import connect

    records, ignored = read_observations(file)
    if ignored:
        err.print(f"[yellow]conscious: ignoring fields not in the observation shape: {', '.join(sorted(ignored))}[/]")
    paths = Paths.resolve(home)
    config = Config.load(
        paths,
        config_file,
        llm_url=llm_url,
        model=model,
        system_prompt_file=system_prompt,
        dry_run=not delegate,
    )

    def show(record: dict[str, Any]) -> None:
        if as_json:
            print(json.dumps(record), flush=True)
            return
        action = record["action_type"]
        if record["verdict"] not in ("accepted", "dry-run"):
            action += f" ({record['verdict']})"
        target = (
            f" → {record['target_agent']}: {escape((record['command'] or '')[:100])}" if record["target_agent"] else ""
        )
        latency = f"{record['latency_ms'] / 1000:.1f}s" if record["latency_ms"] is not None else record["origin"]
        lines = record["covers"]
        covers = f"lines {lines[0]}-{lines[-1]}" if len(lines) > 1 else f"line {lines[0]}" if lines else "own"
        out.print(f"[bold]#{record['decision_id']} {action}[/]{target} [dim]({covers}, {latency})[/]")
        out.print(f"    [dim]{escape(record['reasoning'][:160])}[/]")

    async def go(journal_path: Path) -> dict[str, Any]:
        paths.ensure()
        setup_logging(config, paths)
        with single_instance(journal_path):  # never a second loop on a daemon's journal
            return await replay_into(Journal(journal_path))

    async def replay_into(journal: Journal) -> dict[str, Any]:
        try:
            connection = await connect(config, log_dir=paths.state_dir)
            try:
                orchestrator = await build(config, paths, journal, connection, Reporter(quiet=True), observe=False)
                result = await run_replay(orchestrator, records, window=window, on_decision=show)
                return {"summary": result.summary(), "model": connection.info.model, "server": connection.info.server}
            finally:
                await connection.aclose()
        finally:
            journal.close()

    with tempfile.TemporaryDirectory(prefix="conscious-replay-") as tmp:
        summary = asyncio.run(go(journal_file or Path(tmp) / "journal.db"))
    if as_json:
        print(json.dumps(summary))
    else:
        s = summary["summary"]
        out.print(
            f"[bold]{s['observations']} observations → {s['decisions']} decisions[/] "
            f"({s['llm_decisions']} by {summary['model']}, {s['schema_valid']} schema-valid; "
            f"p50 {s['latency_ms_p50']} ms, p90 {s['latency_ms_p90']} ms; "
            f"prompt tokens processed per decision {s['prompt_tokens_processed_mean']})"
        )


@app.command()
@friendly
def release(
    quarantine_id: Annotated[int, typer.Argument(metavar="ID", help="The quarantine entry (see `conscious status`).")],
    home: HomeOpt = None,
) -> None:
    """Let a quarantined item (one that kept failing) be delegated again."""
    journal = _journal(home)
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
    journal = _journal(home)
    rules = Config.load(Paths.resolve(home), config_file).file if always else None
    done = answer(journal, approval_id, given, reason=reason, always=rules, pattern=pattern)
    r = done.request
    out.print(f"{given} #{approval_id}: {escape(r['agent'])}: {escape(r['command'][:120])}")
    if done.pattern is not None:
        kept = "approval.always_allow" if given == "approved" else "deny_commands"
        out.print(f"[dim]kept in {rules} ({kept}): {escape(done.pattern)}[/]")
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
    waiting = Approvals(_journal(home)).waiting()
    if as_json:
        print(json.dumps(waiting, default=str))
        return
    if not waiting:
        out.print("[dim]nothing waits for your approval[/]")
    for w in waiting:
        out.print(_waiting_line(w))


def _waiting_line(w: dict[str, Any]) -> str:
    return (
        f"[yellow]#{w['id']}[/] {escape(w['agent'])} ({w['priority']}, {w['confidence']:.2f}): "
        f"{escape(w['command'][:100])} [dim]expires {_when(w['expires'])}; "
        f"`conscious approve {w['id']}` / `conscious deny {w['id']}`[/]"
    )


@app.command("eval")
@friendly
def eval_(
    suite: Annotated[
        Path | None, typer.Argument(help="Scenarios, one JSON object per line (default: the shipped suite).")
    ] = None,
    llm_url: Annotated[
        str | None, typer.Option("--llm-url", help="OpenAI-compatible base URL (default: as `run` chooses).")
    ] = None,
    model: Annotated[str | None, typer.Option("--model", help="Model id.")] = None,
    profile: Annotated[
        str | None, typer.Option("--profile", help="Model profile (default: from the model id).")
    ] = None,
    compare: Annotated[
        str | None,
        typer.Option("--compare", help="Side by side with another profile (a name) or another server (a URL)."),
    ] = None,
    system_prompt: Annotated[
        Path | None, typer.Option("--system-prompt", help="File replacing the default system prompt.")
    ] = None,
    limit: Annotated[int | None, typer.Option("--limit", "-n", help="Only the first N scenarios.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON line per scenario, then one per model.")] = False,
    home: HomeOpt = None,
    config_file: ConfigOpt = None,
) -> None:
    """Measure how well a model makes this daemon's decisions, on a scenario suite."""
    from conscious.daemon import setup_logging
    from conscious.eval.command import arms, evaluate
    from conscious.eval.report import table
    from conscious.eval.runner import Outcome
    from conscious.eval.suite import load_suite

    scenarios = load_suite(suite)[:limit] if limit else load_suite(suite)
    paths = Paths.resolve(home)
    config = Config.load(
        paths, config_file, llm_url=llm_url, model=model, profile=profile, system_prompt_file=system_prompt
    )

    def show(arm: Any, o: Outcome) -> None:
        if as_json:
            print(json.dumps({"model": arm.label, **o.record()}), flush=True)
            return
        mark = "[green]✓[/]" if o.action_ok and o.agent_ok is not False and o.priority_ok else "[red]✗[/]"
        d = o.decision
        got = d.action_type + (f" → {d.target_agent}" if d.target_agent else "") + f" ({d.priority})"
        why = f" [red]{escape(o.error)}[/]" if o.error else ""
        err.print(f"{mark} [dim]{escape(arm.label)}[/] {escape(o.scenario.name)}: {escape(got)}{why}")

    async def go() -> list[Any]:
        paths.ensure()
        setup_logging(config, paths)
        async with arms(config, compare, log_dir=paths.state_dir) as opened:
            return await evaluate(opened, scenarios, show)

    scores = asyncio.run(go())
    if as_json:
        for score in scores:
            print(json.dumps({"summary": score.summary()}))
    else:
        out.print(table(scores))


@app.command("config")
@friendly
def config_(home: HomeOpt = None, config_file: ConfigOpt = None) -> None:
    """Print the effective configuration (defaults < file < CONSCIOUS_* env)."""
    paths = Paths.resolve(home)
    config = Config.load(paths, config_file)
    source = config_file or paths.config_file
    err.print(f"[dim]# file: {source} ({'found' if source.is_file() else 'not present'}); journal: {paths.journal}[/]")
    print(json.dumps(config.model_dump(mode="json"), indent=2))
    err.print("[dim]# shortcuts: decided by rule, without an LLM call (setting `shortcuts`):[/]")
    for rule in RULES:
        state = "on" if rule.name in config.shortcuts else "off"
        err.print(f"[dim]#   {rule.name} ({state}): {escape(rule.says)}[/]")
    err.print("[dim]# model profiles (setting `profile`; unset: chosen from the loaded model's id):[/]")
    for name, prof in catalogue(config).items():
        knobs = ", ".join(f"{k} {getattr(prof, k)}" for k in SAMPLING if getattr(prof, k) is not None)
        flags = f"{'' if prof.honours_schema else 'no schema, '}{'strips' if prof.strip_think else 'keeps'} <think>"
        err.print(f"[dim]#   {name}: matches {', '.join(prof.match) or 'nothing'}; {knobs}; {flags}[/]")


def main() -> None:
    app()
