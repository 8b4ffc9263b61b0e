"""Running the daemon: lock, logging, the LLM connection, the assembled loop, the
control API, the health loop, systemd notification, signals.

SIGINT / SIGTERM stop observing, hand back the current thought (its batch stays pending in
the journal), give delegations a grace period, stop the API and the embedded server. A
second SIGINT cancels at once. Handlers are restored on exit.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from dataclasses import dataclass

from conscious.api.app import create_app
from conscious.api.server import ApiServer, bind
from conscious.api.token import ensure_token
from conscious.config import Config
from conscious.control.alerts import Alerts
from conscious.control.daemon_control import DaemonControl
from conscious.control.events import Broadcast, EventBus
from conscious.control.health import Health
from conscious.control.logs import log_event, setup_logging, to_stdout
from conscious.control.metrics import Metrics
from conscious.control.sdnotify import Notifier, watchdog_interval
from conscious.control.terminal import Terminal
from conscious.daemon.assemble import build, guard_for
from conscious.daemon.housekeeping import keep_house
from conscious.daemon.roles import (
    BrainParts,
    brain_parts,
    check_roles,
    host_name,
    reach_broker,
    start_brain,
    stop_brain,
)
from conscious.daemon.signals import captured
from conscious.delegate.guard import ToolGuard
from conscious.journal import Journal
from conscious.loop.orchestrator import Orchestrator
from conscious.loop.state import LoopState, Published
from conscious.paths import Paths
from conscious.system.lock import single_instance
from conscious.system.net import is_loopback
from conscious.system.supervise import Supervisor
from conscious.think.connection import Connection, connect

log = logging.getLogger("conscious")


async def serve(config: Config, paths: Paths, reporter: Terminal, stop: asyncio.Event | None = None) -> None:
    """The daemon's whole life: start-up → main loop → shutdown; returns after a clean stop."""
    paths.ensure()
    setup_logging(config, paths)
    stop = stop or asyncio.Event()
    bus = EventBus()
    if to_stdout(config):
        bus.listen(log_event)  # structured lines instead of the live view
        reporter = Terminal(quiet=True)
    live = Broadcast(bus, reporter)
    notifier, watchdog = _systemd()
    check_roles(config)
    if config.cluster.roles and "brain" not in config.cluster.roles:
        from conscious.daemon.node import run_node

        await run_node(config, paths, reporter, stop)
        return
    with single_instance(paths.journal):
        journal = Journal(paths.journal)
        journal.checkpoint_in_background()
        parts = None
        try:
            if config.cluster.roles:
                name = f"conscious-brain-{host_name(config)}"
                broker = await reach_broker(config, name, live, stop, brain=True)
                if broker is None:
                    return
                parts = brain_parts(config, journal, broker)
            connection = await _connect(config, paths, reporter, notifier)
            guard = None if parts else guard_for(config, paths, journal, live)
            published = Published()
            try:
                orchestrator = await build(
                    config,
                    paths,
                    journal,
                    connection,
                    live,
                    observe=parts is None or "observer" in config.cluster.roles,
                    dispatcher=parts.relay_for if parts else None,
                    guard=guard,
                    decision_log=parts.log if parts else None,
                    stop=stop,
                    published=published,
                )
                if parts is not None:
                    start_brain(config, parts, orchestrator, stop, published)
                around = Around(config, paths, bus, notifier, stop, reporter, watchdog, published, guard, parts)
                await _run(orchestrator, around)
            finally:
                await connection.aclose()
        finally:
            if parts is not None:
                stop.set()
                await stop_brain(parts)
            journal.close()
        if parts is not None and parts.supervisor is not None:
            parts.supervisor.raise_if_fatal()  # after a whole shutdown: non-zero, for systemd to restart us


def _systemd() -> tuple[Notifier, float | None]:
    """sd_notify's socket and watchdog, taken for ourselves: the agents we start must not speak for us."""
    notifier, watchdog = Notifier.from_env(), watchdog_interval()
    for var in ("NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID"):
        os.environ.pop(var, None)
    return notifier, watchdog


