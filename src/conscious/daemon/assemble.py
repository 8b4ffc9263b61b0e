"""The stages put together: the thinker with its window, the agents, the observers, the loop."""

from __future__ import annotations

import asyncio
from pathlib import Path

from conscious.config import Config
from conscious.delegate.base import Delegate
from conscious.delegate.claude_code import ClaudeCodeDelegate
from conscious.delegate.command import CommandDelegate
from conscious.delegate.dispatch import DispatcherFactory, TaskEvents
from conscious.delegate.dispatcher import LocalDispatcher
from conscious.delegate.guard import ToolGuard
from conscious.delegate.memory import MemoryDelegate
from conscious.delegate.proxy import Proxy
from conscious.delegate.sandbox import sandbox_for
from conscious.delegate.workspace import Clones, InPlace, Workspace
from conscious.errors import ConfigError
from conscious.gate.tools import ToolPolicy
from conscious.journal import Journal
from conscious.loop.decision_log import DecisionLog
from conscious.loop.orchestrator import Orchestrator
from conscious.loop.reporter import Reporter
from conscious.loop.state import Published
from conscious.observe.base import Observer
from conscious.observe.clock import ClockObserver
from conscious.observe.files import FileObserver
from conscious.observe.processes import ProcessObserver
from conscious.observe.units import UnitObserver
from conscious.paths import Paths
from conscious.system.git import toplevel
from conscious.system.process import ProcessLimits
from conscious.think import profiles
from conscious.think.assembly import thinker_for
from conscious.think.connection import Connection


def delegates_for(config: Config, journal: Journal) -> dict[str, Delegate]:
    delegates: dict[str, Delegate] = {
        "claude-code": ClaudeCodeDelegate(config.claude_code),
        "claude-flow": CommandDelegate(
            "claude-flow",
            config.claude_flow.argv,
            init_argv=config.claude_flow.init_argv,
            init_marker=config.claude_flow.init_marker,
            required=["--no-auto-permissions"],
            claude_settings=True,
        ),
        "memory": MemoryDelegate(journal),
    }
    for name, argv in config.command_agents.items():
        delegates[name] = CommandDelegate(name, argv)
    return delegates


def workspace_for(config: Config, paths: Paths, journal: Journal) -> Workspace:
    """Worktrees when the watched folder is in a git repository (or the config says so)."""
    watched = config.watch[0].resolve()
    repo = toplevel(watched) if config.workspace != "in-place" else None
    if config.workspace == "worktree" and repo is None:
        raise ConfigError(f"workspace = 'worktree', but {watched} is not in a git repository")
    if repo is None:
        return InPlace(config.watch[0])
    folder = (paths.state_dir / "worktrees").resolve()
    if folder.is_relative_to(watched):
        raise ConfigError(
            f"the state directory {paths.state_dir} is inside the watched folder: agents' worktrees must be"
            " outside it (give --home or CONSCIOUS_HOME another place, or set workspace = 'in-place')"
        )
    return Clones(
        journal,
        watched,
        repo.resolve(),
        folder,
        agents=config.worktree_agents,
        checks=config.checks,
        auto_merge=config.auto_merge,
        keep_days=config.worktree_keep_days,
    )


def guard_for(config: Config, paths: Paths, journal: Journal, reporter: Reporter) -> ToolGuard:
    """The gate at each tool call of an agent's (its hook asks the control API)."""
    return ToolGuard(
        journal,
        ToolPolicy(
            deny=tuple(config.tool_gate.deny),
            allow=tuple(config.tool_gate.allow),
            paths=tuple(str(p) for p in config.tool_gate.paths),
        ),
        paths.state_dir / "tasks",
        timeout=config.hook_timeout,
        on_call=lambda task, call, verdict: reporter.tool_call(task, call.text(), verdict.allowed, verdict.reason),
    )


