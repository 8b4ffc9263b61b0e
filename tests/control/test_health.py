"""The health loop against a real orchestrator (scripted brain, real journal file): each check
can fail, a change of status is journaled as an observation, and budgets are read right."""

from __future__ import annotations

import asyncio
from pathlib import Path

from conscious.config import Config
from conscious.control.health import Health, over_budget
from conscious.errors import LLMUnavailable
from conscious.journal import Journal
from conscious.loop.orchestrator import Orchestrator
from conscious.model import Observation
from conscious.observe.scripted import ScriptedObserver
from conscious.paths import Paths
from conscious.think.backends.base import ModelInfo
from conscious.think.backends.scripted import ScriptedBackend
from tests.loop.test_orchestrator import make


def health_of(orch: Orchestrator, interval: float) -> Health:
    """The health loop as the daemon wires it to its loop."""
    return Health(
        orch.state,
        orch.published,
        orch.connection,
        orch.journal,
        orch.dispatcher,
        orch.reporter,
        accept=orch.accept,
        noticed=orch.noticed,
        publish=orch.publish_state,
        interval=interval,
        stall_after=None,
    )


class Unreachable(ScriptedBackend):
    """The model server gone: its model list fails as a refused connection does."""

    async def info(self) -> ModelInfo:
        raise LLMUnavailable("cannot reach LLM server at scripted://: connection refused")


class NotLoaded(ScriptedBackend):
    async def info(self) -> ModelInfo:
        return ModelInfo(model="qwen3-8b", context_length=None, loaded=False, server="lmstudio")


def health_observations(journal: Journal) -> list[tuple[str, str]]:
    return [
        (o.target, o.severity) for o in journal.observations(100) if (o.source, o.event_type) == ("system", "health")
    ]


async def test_all_checks_pass_on_a_sound_daemon(config: Config, paths: Paths) -> None:
    orch, journal = await make(config, paths, ScriptedBackend())
    checks = await health_of(orch, 1.0).round()
    assert set(checks) == {"llm", "model", "journal", "observers", "budget"}
    assert all(c["ok"] for c in checks.values()), checks
    assert health_observations(journal) == []  # nothing changed: nothing to say
    said = orch.published.status(orch.state)
    assert said["health"] == "ok" and said["checks"] == checks


async def test_an_unreachable_server_then_its_return_are_observations(config: Config, paths: Paths) -> None:
    orch, journal = await make(config, paths, ScriptedBackend())
    orch.connection.backend = Unreachable()
    health = health_of(orch, 1.0)
    checks = await health.round()
    assert not checks["llm"]["ok"] and "connection refused" in checks["llm"]["detail"]
    assert health_observations(journal) == [("degraded", "warning")]
    [obs] = [o for o in journal.observations(100) if o.event_type == "health"]
    assert "llm" in obs.details["failing"]
    orch.connection.backend = ScriptedBackend()
    await health.round()
    assert health_observations(journal) == [("degraded", "warning"), ("ok", "info")]


async def test_a_model_not_loaded_fails_the_model_check(config: Config, paths: Paths) -> None:
    orch, _ = await make(config, paths, ScriptedBackend())
    orch.connection.backend = NotLoaded()
    checks = await health_of(orch, 1.0).round()
    assert checks["llm"]["ok"] and not checks["model"]["ok"]
    assert checks["model"]["detail"] == "qwen3-8b is not loaded"
    assert any(p.startswith("model:") for p in orch.published.status(orch.state)["problems"])


async def test_a_journal_locked_by_another_process_fails_the_journal_check(config: Config, paths: Paths) -> None:
    orch, journal = await make(config, paths, ScriptedBackend())
    health = health_of(orch, 1.0)
    other = Journal(paths.journal)
    other.db.execute("BEGIN IMMEDIATE")
    try:
        checks = await health.round()
    finally:
        other.db.execute("ROLLBACK")
        other.close()
    assert not checks["journal"]["ok"] and "locked" in checks["journal"]["detail"]
    assert journal.db.execute("PRAGMA busy_timeout").fetchone()[0] == int(journal.busy_timeout * 1000)
    assert health_observations(journal) == []  # it could not be written then…
    await health.round()
    # …and is not lost: both changes are journaled once the journal can be written again.
    assert health_observations(journal) == [("degraded", "warning"), ("ok", "info")]


