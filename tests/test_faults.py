"""Fault injection against the real daemon (subprocesses, real journal, stand-in agents on
PATH): kill -9 at random moments, the LLM server killed under it, an agent that ignores
SIGTERM. Figures from longer runs of the same scenarios are in RELIABILITY.md."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import psutil
import pytest

from conscious.journal import Journal
from conscious.model import Observation
from conscious.think.backends.embedded import EmbeddedServer
from tests.daemon_harness import SCRIPTED, Daemon, kill_storm, wait_for

Spawn = Callable[[dict[str, str]], Daemon]


@pytest.fixture
def spawn(home: Path, watched: Path) -> Iterator[Spawn]:
    """Daemons for one test, none left running whatever the test's outcome."""
    made: list[Daemon] = []

    def make(settings: dict[str, str]) -> Daemon:
        made.append(Daemon(home, watched, settings))
        return made[-1]

    yield make
    for daemon in made:
        daemon.close()


def test_kill_9_at_20_random_moments_loses_nothing_and_starts_nothing_twice(spawn: Spawn) -> None:
    report = kill_storm(spawn(SCRIPTED), observations=200, kills=20, seed=20261125)
    assert (report.lost, report.undecided, report.decided_twice) == (0, 0, 0), report.line()
    assert report.started_twice == 0 and report.orphans == 0, report.line()
    assert report.delegations > 0


def test_kill_9_with_the_real_model(llama_server: EmbeddedServer, spawn: Spawn) -> None:
    settings = {
        "CONSCIOUS_LLM_URL": llama_server.url,
        "CONSCIOUS_MAX_TOKENS": "150",
        "CONSCIOUS_TEMPERATURE": "0",
        "CONSCIOUS_REFLECTION_DEPTH": "0",
        "CONSCIOUS_DRY_RUN": "true",
    }
    report = kill_storm(spawn(settings), observations=12, kills=3, seed=7, settle_timeout=400)
    assert (report.lost, report.undecided, report.decided_twice) == (0, 0, 0), report.line()


def test_the_embedded_server_killed_five_times_is_restarted_and_nothing_is_lost(spawn: Spawn, home: Path) -> None:
    daemon = spawn(
        {
            "CONSCIOUS_EMBEDDED_CONTEXT_LENGTH": "2048",
            "CONSCIOUS_MAX_TOKENS": "120",
            "CONSCIOUS_RESERVE_TOKENS": "128",
            "CONSCIOUS_TEMPERATURE": "0",
            "CONSCIOUS_REFLECTION_DEPTH": "0",
            "CONSCIOUS_DRY_RUN": "true",
            "CONSCIOUS_OUTAGE_BACKOFF": "0.1",
            "CONSCIOUS_SYSTEM_PROMPT_FILE": str(write_prompt(home)),
        },
    )
    daemon.start()
    feeder = None
    pids: list[int] = []
    try:

        def server() -> psutil.Process | None:
            assert daemon.alive(), daemon.stderr()
            return daemon.llama_server()

        wait_for(lambda: server() is not None and daemon.ready(), 120, "the daemon on its embedded server")
        feeder = Journal(daemon.journal_path)
        for round_ in range(5):
            current = server()
            assert current is not None
            pids.append(current.pid)
            os.kill(current.pid, signal.SIGKILL)
            # Then news, so that the daemon's next request meets the dead server.
            news = feeder.append(
                Observation(source="tests", event_type="failed", target=f"round-{round_}", severity="error")
            )
            # Decided: the server is back and answering (killing it while it starts would be another test).
            wait_for(
                lambda news=news: any(o.id == news and o.decision_id for o in feeder.observations(200)),  # type: ignore[misc]
                180,
                "the server to be restarted and the news decided",
            )
            assert (s := server()) is not None and s.pid not in pids
        feeder.append(Observation(source="tests", event_type="passed", target="after"))
        wait_for(daemon.settled, 300, "every observation decided")
        assert daemon.alive()
        restarts = [o for o in feeder.observations(500) if o.event_type == "llm-server-restarted"]
        assert len(restarts) == 5 and len(set(pids)) == 5
        assert all(o.status == "decided" for o in feeder.observations(500))
        last = server()
        assert last is not None
        pids.append(last.pid)
    finally:
        if daemon.alive():
            assert daemon.stop() == 0
        if feeder is not None:
            feeder.close()
    time.sleep(0.5)
    assert not [pid for pid in pids if psutil.pid_exists(pid) and psutil.Process(pid).status() != psutil.STATUS_ZOMBIE]


