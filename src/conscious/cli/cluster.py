"""`conscious cluster`: the whole cluster as the broker knows it — hosts, roles, the leading
brain, each brain's lag and each worker's tasks — from any host; `conscious status` shows it too."""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table

from conscious.cli.common import ConfigOpt, HomeOpt, app, friendly, out
from conscious.config import ClusterConfig, Config
from conscious.control.facade import journal_of
from conscious.errors import BrokerError, ConsciousError
from conscious.paths import Paths

TIMEOUT_S = 8.0


async def fetch(config: ClusterConfig) -> dict[str, Any]:
    # Here, not at the top: every other command would pay for importing the broker's client
    # (and asyncio).
    import asyncio

    from conscious.cluster.broker import Broker
    from conscious.cluster.presence import cluster_status

    broker = await Broker.connect(config, "conscious-status")
    try:
        return await asyncio.wait_for(cluster_status(broker, config), TIMEOUT_S)
    except TimeoutError:
        raise BrokerError(f"the broker at {', '.join(config.broker)} did not say who is there") from None
    finally:
        await broker.close()


def configured(home: Any, config_file: Any = None) -> ClusterConfig | None:
    """This host's cluster settings, if it is part of one: its config, else the broker a role
    started with ``--broker`` published in its journal (a broken config: not)."""
    paths = Paths.resolve(home)
    try:
        config = Config.load(paths, config_file)
    except ConsciousError:
        return None
    if config.cluster.broker:
        return config.cluster
    if not paths.journal.exists():
        return None
    with journal_of(paths) as journal:
        daemon = journal.published()
    published = daemon.get("node") or daemon.get("cluster") or {}  # an observer or worker; a brain
    broker = published.get("broker") if isinstance(published, dict) else None
    return config.cluster.model_copy(update={"broker": broker}) if isinstance(broker, list) and broker else None


def rows(report: dict[str, Any]) -> list[tuple[str, str]]:
    """``conscious status`` lines for the cluster."""
    if "error" in report:
        return [("cluster", f"[yellow]{escape(report['error'])}[/]")]
    found = [("cluster", f"{len(report['hosts'])} host(s); leader: {escape(str(report.get('leader') or 'none'))}")]
    for h in report["hosts"]:
        facts = [" + ".join(h.get("roles", []))]
        if h.get("lag") is not None:
            facts.append(f"lag {h['lag']}")
        if h.get("running"):
            facts.append(f"{len(h['running'])} task(s) running")
        if h.get("backlog"):
            facts.append(f"{h['backlog']} unsent")
        facts.append(f"seen {h.get('age_s', 0):.0f}s ago")
        star = " ★" if h.get("host") == report.get("leader") else ""
        found.append((f"  {escape(str(h.get('host')))}{star}", escape(" · ".join(facts))))
    for name, waiting in report.get("queued", {}).items():
        if waiting:
            found.append(("  queued", f"{waiting} task(s) for {escape(name)}"))
    return found


def report_for(config: ClusterConfig) -> dict[str, Any]:
    import asyncio

    try:
        return asyncio.run(fetch(config))
    except BrokerError as exc:
        return {"error": str(exc)}


@app.command()
@friendly
def cluster(
    as_json: Annotated[bool, typer.Option("--json")] = False,
    home: HomeOpt = None,
    config_file: ConfigOpt = None,
) -> None:
    """Every host of the cluster, its roles, the leading brain, lag and running tasks."""
    config = configured(home, config_file)
    if config is None:
        raise ConsciousError("this host is in no cluster: set [cluster] broker in its config (docs/cluster.md)")
    import asyncio

    report = asyncio.run(fetch(config))
    if as_json:
        print(json.dumps(report, default=str))
        return
    table = Table(show_header=False, box=None)
    for key, value in rows(report):
        table.add_row(key, value)
    out.print(table)