async def _connect(config: Config, paths: Paths, reporter: Terminal, notifier: Notifier) -> Connection:
    notifier.status("waiting for the LLM server")
    with reporter.waiting(
        f"waiting for the LLM server at {config.llm_url}…"
        if config.llm_url
        else "looking for LM Studio, else starting the embedded llama-server…"
    ):
        return await connect(config, log_dir=paths.state_dir, say=reporter.info)


@dataclass
class Around:
    """What the daemon runs around its loop, and what those parts share (as uvicorn's server
    shares a small ``ServerState`` rather than itself)."""

    config: Config
    paths: Paths
    bus: EventBus
    notifier: Notifier
    stop: asyncio.Event
    console: Terminal
    watchdog: float | None
    published: Published
    guard: ToolGuard | None = None
    parts: BrainParts | None = None


async def _run(orchestrator: Orchestrator, around: Around) -> None:
    """The API, the health loop, sd-notify and housekeeping around the loop, until it stops."""
    config, stop = around.config, around.stop
    reporter = orchestrator.reporter
    metrics, alerts = _watchers(orchestrator, around)
    control = _control(orchestrator, around, metrics)
    api, token = await _start_api(around, control)
    try:
        walls = await orchestrator.dispatcher.describe()
        if walls["sandbox"].startswith(("OFF", "UNAVAILABLE")):
            reporter.warn(f"sandbox: {walls['sandbox']}")  # loudly: nothing walls the agents in
        around.published.facts.update(walls, retention_days=config.retention_days)
        _announce(orchestrator, around, api, token)
        supervisor = Supervisor(reporter, stop)
        helpers = _helpers(orchestrator, around, supervisor)
        if api is not None:
            helpers.append(asyncio.create_task(_api_alive(api, supervisor, stop), name="api-alive"))
        try:
            with captured(stop, asyncio.current_task()):
                await orchestrator.run()
        finally:
            around.notifier.stopping("stopping")
            control.stopping.set()
            for helper in helpers:
                helper.cancel()
            await asyncio.gather(*helpers, return_exceptions=True)
            await alerts.aclose()
        supervisor.raise_if_fatal()
        reporter.info("stopped")
    finally:
        if api is not None:
            await api.stop()
        control.journal.close()


def _watchers(orchestrator: Orchestrator, around: Around) -> tuple[Metrics, Alerts]:
    """``/metrics`` and the alerts, listening to the event bus."""
    metrics = Metrics()
    if around.parts is not None:
        metrics.cluster("brain", around.parts.levels())
    around.bus.listen(metrics.on_event)
    alerts = Alerts(around.config.approval)
    around.bus.listen(alerts.on_event)
    return metrics, alerts


def _control(orchestrator: Orchestrator, around: Around, metrics: Metrics) -> DaemonControl:
    """The daemon as the API sees it, with a journal connection of the API's own."""
    window, bus, published = orchestrator.thinker.window, around.bus, around.published
    api_journal = Journal(orchestrator.journal.path)
    metrics.levels(
        used=lambda: window.used,
        budget=lambda: window.budget,
        pending=api_journal.pending_count,
        running=lambda: len(orchestrator.dispatcher.running()),
        subscribers=lambda: bus.subscribers,
        checks=lambda: published.checks,
    )
    return DaemonControl(
        orchestrator.state,
        published,
        api_journal,
        bus,
        metrics,
        accept=orchestrator.accept,
        reporter=orchestrator.reporter,
        wake=orchestrator.wake,
        rules_file=around.config.file,
        guard=around.guard,
        merged=orchestrator.merged,
    )


async def _start_api(around: Around, control: DaemonControl) -> tuple[ApiServer | None, str]:
    """The control API, if configured; its address published, and given to the tool gate's hooks."""
    if not around.config.api:
        return None, ""
    token = ensure_token(around.paths.state_dir)
    api = await _serve_api(around.config, control, token)
    around.published.facts["api_url"] = api.url
    if around.guard is not None:
        around.guard.url = api.url
    return api, token


