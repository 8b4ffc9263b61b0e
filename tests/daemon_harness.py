"""Driving the real daemon as a user (and a crash) would: `conscious run` as a subprocess,
observations written into its journal as `conscious tell` writes them, kill -9 at random
moments, then the invariants checked from the journal and the agents' own logs.

Used by tests/test_faults.py and by bench/faults.py (the figures in RELIABILITY.md).
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil

from conscious.journal import Journal
from conscious.model import Observation

FAKES_BIN = Path(__file__).parent / "fakes" / "bin"

SCRIPTED = {
    "CONSCIOUS_LLM_URL": "scripted://delegate?agent=claude-code&delay=0.02",
    "CONSCIOUS_DECIDE": "compose",  # it composes a command for whatever it sees
    "CONSCIOUS_DELEGATIONS_PER_HOUR": "100000",
    "CONSCIOUS_MAX_SPEND_USD_PER_DAY": "100000",
    "CONSCIOUS_MAX_CONCURRENT_TASKS": "4",
    # Agents that take a while, so that kills land while they run.
    "CONSCIOUS_FAKE_MODE": "slow",
    "CONSCIOUS_FAKE_SLEEP": "0.3",
}
"""The scripted brain delegating every batch's first item to the stand-in `claude`."""


def kill_tree(process: subprocess.Popen[Any]) -> None:
    """A still-running process and everything it started, killed."""
    if process.poll() is not None:
        return
    try:
        family = psutil.Process(process.pid).children(recursive=True)
    except psutil.Error:
        family = []
    process.kill()
    process.wait()
    for p in family:
        with contextlib.suppress(psutil.Error):
            p.kill()


