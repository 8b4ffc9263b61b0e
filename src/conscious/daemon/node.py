"""An observer or worker host: no model, no decisions — its observers and agents, with the
journal as its outbox, until a signal.

Observations are journaled first, as on one machine, then sent; a worker's task outcomes are
journaled by its dispatcher and sent the same way. The agents' own edits in the watched folder
(tasks working in place) are attributed to their task and never sent as news.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from collections.abc import Callable
from wsgiref.simple_server import WSGIServer

from prometheus_client import start_http_server

from conscious.cluster.broker import Broker
from conscious.cluster.outbox import Outbox
from conscious.cluster.presence import Presence
from conscious.cluster.worker import Worker
from conscious.config import Config
from conscious.control.events import Broadcast, EventBus
from conscious.control.logs import log_event, setup_logging, to_stdout
from conscious.control.metrics import Metrics
from conscious.control.terminal import Terminal
from conscious.daemon.assemble import dispatcher_for, guard_for, outside_observers
from conscious.daemon.housekeeping import keep_house
from conscious.daemon.roles import broker_notice, host_name, reach_broker
from conscious.daemon.signals import captured
from conscious.delegate.base import Outcome
from conscious.delegate.dispatch import TaskEvent
from conscious.journal import Journal
from conscious.loop.attribution import Attribution
from conscious.loop.observing import keep_observing
from conscious.loop.reporter import Reporter
from conscious.model import Observation, RunningTask, utcnow
from conscious.paths import Paths
from conscious.system.lock import single_instance
from conscious.system.supervise import Supervisor

log = logging.getLogger("conscious")


async def run_node(config: Config, paths: Paths, terminal: Terminal, stop: asyncio.Event) -> None:
    paths.ensure()
    setup_logging(config, paths)
    reporter: Reporter = terminal
    if to_stdout(config):
        bus = EventBus()
        bus.listen(log_event)  # structured lines instead of the live view (under systemd)
        reporter = Broadcast(bus, Terminal(quiet=True))
    roles = config.cluster.roles
    host = host_name(config)
    with single_instance(paths.journal):
        journal = Journal(paths.journal)
        journal.checkpoint_in_background()
        node = Node(config, paths, journal, reporter, host)
        journal.set_identity(daemon=node.status(True))
        try:
            with captured(stop):
                node.observe()  # from the start: what is seen while the broker is away is kept
                broker = await reach_broker(config, f"conscious-{'-'.join(roles)}-{host}", reporter, stop)
                if broker is not None:
                    try:
                        await node.connected(broker, stop)
                    finally:
                        await broker.close()
                await node.shutdown()
        finally:
            journal.set_identity(daemon=node.status(False))
            journal.close()
    if node.supervisor is not None:
        node.supervisor.raise_if_fatal()  # non-zero, for systemd to restart this host's roles
    reporter.info("stopped")


class Node:
    def __init__(self, config: Config, paths: Paths, journal: Journal, reporter: Reporter, host: str) -> None:
        self.config = config
        self.paths = paths
        self.journal = journal
        self.reporter = reporter
        self.host = host
        self.roles = config.cluster.roles
        self.started = utcnow()
        self.dispatcher = dispatcher_for(config, paths, journal, guard_for(config, paths, journal, reporter), self)
        self.attribution = Attribution(self.dispatcher.running)
        self.outbox: Outbox | None = None
        self.worker: Worker | None = None
        self.helpers: list[asyncio.Task[None]] = []
        self.failures: dict[str, int] = {}
        self.supervisor: Supervisor | None = None
        self.metrics_url: str | None = None
        self.backlog = 0

    def accept(self, obs: Observation) -> None:
        self.attribution.attribute(obs)
        self.journal.append(obs)
        self.noticed(obs)

    def noticed(self, obs: Observation) -> None:
        self.reporter.observation(obs)
        if self.outbox is not None:
            self.outbox.wake.set()

    def task_event(self, what: TaskEvent, run: RunningTask, outcome: Outcome | None) -> None:
        self.reporter.task(what, run.task, outcome)

    def changes(self, task_id: int) -> dict[str, object] | None:
        return self.attribution.summary(task_id)

    def observe(self) -> None:
        if "observer" in self.roles:
            for observer in outside_observers(self.config, self.paths):
                self.helpers.append(
                    asyncio.create_task(keep_observing(observer, self.accept, self.failures), name=observer.name)
                )

    async def connected(self, broker: Broker, stop: asyncio.Event) -> None:
        """Send, take tasks and say who it is until ``stop``."""
        config, project, reporter = self.config, self.config.cluster.project, self.reporter
        self.outbox = Outbox(
            self.journal, broker, self.host, project, forwarded=True, on_trouble=broker_notice(reporter, "outbox")
        )
        outbox = self.outbox
        supervisor = self.supervisor = Supervisor(reporter, stop)
        links = [supervisor.start("outbox", lambda: outbox.run(stop))]
        if "worker" in self.roles:
            if interrupted := self.dispatcher.recover():
                reporter.warn(
                    f"{interrupted} task(s) were unfinished when this worker stopped; reported as interrupted"
                )
            self.worker = Worker(
                self.journal,
                broker,
                self.dispatcher,
                self.host,
                project,
                config.cluster.agents,
                ack_wait=config.cluster.ack_wait_s,
                capacity=config.max_concurrent_tasks,
                accept=self.accept,
                on_trouble=broker_notice(reporter, "tasks"),
            )
            working = self.worker
            taking = supervisor.start("worker", lambda: working.run(stop))
        presence = Presence(broker, self.host, self.describe)
        links.append(supervisor.start("presence", lambda: presence.run(stop)))
        links.append(supervisor.start("housekeeping", lambda: self.keep_house(stop)))
        served = self.serve_metrics(broker) if config.api else None
        worker = self.worker
        reporter.info(
            f"{' and '.join(self.roles)} {self.host} on {', '.join(config.cluster.broker)} (project {project}"
            + (f"; agents {', '.join(worker.agents)}" if worker else "")
            + (f"; watching {', '.join(map(str, config.watch))}" if "observer" in self.roles else "")
            + ")"
        )
        if served is not None:
            self.metrics_url = f"http://{config.api_host}:{served.server_port}/metrics"
            self.journal.set_identity(daemon=self.status(True))
            reporter.info(f"metrics on {self.metrics_url}")
        await stop.wait()
        if served is not None:
            served.shutdown()
        if worker is not None:
            await _cancel([taking])  # no new task; those running get the grace below
        await self.dispatcher.shutdown(config.kill_grace)
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self.outbox.flush(), 5.0)  # the last outcomes, if the broker takes them
        await asyncio.gather(*links, return_exceptions=True)

    async def keep_house(self, stop: asyncio.Event) -> None:
        """As a brain does: this host's journal compacted, its workspaces and task folders pruned."""
        config = self.config
        await keep_house(
            self.paths.journal,
            self.dispatcher,
            self.reporter,
            stop,
            every=config.housekeeping_every,
            retention_days=config.retention_days,
        )

    def serve_metrics(self, broker: Broker) -> WSGIServer | None:
        """``conscious_cluster_*{role}`` for Prometheus, on the API's address (another port if taken)."""
        outbox, role = self.outbox, "-".join(self.roles)
        levels: dict[str, Callable[[], float]] = {
            "broker_connected": lambda: float(broker.connected),
            "observations_sent": lambda: float(outbox.sent if outbox else 0),
            # Read on the metrics server's thread: the figure the presence loop last read, not the journal.
            "outbox_backlog": lambda: float(self.backlog),
        }
        if (worker := self.worker) is not None:
            levels["tasks_running"] = lambda: float(len(worker.seqs))
            levels["tasks_started"] = lambda: float(worker.started)
        metrics = Metrics()
        metrics.cluster(role, levels)
        for port in (self.config.api_port, 0):
            try:
                server, _ = start_http_server(port, addr=self.config.api_host, registry=metrics.registry)
            except OSError:
                continue
            return server
        self.reporter.warn(f"no port for the metrics on {self.config.api_host}")
        return None

    async def shutdown(self) -> None:
        await _cancel(self.helpers)
        await self.dispatcher.shutdown(self.config.kill_grace)

    def describe(self) -> dict[str, object]:
        return {
            "roles": self.roles,
            "project": self.config.cluster.project,
            "agents": self.worker.agents if self.worker else [],
            "running": self.worker.running() if self.worker else [],
            "sent": self.outbox.sent if self.outbox else 0,
            "backlog": self.read_backlog(),
            "watch": [str(p) for p in self.config.watch] if "observer" in self.roles else [],
        }

    def read_backlog(self) -> int:
        self.backlog = self.journal.outbox_backlog()
        return self.backlog

    def status(self, running: bool) -> dict[str, object]:
        """What ``conscious status`` shows on this host."""
        return {
            "running": running,
            "pid": os.getpid(),
            "started": self.started.isoformat(),
            "health": "ok",
            "activity": f"{' and '.join(self.roles)} in a cluster",
            "watch": [str(p) for p in self.config.watch],
            "node": {"host": self.host, "roles": self.roles, "broker": self.config.cluster.broker},
            "metrics_url": self.metrics_url,
        }


async def _cancel(tasks: list[asyncio.Task[None]]) -> None:
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