def _announce(orchestrator: Orchestrator, around: Around, api: ApiServer | None, token: str) -> None:
    connection, config = orchestrator.connection, around.config
    chosen = connection.profile
    orchestrator.reporter.info(
        f"model {connection.info.model} on {connection.backend.url} ({connection.info.server}, "
        f"context {connection.context_length}, profile "
        f"{f'{chosen.name} ({chosen.how})' if chosen else 'none'}); "
        f"watching {', '.join(map(str, config.watch))}"
    )
    if api is not None:
        # The token only on the terminal: never in the event stream or a log.
        around.console.info(f"live page: {api.url}/#token={token}")
        log.info("control API and live page on %s (`conscious page` prints the page's address)", api.url)


def _helpers(orchestrator: Orchestrator, around: Around, supervisor: Supervisor) -> list[asyncio.Task[None]]:
    """The long-lived parts beside the loop, each restarted with back-off when it raises."""
    config, paths, stop = around.config, around.paths, around.stop
    health = Health(
        orchestrator.state,
        around.published,
        orchestrator.connection,
        orchestrator.journal,
        orchestrator.dispatcher,
        orchestrator.reporter,
        accept=orchestrator.accept,
        noticed=orchestrator.noticed,
        publish=orchestrator.publish_state,
        interval=config.health_interval,
        stall_after=config.stall_after or None,
    )
    notify = around.notifier, around.watchdog
    return [
        supervisor.start("health loop", lambda: health.run(stop)),
        supervisor.start("sd-notify", lambda: _supervise(orchestrator.state, around.published, *notify, stop)),
        supervisor.start(
            "housekeeping",
            lambda: keep_house(
                paths.journal,
                orchestrator.dispatcher,
                orchestrator.reporter,
                stop,
                every=config.housekeeping_every,
                retention_days=config.retention_days,
                logs=[paths.state_dir / "llama-server.log"],
            ),
        ),
    ]


async def _api_alive(api: ApiServer, supervisor: Supervisor, stop: asyncio.Event) -> None:
    """The control API cannot be restarted on its socket: if it stops serving while the daemon
    runs, the daemon stops, non-zero, rather than live on with no way to reach it."""
    why = await api.ended()
    if not stop.is_set():
        supervisor.gave_up("control API", RuntimeError(f"stopped serving ({why})"))


async def _serve_api(config: Config, control: DaemonControl, token: str) -> ApiServer:
    if not is_loopback(config.api_host):
        log.warning("the control API listens on %s: reachable from the network", config.api_host)
    fallback = config.api_port == Config.model_fields["api_port"].default
    app = create_app(control, token, host=config.api_host)
    api = ApiServer(app, bind(config.api_host, config.api_port, fallback=fallback))
    await api.start()
    return api


async def _supervise(
    state: LoopState, published: Published, notifier: Notifier, ping: float | None, stop: asyncio.Event
) -> None:
    """sd_notify: READY once the loop runs, STATUS when the activity changes, WATCHDOG while
    the decision loop goes round (a wedged event loop, or a decision loop stuck in one step for
    longer than any step may take, stops the pings, and systemd restarts us)."""
    period = min(ping, 2.0) if ping else 2.0
    said = None
    ready = False
    while not stop.is_set():
        if not ready and state.activity != "starting":
            notifier.ready()
            ready = True
        text = (
            f"{state.activity}; health {'degraded' if published.problems(state) else 'ok'}; "
            f"context {state.context.get('fill', 0.0):.0%}; {state.running_tasks} running"
        )
        if text != said:
            notifier.status(text)
            said = text
        if ping and not state.stalled_loop():
            notifier.watchdog()  # a loop that stopped going round stops the pings: systemd restarts us
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), period)