def wait_for(check: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


@dataclass
class Daemon:
    home: Path
    watched: Path
    settings: dict[str, str] = field(default_factory=dict)
    process: subprocess.Popen[bytes] | None = None
    starts: int = 0

    @property
    def journal_path(self) -> Path:
        return self.home / "journal.db"

    @property
    def agent_log(self) -> Path:
        return self.home / "agents.jsonl"

    def env(self) -> dict[str, str]:
        (self.agent_log).parent.mkdir(parents=True, exist_ok=True)
        (self.agent_log).touch()
        env = {k: v for k, v in os.environ.items() if not k.startswith("CONSCIOUS_")}
        env.update(
            {
                "CONSCIOUS_HOME": str(self.home),
                "CONSCIOUS_PROBE_LMSTUDIO": "false",
                "CONSCIOUS_HEARTBEAT_INTERVAL": "0",
                "CONSCIOUS_IDLE_REFLECTION_INTERVAL": "0",
                "CONSCIOUS_FAKE_LOG": str(self.agent_log),
                # The stand-ins' log: the one path outside their task's folder they may write.
                "CONSCIOUS_SANDBOX__WRITABLE": json.dumps([str(self.agent_log)]),
                "PATH": f"{FAKES_BIN}{os.pathsep}{env['PATH']}",
                **self.settings,
            }
        )
        return env

    @property
    def stderr_file(self) -> Path:
        return self.home / "daemon.stderr"

    def start(self) -> None:
        with open(self.stderr_file, "ab") as err:  # a file, not a pipe nobody drains
            self.process = subprocess.Popen(
                [sys.executable, "-m", "conscious", "run", "--quiet", "--watch", str(self.watched)],
                env=self.env(),
                stdout=subprocess.DEVNULL,
                stderr=err,
            )
        self.starts += 1

    def stderr(self) -> str:
        return self.stderr_file.read_text(errors="replace") if self.stderr_file.exists() else ""

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def kill9(self) -> None:
        assert self.process is not None
        self.process.kill()
        self.process.wait()

    def stop(self, timeout: float = 60) -> int:
        assert self.process is not None
        self.process.send_signal(signal.SIGINT)
        try:
            return self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            raise AssertionError("the daemon did not stop on SIGINT") from None

    def close(self) -> None:
        """Whatever a test left running (it failed half-way): the daemon and everything it started."""
        if self.process is not None:
            kill_tree(self.process)

    def ready(self) -> bool:
        """Connected to its brain and running (it says so in its journal)."""
        if not self.journal_path.exists() or self.process is None:
            return False
        j = Journal(self.journal_path)
        try:
            state = j.identity().get("daemon", {})
        finally:
            j.close()
        return bool(state.get("running")) and state.get("pid") == self.process.pid

    def settled(self) -> bool:
        """Everything journaled is decided, and no delegation is still under way."""
        if not self.journal_path.exists():
            return False
        j = Journal(self.journal_path)
        try:
            counts = j.counts()
            return counts["pending"] == 0 and counts["running"] == 0
        finally:
            j.close()

    def llama_server(self) -> psutil.Process | None:
        """The daemon's embedded llama-server, if one is running (zombies and vanished ones aside)."""
        assert self.process is not None
        for child in psutil.Process(self.process.pid).children():
            try:
                if "llama-server" in " ".join(child.cmdline()) and child.status() != psutil.STATUS_ZOMBIE:
                    return child
            except psutil.Error:
                continue
        return None

    def orphans(self) -> list[psutil.Process]:
        """Agent processes still alive that this daemon's runs started (matched by working folder)."""
        left = []
        for p in psutil.process_iter(["cmdline", "cwd"]):
            try:
                # The stand-in itself (its interpreter, then its script), not the sandbox's
                # processes that name it further on (bubblewrap, the network bridge).
                runs = [a for a in (p.info["cmdline"] or [])[:2] if a.startswith(str(FAKES_BIN))]
                if runs and p.info["cwd"] == str(self.watched):
                    left.append(p)
            except (psutil.Error, TypeError):
                continue
        return left


@dataclass
class StormReport:
    observations: int
    kills: int
    lost: int
    undecided: int
    decided_twice: int
    delegations: int
    started_twice: int
    interrupted: int
    orphans: int
    seconds: float

    def line(self) -> str:
        return (
            f"{self.observations} observations, {self.kills} kill -9: lost {self.lost}, undecided {self.undecided}, "
            f"decided twice {self.decided_twice}; {self.delegations} delegations, started twice "
            f"{self.started_twice}, reported interrupted {self.interrupted}; orphans {self.orphans}; "
            f"{self.seconds:.0f} s"
        )


def kill_storm(daemon: Daemon, *, observations: int, kills: int, seed: int, settle_timeout: float = 300) -> StormReport:
    """Feed ``observations`` while killing the daemon with SIGKILL ``kills`` times at random moments."""
    rng = random.Random(seed)
    started = time.monotonic()
    kill_at = set(rng.sample(range(1, observations), kills))
    feeder = Journal(daemon.journal_path)
    ids: list[int] = []
    daemon.start()
    for i in range(observations):
        ids.append(
            feeder.append(
                Observation(
                    source="tests",
                    event_type="failed",
                    target=f"item-{i:04d}",
                    severity="error",
                    details={"n": i},
                )
            )
        )
        time.sleep(rng.uniform(0, 0.03))
        if i in kill_at:
            if rng.random() < 0.75:  # mostly once it runs: thinking, committing, delegating…
                wait_for(daemon.ready, 60, "the daemon to be up")
                time.sleep(rng.uniform(0, 0.6))
            daemon.kill9()  # …and sometimes while it is still starting
            daemon.start()
    wait_for(daemon.settled, settle_timeout, "every observation decided after the last restart")
    assert daemon.stop() == 0
    time.sleep(0.5)
    orphans = daemon.orphans()
    for p in orphans:
        p.kill()

    j = Journal(daemon.journal_path)
    try:
        rows = {
            r["id"]: r
            for r in j.db.execute(
                f"SELECT id, status, decision_id FROM observations WHERE id IN ({','.join('?' * len(ids))})", ids
            )
        }
        tasks = j.tasks(limit=100_000)
        # A batch decided a second time would leave a decision that covers nothing (its
        # observations were already taken): the journal's only trace of a double decision.
        empty = j.db.execute(
            "SELECT count(*) FROM decisions d WHERE NOT EXISTS (SELECT 1 FROM observations o WHERE o.decision_id = d.id)"
        ).fetchone()[0]
    finally:
        j.close()
    started_commands: Counter[str] = Counter()
    if daemon.agent_log.exists():
        for line in daemon.agent_log.read_text().splitlines():
            argv = json.loads(line)["argv"]
            started_commands[argv[-1]] += 1
    return StormReport(
        observations=observations,
        kills=kills,
        lost=sum(1 for i in ids if i not in rows),
        undecided=sum(1 for r in rows.values() if r["status"] != "decided" or r["decision_id"] is None),
        decided_twice=empty,
        delegations=len(tasks),
        started_twice=sum(1 for n in started_commands.values() if n > 1)
        + sum(n - 1 for n in Counter(t["command"] for t in tasks).values() if n > 1),
        interrupted=sum(1 for t in tasks if t["state"] == "interrupted"),
        orphans=len(orphans),
        seconds=time.monotonic() - started,
    )