def dispatcher_for(
    config: Config, paths: Paths, journal: Journal, guard: ToolGuard, events: TaskEvents
) -> LocalDispatcher:
    """The agents run here: in their workspace and its wall, each tool call before ``guard``."""
    proxy = (
        Proxy(paths.state_dir / "tasks" / "proxy.sock", config.sandbox.allow_hosts)
        if config.sandbox.mode != "off" and config.sandbox.network == "allowlist"
        else None
    )
    return LocalDispatcher(
        journal,
        delegates_for(config, journal),
        cwd=config.watch[0],
        max_concurrent=config.max_concurrent_tasks,
        timeout=config.task_timeout,
        timeouts={name: b.task_timeout for name, b in config.budgets.items() if b.task_timeout is not None},
        grace=config.kill_grace,
        events=events,
        workspace=workspace_for(config, paths, journal),
        guard=guard,
        trust_project=config.trust_repository_settings,
        sandbox=sandbox_for(config.sandbox, proxy=proxy.socket if proxy else None),
        proxy=proxy,
        hidden=[paths.config_dir, paths.data_dir, paths.state_dir, *extra_hidden(config, paths)],
        scratch=paths.state_dir / "tasks",
        limits=ProcessLimits(config.sandbox.processes, config.sandbox.memory_mb),
    )


def extra_hidden(config: Config, paths: Paths) -> list[Path]:
    """What else holds the daemon's secrets: a config file given by path, the log."""
    found = [config.log_file or paths.log_file]
    return [*found, config.read_from] if config.read_from is not None else found


def outside_observers(config: Config, paths: Paths) -> list[Observer]:
    """What this machine watches (files, processes); the clock is the loop's own."""
    return [
        FileObserver(
            config.watch,
            config.ignore,
            config.debounce_ms,
            exclude=[
                paths.journal,
                paths.journal.with_suffix(".lock"),
                config.log_file or paths.log_file,
                paths.state_dir / "llama-server.log",
            ],
            reports=config.report_globs,
        ),
        ProcessObserver(
            config.processes,
            interval=config.observation_interval,
            cpu_threshold=config.cpu_threshold,
            memory_threshold_mb=config.memory_threshold_mb,
        ),
        UnitObserver(config.units, interval=config.observation_interval),
    ]


async def build(
    config: Config,
    paths: Paths,
    journal: Journal,
    connection: Connection,
    reporter: Reporter,
    *,
    observe: bool = True,
    dispatcher: DispatcherFactory | None = None,
    guard: ToolGuard | None = None,
    decision_log: DecisionLog | None = None,
    stop: asyncio.Event | None = None,
    published: Published | None = None,
) -> Orchestrator:
    """The running parts; ``observe=False`` leaves out the observers (replay feeds the loop
    itself); the ``dispatcher`` made with the loop to be told (else agents here, their tool
    calls before ``guard``, or a guard of their own); a brain on several machines brings its ``decision_log``; ``stop``
    is the daemon's one stop, handed to every part as it is made."""
    config = profiles.apply(config, connection.profile)
    thinker = await thinker_for(
        config,
        connection.backend,
        connection.context_length,
        strip_think=connection.profile.profile.strip_think if connection.profile else True,
    )
    if dispatcher is None:
        here = guard or guard_for(config, paths, journal, reporter)
        dispatcher = lambda events: dispatcher_for(config, paths, journal, here, events)  # noqa: E731
    orchestrator: Orchestrator
    clock = ClockObserver(
        heartbeat=config.heartbeat_interval,
        idle_reflection=config.idle_reflection_interval,
        last_activity=lambda: orchestrator.state.last_activity,
    )
    observers: list[Observer] = [*outside_observers(config, paths), clock]
    orchestrator = Orchestrator(
        config,
        journal,
        connection,
        thinker,
        dispatcher,
        observers if observe else [],
        reporter,
        decision_log=decision_log,
        stop=stop,
        published=published,
    )
    return orchestrator
