"""Tools around the loop: `replay`, `eval`, `config`."""

from __future__ import annotations

import functools
import json
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.markup import escape

from conscious.cli.common import ConfigOpt, HomeOpt, app, err, friendly, out
from conscious.config import Config
from conscious.journal import Journal
from conscious.loop.shortcuts import RULES
from conscious.paths import Paths
from conscious.system.lock import single_instance
from conscious.think.profiles import SAMPLING, catalogue

if TYPE_CHECKING:
    from conscious.eval.replay import Recorded


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
    import asyncio  # here, as below: every other command would pay for them
    import tempfile

    from conscious.eval.replay import read_observations

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
    with tempfile.TemporaryDirectory(prefix="conscious-replay-") as tmp:
        journal_path = journal_file or Path(tmp) / "journal.db"
        summary = asyncio.run(_replay(config, paths, records, journal_path, window, as_json))
    if as_json:
        print(json.dumps(summary))
        return
    s = summary["summary"]
    out.print(
        f"[bold]{s['observations']} observations → {s['decisions']} decisions[/] "
        f"({s['llm_decisions']} by {summary['model']}, {s['schema_valid']} schema-valid; "
        f"p50 {s['latency_ms_p50']} ms, p90 {s['latency_ms_p90']} ms; "
        f"prompt tokens processed per decision {s['prompt_tokens_processed_mean']})"
    )


async def _replay(
    config: Config, paths: Paths, records: Sequence[Recorded], journal_path: Path, window: float, as_json: bool
) -> dict[str, Any]:
    """The records through a loop of its own, on its own journal (never a daemon's: the lock)."""
    from conscious.control.logs import setup_logging
    from conscious.control.terminal import Terminal
    from conscious.daemon.assemble import build
    from conscious.eval.replay import replay
    from conscious.think.connection import connect

    paths.ensure()
    setup_logging(config, paths)
    with single_instance(journal_path):
        journal = Journal(journal_path)
        try:
            connection = await connect(config, log_dir=paths.state_dir)
            try:
                orchestrator = await build(config, paths, journal, connection, Terminal(quiet=True), observe=False)
                shown = functools.partial(_show_replayed, as_json=as_json)
                result = await replay(orchestrator, records, window=window, on_decision=shown)
                return {"summary": result.summary(), "model": connection.info.model, "server": connection.info.server}
            finally:
                await connection.aclose()
        finally:
            journal.close()


def _show_replayed(record: dict[str, Any], *, as_json: bool) -> None:
    if as_json:
        print(json.dumps(record), flush=True)
        return
    action = record["action_type"]
    if record["verdict"] not in ("accepted", "dry-run"):
        action += f" ({record['verdict']})"
    target = f" → {record['target_agent']}: {escape((record['command'] or '')[:100])}" if record["target_agent"] else ""
    latency = f"{record['latency_ms'] / 1000:.1f}s" if record["latency_ms"] is not None else record["origin"]
    lines = record["covers"]
    covers = f"lines {lines[0]}-{lines[-1]}" if len(lines) > 1 else f"line {lines[0]}" if lines else "own"
    out.print(f"[bold]#{record['decision_id']} {action}[/]{target} [dim]({covers}, {latency})[/]")
    out.print(f"    [dim]{escape(record['reasoning'][:160])}[/]")


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
    sequential: Annotated[
        bool, typer.Option("--sequential", help="One running context for the whole suite, as the daemon has.")
    ] = False,
    home: HomeOpt = None,
    config_file: ConfigOpt = None,
) -> None:
    """Measure what the daemon would decide with a model (rules, candidates, the model's choice,
    escalation, the gate), and the model's own choices beside it, on a scenario suite."""
    import asyncio

    from conscious.control.logs import setup_logging
    from conscious.eval.command import arms, evaluate
    from conscious.eval.report import table
    from conscious.eval.score import Scored
    from conscious.eval.suite import load_suite

    scenarios = load_suite(suite)[:limit] if limit else load_suite(suite)
    paths = Paths.resolve(home)
    config = Config.load(
        paths, config_file, llm_url=llm_url, model=model, profile=profile, system_prompt_file=system_prompt
    )

    def show(arm: Any, o: Scored) -> None:
        if as_json:
            print(json.dumps({"model": arm.label, **o.record()}), flush=True)
            return
        mark = "[green]✓[/]" if o.system_right else "[red]✗[/]"
        done = o.done
        got = "" if done is None else done.action_type + (f" → {done.target_agent}" if done.target_agent else "")
        got += "" if done is None else f" ({done.priority}, {done.origin}: {done.verdict})"
        why = f" [red]{escape(o.error)}[/]" if o.error else ""
        err.print(f"{mark} [dim]{escape(arm.label)}[/] {escape(o.scenario.name)}: {escape(got)}{why}")

    async def go() -> list[Any]:
        paths.ensure()
        setup_logging(config, paths)
        async with arms(config, compare, log_dir=paths.state_dir) as opened:
            return await evaluate(opened, scenarios, show, sequential=sequential)

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
    print(json.dumps(_hidden(config.model_dump(mode="json")), indent=2))
    err.print("[dim]# shortcuts: decided by rule, without an LLM call (setting `shortcuts`):[/]")
    for rule in RULES:
        state = "on" if rule.name in config.shortcuts else "off"
        err.print(f"[dim]#   {rule.name} ({state}): {escape(rule.says)}[/]")
    err.print("[dim]# model profiles (setting `profile`; unset: chosen from the loaded model's id):[/]")
    for name, prof in catalogue(config).items():
        knobs = ", ".join(f"{k} {getattr(prof, k)}" for k in SAMPLING if getattr(prof, k) is not None)
        flags = f"{'' if prof.honours_schema else 'no schema, '}{'strips' if prof.strip_think else 'keeps'} <think>"
        err.print(f"[dim]#   {name}: matches {', '.join(prof.match) or 'nothing'}; {knobs}; {flags}[/]")


SECRETS = ("api_key", "webhook")
"""Settings printed as set or not, never in clear: a key, a URL that may carry a token."""


def _hidden(settings: dict[str, Any]) -> dict[str, Any]:
    shown = dict(settings)
    for key, value in settings.items():
        if isinstance(value, dict):
            shown[key] = _hidden(value)
        elif key in SECRETS and value:
            shown[key] = "(set, not shown)"
    return shown