def write_prompt(home: Path) -> Path:
    """A short system prompt: restarts re-process it, and the test is about restarts."""
    path = home / "prompt.md"
    path.write_text(
        "You are an orchestrator. For each batch of observations reply with one JSON decision: "
        "action_type (delegate, observe or reflect), reasoning, target_agent, command, priority, confidence."
    )
    return path


def test_an_agent_that_ignores_sigterm_is_killed_after_the_grace_period(spawn: Spawn) -> None:
    daemon = spawn(
        {**SCRIPTED, "CONSCIOUS_FAKE_MODE": "ignore-term", "CONSCIOUS_FAKE_SLEEP": "120", "CONSCIOUS_KILL_GRACE": "1"},
    )
    daemon.start()
    wait_for(daemon.journal_path.exists, 60, "the journal")
    feeder = Journal(daemon.journal_path)
    try:
        feeder.append(Observation(source="tests", event_type="failed", target="stubborn", severity="error"))
        wait_for(lambda: len(daemon.orphans()) == 1, 60, "the agent to start")
        agent = daemon.orphans()[0]
        started = time.monotonic()
        assert daemon.stop() == 0
        stopped_in = time.monotonic() - started
    finally:
        feeder.close()
    assert not agent.is_running() or agent.status() == psutil.STATUS_ZOMBIE
    assert daemon.orphans() == []
    assert stopped_in < 100  # the grace period, then SIGKILL: not the agent's 120 s
    [task] = Journal(daemon.journal_path).tasks()
    assert task["state"] == "interrupted"


def test_requests_told_four_at_a_time_under_kill_9_all_reach_an_agent(spawn: Spawn) -> None:
    """The default config (choose mode, the default batch) and a model that always takes the user's
    request: each request reaches an agent in its own words, once, unless its task was interrupted
    by a kill — told four at a time and across restarts (the backlog a restart leaves included)."""
    import json
    import random

    daemon = spawn(
        {
            "CONSCIOUS_LLM_URL": "scripted://delegate?agent=claude-code&delay=0.02",
            "CONSCIOUS_DELEGATIONS_PER_HOUR": "100000",
            "CONSCIOUS_MAX_SPEND_USD_PER_DAY": "100000",
            "CONSCIOUS_MAX_CONCURRENT_TASKS": "4",
            "CONSCIOUS_FAKE_MODE": "slow",
            "CONSCIOUS_FAKE_SLEEP": "0.3",
        }
    )
    rng = random.Random(20261204)
    told: list[str] = []
    daemon.start()
    feeder = Journal(daemon.journal_path)
    kills = 0
    for group in range(15):
        for k in range(4):  # four requests in the same instant, as four terminals would tell them
            words = f"please fix ITEM-{group * 4 + k}: the invoice total is off by one"
            feeder.append(Observation(source="user", event_type="request", target="inbox", details={"text": words}))
            told.append(words)
        time.sleep(rng.uniform(0.05, 0.4))
        if group % 3 == 2:
            if rng.random() < 0.7:
                wait_for(daemon.ready, 60, "the daemon to be up")
                time.sleep(rng.uniform(0, 0.5))
            daemon.kill9()
            kills += 1
            daemon.start()
    feeder.close()
    wait_for(daemon.settled, 300, "every request decided after the last restart")
    assert daemon.stop() == 0
    started = [json.loads(line)["argv"][-1] for line in daemon.agent_log.read_text().splitlines()]
    j = Journal(daemon.journal_path)
    try:
        tasks = j.tasks(limit=10_000)
    finally:
        j.close()
    interrupted = {t["command"] for t in tasks if t["state"] == "interrupted"}
    lost = [w for w in told if w not in started and w not in interrupted]
    twice = [w for w in told if started.count(w) > 1]
    print(
        f"{len(told)} requests, {kills} kill -9: {len(set(started))} reached an agent, "
        f"{len(interrupted)} interrupted by a kill, lost {len(lost)}, started twice {len(twice)}"
    )
    assert lost == [] and twice == []