async def test_a_dead_observer_fails_the_observers_check(config: Config, paths: Paths) -> None:
    orch, _ = await make(config, paths, ScriptedBackend())

    async def dies() -> None:
        raise RuntimeError("inotify limit reached")

    task = asyncio.create_task(dies(), name="files")
    await asyncio.sleep(0)
    orch.state.observer_tasks.append(task)
    checks = await health_of(orch, 1.0).round()
    assert checks["observers"] == {"ok": False, "detail": "files crashed"}


async def test_an_observer_failing_again_and_again_fails_the_check_until_it_works(
    config: Config, paths: Paths, watched: Path
) -> None:
    failing = OSError("inotify watch limit reached")
    flaky = ScriptedObserver(
        "flaky", [failing], [failing], [Observation(source="fs", event_type="modified", target="a.py")]
    )
    orch, _ = await make(config, paths, ScriptedBackend())
    orch.observers = [flaky]
    health = health_of(orch, 1.0)
    stop = asyncio.Event()
    runner = asyncio.create_task(orch.run(stop))
    try:
        async with asyncio.timeout(5):
            while orch.state.observer_failures.get("flaky") != 1:
                await asyncio.sleep(0.01)
        checks = await health.round()
        assert checks["observers"] == {
            "ok": False,
            "detail": "flaky (1 failures in a row, restarted with back-off: OSError: inotify watch limit reached)",
        }
        async with asyncio.timeout(10):  # back-off 2 s, then 4 s, then it works
            while flaky.starts < 3 or orch.state.observer_failures["flaky"]:
                await asyncio.sleep(0.05)
        checks = await health.round()
        assert checks["observers"] == {"ok": True, "detail": "1 running"}
    finally:
        stop.set()
        await runner


async def test_an_observer_with_nothing_to_watch_is_not_a_failure(config: Config, paths: Paths) -> None:
    orch, _ = await make(config, paths, ScriptedBackend())

    async def nothing() -> None:
        return None

    task = asyncio.create_task(nothing(), name="processes")
    await task
    orch.state.observer_tasks.append(task)
    checks = await health_of(orch, 1.0).round()
    assert checks["observers"] == {"ok": True, "detail": "0 running, 1 with nothing to watch"}


def test_over_budget_names_each_cap_reached() -> None:
    limits = {
        "delegations_per_hour": 10,
        "max_spend_usd_per_day": 5.0,
        "budgets": {"claude-code": {"delegations_per_hour": 2, "max_spend_usd_per_day": None}},
    }
    use = {
        "delegations_last_hour": 3,
        "spent_today_usd": 5.0,
        "limits": limits,
        "by_agent": {"claude-code": {"delegations_last_hour": 2, "spent_today_usd": 5.0}},
    }
    assert over_budget(use) == ["$5.00/$5.00 spent today", "claude-code: 2/2 this hour"]
    use.update(spent_today_usd=1.0, by_agent={"claude-code": {"delegations_last_hour": 1, "spent_today_usd": 1.0}})
    assert over_budget(use) == []


async def test_the_health_loop_runs_until_stopped(config: Config, paths: Paths, tmp_path: Path) -> None:
    orch, _ = await make(config, paths, ScriptedBackend())
    health = health_of(orch, 0.05)
    stop = asyncio.Event()
    runner = asyncio.create_task(health.run(stop))
    await asyncio.sleep(0.3)
    assert orch.published.checks  # at least one round
    stop.set()
    await asyncio.wait_for(runner, 2)
