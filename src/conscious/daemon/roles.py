"""The roles of a process on several machines (``[cluster] roles``), put together.

A brain is the daemon as on one machine — thinker, gate, API — whose dispatcher sends tasks to
the work queue (``Relay``), whose decisions go through the cluster's log (``ClusterLog``), and
beside which run the inbox, the lease, the outbox and the presence. An observer or a worker
needs no model: ``run_node`` runs its observers and agents with the journal as its outbox.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from conscious.cluster.broker import Broker
from conscious.cluster.inbox import Inbox
from conscious.cluster.lease import Lease
from conscious.cluster.log import ClusterLog
from conscious.cluster.outbox import Outbox
from conscious.cluster.presence import Presence, cluster_status
from conscious.cluster.reconnect import Reconnecting, pause
from conscious.cluster.relay import Relay
from conscious.config import Config
from conscious.delegate.dispatch import TaskEvents
from conscious.errors import BrokerError, ConfigError
from conscious.journal import Journal
from conscious.loop.orchestrator import Orchestrator
from conscious.loop.reporter import Reporter
from conscious.loop.state import Published
from conscious.system.supervise import Supervisor

log = logging.getLogger("conscious")


def host_name(config: Config) -> str:
    return config.cluster.host or socket.gethostname()


def check_roles(config: Config) -> None:
    roles = set(config.cluster.roles)
    if roles and not config.cluster.broker:
        raise ConfigError("[cluster] roles need a broker: set [cluster] broker = ['nats://host:4222'] (or --broker)")
    if {"brain", "worker"} <= roles:
        raise ConfigError(
            "a brain and a worker cannot share one process (one journal): run the worker as its own "
            "`conscious run --role worker --home <another folder>`"
        )


async def reach_broker(
    config: Config, name: str, reporter: Reporter, stop: asyncio.Event, *, brain: bool = False
) -> Broker | None:
    """The broker, waiting for it as long as it takes (said once); None if stopped meanwhile."""
    waiting = Reconnecting(
        lambda why: (
            reporter.warn(f"{why}; retrying until it answers (what is observed meanwhile is kept)")
            if why
            else reporter.info(f"broker reached at {', '.join(config.cluster.broker)}")
        )
    )
    while not stop.is_set():
        try:
            broker = await Broker.connect(config.cluster, name, brain=brain)
        except BrokerError as exc:
            await waiting.failed(exc, stop)
            continue
        waiting.ok()
        return broker
    return None


def broker_notice(reporter: Reporter, what: str) -> Callable[[str | None], None]:
    def said(why: str | None) -> None:
        if why is None:
            reporter.info(f"{what}: the broker answers again")
        else:
            reporter.warn(f"{what}: {why}; retrying (nothing is lost)")

    return said


@dataclass
class BrainParts:
    broker: Broker
    host: str
    log: ClusterLog
    journal: Journal
    project: str
    cwd: Path
    _relay: Relay | None = None
    helpers: list[asyncio.Task[None]] = field(default_factory=list)
    inbox: Inbox | None = None
    outbox: Outbox | None = None
    supervisor: Supervisor | None = None

    def levels(self) -> dict[str, Callable[[], float]]:
        """What ``/metrics`` shows of this brain (``conscious_cluster_*{role="brain"}``)."""
        inbox, outbox = self.inbox, self.outbox
        return {
            "broker_connected": lambda: float(self.broker.connected),
            "leads": lambda: float(self.log.leads()),
            "log_position": lambda: float(self.log.applied),
            "observations_taken": lambda: float(inbox.taken if inbox else 0),
            "observations_sent": lambda: float(outbox.sent if outbox else 0),
            "outbox_backlog": lambda: float(self.journal.outbox_backlog()),
            "tasks_running": lambda: float(len(self.relay.running())),
        }

    def relay_for(self, events: TaskEvents) -> Relay:
        """The brain's dispatcher, made by its loop to be told (``DispatcherFactory``)."""
        self._relay = Relay(self.journal, self.broker, self.host, self.project, cwd=self.cwd, events=events)
        return self._relay

    def presence(self, config: Config, model: str) -> dict[str, Any]:
        """What this brain says of itself to the cluster (``conscious cluster``)."""
        return {
            "roles": config.cluster.roles,
            "project": config.cluster.project,
            "leads": self.log.leading,
            "applied": self.log.applied,
            "taken": self.inbox.taken if self.inbox else 0,
            "sent": self.outbox.sent if self.outbox else 0,
            "running": sorted(run.task.id or 0 for run in self.relay.running()),
            "model": model,
        }

    @property
    def relay(self) -> Relay:
        assert self._relay is not None, "the brain's loop makes its relay"
        return self._relay


def brain_parts(config: Config, journal: Journal, broker: Broker) -> BrainParts:
    host = host_name(config)
    project = config.cluster.project
    return BrainParts(broker, host, ClusterLog(journal, broker, host, project), journal, project, config.watch[0])


def start_brain(
    config: Config, parts: BrainParts, orchestrator: Orchestrator, stop: asyncio.Event, published: Published
) -> None:
    """The inbox, lease, outbox and presence beside the brain's loop."""
    reporter, journal = orchestrator.reporter, orchestrator.journal
    project = config.cluster.project
    outbox = Outbox(
        journal, parts.broker, parts.host, project, forwarded=False, on_trouble=broker_notice(reporter, "outbox")
    )
    inbox = Inbox(
        journal,
        parts.broker,
        parts.host,
        parts.log,
        parts.relay,
        noticed=orchestrator.noticed,
        on_trouble=broker_notice(reporter, "inbox"),
    )

    changed = _lease_changed(reporter, parts.host, orchestrator.wake)
    lease = Lease(parts.broker, parts.host, parts.log, parts.relay, lease_s=config.cluster.lease_s, on_change=changed)
    parts.inbox, parts.outbox = inbox, outbox
    presence = Presence(parts.broker, parts.host, lambda: parts.presence(config, orchestrator.connection.info.model))

    async def publish_cluster() -> None:
        while not stop.is_set():
            with contextlib.suppress(BrokerError):
                published.facts["cluster"] = await cluster_status(parts.broker, config.cluster)
            await pause(stop, 3.0)

    def giving_up() -> None:
        parts.log.leading = False  # decide nothing more; the lease is given up as the stop ends it

    supervisor = parts.supervisor = Supervisor(reporter, stop, giving_up=giving_up)
    parts.helpers = [
        supervisor.start("outbox", lambda: outbox.run(stop)),
        supervisor.start("inbox", lambda: inbox.run(stop)),
        supervisor.start("lease", lambda: lease.run(stop)),
        supervisor.start("presence", lambda: presence.run(stop)),
        supervisor.start("cluster-status", publish_cluster),
    ]


def _lease_changed(reporter: Reporter, host: str, wake: asyncio.Event) -> Callable[[bool, str], None]:
    """Said when this brain takes the lead, stands by or stops deciding; the loop woken to see."""

    def changed(leads: bool, why: str) -> None:
        if leads:
            reporter.info(f"brain {host} {why}")
        elif why.endswith(" leads"):
            reporter.info(f"brain {host} stands by ({why})")
        else:
            reporter.warn(f"brain {host} stops deciding: {why}")
        wake.set()

    return changed


async def stop_brain(parts: BrainParts) -> None:
    _, pending = await asyncio.wait(parts.helpers, timeout=5.0)
    for task in pending:
        task.cancel()
    await asyncio.gather(*parts.helpers, return_exceptions=True)
    await parts.broker.close()
