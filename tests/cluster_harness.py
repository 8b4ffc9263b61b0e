"""Several machines on one: a network namespace per host (``ip netns``), each joined to a bridge
by a veth pair, the broker (a real nats-server) on the bridge, and each role a real
``conscious run --role …`` process in its host's namespace. A host is cut off by taking its
link down. Used by tests/test_cluster.py and bench/cluster.py (the figures in BENCHMARKS.md).
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from tests.cluster.conftest import NatsServer
from tests.daemon_harness import FAKES_BIN, kill_tree


def run(*argv: str) -> None:
    subprocess.run(argv, check=True, capture_output=True)


@dataclass
class Net:
    """A bridge and a namespace per host, named after this process so that runs never collide."""

    tag: str = field(default_factory=lambda: f"cs{os.getpid() % 100000}")
    hosts: dict[str, str] = field(default_factory=dict)
    """Host name → its address."""

    def __post_init__(self) -> None:
        self.subnet = f"10.{100 + os.getpid() % 100}.{os.getpid() % 250}"
        run("ip", "link", "add", self.bridge, "type", "bridge")
        run("ip", "addr", "add", f"{self.gateway}/24", "dev", self.bridge)
        run("ip", "link", "set", self.bridge, "up")

    @property
    def bridge(self) -> str:
        return f"{self.tag}br"

    @property
    def gateway(self) -> str:
        """The bridge's own address, in the root namespace: where the broker listens."""
        return f"{self.subnet}.1"

    def ns(self, host: str) -> str:
        return f"{self.tag}-{host}"

    def link(self, host: str) -> str:
        return f"{self.tag}{host}"[:15]

    def add(self, host: str) -> str:
        """A host: its namespace, its link to the bridge, its address. (On the machines here, a
        seventh host on one bridge could not reach the bridge: six at most.)"""
        address = f"{self.subnet}.{len(self.hosts) + 10}"
        ns, link, peer = self.ns(host), self.link(host), f"{self.link(host)}"[:13] + "p"
        run("ip", "netns", "add", ns)
        run("ip", "link", "add", link, "type", "veth", "peer", "name", peer)
        run("ip", "link", "set", peer, "netns", ns)
        run("ip", "link", "set", link, "master", self.bridge)
        run("ip", "link", "set", link, "up")
        run("ip", "netns", "exec", ns, "ip", "addr", "add", f"{address}/24", "dev", peer)
        run("ip", "netns", "exec", ns, "ip", "link", "set", peer, "up")
        run("ip", "netns", "exec", ns, "ip", "link", "set", "lo", "up")
        self.hosts[host] = address
        return address

    def cut(self, host: str) -> None:
        run("ip", "link", "set", self.link(host), "down")

    def mend(self, host: str) -> None:
        run("ip", "link", "set", self.link(host), "up")

    def close(self) -> None:
        for host in self.hosts:
            with contextlib.suppress(subprocess.CalledProcessError):
                run("ip", "netns", "del", self.ns(host))
            with contextlib.suppress(subprocess.CalledProcessError):
                run("ip", "link", "del", self.link(host))
        with contextlib.suppress(subprocess.CalledProcessError):
            run("ip", "link", "del", self.bridge)


def namespaces_work() -> bool:
    try:
        probe = Net()
    except (subprocess.CalledProcessError, FileNotFoundError):
        return False
    probe.close()
    return True


@dataclass
class Role:
    """One ``conscious run --role …`` process in one host's namespace."""

    net: Net
    host: str
    roles: list[str]
    home: Path
    watched: Path
    broker: NatsServer
    settings: dict[str, str] = field(default_factory=dict)
    process: subprocess.Popen[bytes] | None = None
    mark: int = 0

    @property
    def journal_path(self) -> Path:
        return self.home / "journal.db"

    @property
    def output(self) -> Path:
        return self.home.parent / f"{self.host}.out"

    def env(self) -> dict[str, str]:
        (self.home.parent / "agents.jsonl").parent.mkdir(parents=True, exist_ok=True)
        (self.home.parent / "agents.jsonl").touch()
        env = {k: v for k, v in os.environ.items() if not k.startswith("CONSCIOUS_")}
        env.update(
            {
                "CONSCIOUS_HOME": str(self.home),
                "CONSCIOUS_API": "false",
                "CONSCIOUS_LOG_STDOUT": "true",
                "CONSCIOUS_FAKE_LOG": str(self.home.parent / "agents.jsonl"),
                # The stand-ins' log: the one path outside their task's folder they may write.
                "CONSCIOUS_SANDBOX__WRITABLE": json.dumps([str(self.home.parent / "agents.jsonl")]),
                "PATH": f"{FAKES_BIN}{os.pathsep}{env['PATH']}",
                "CONSCIOUS_CLUSTER__LEASE_S": "5",
                "CONSCIOUS_CLUSTER__ACK_WAIT_S": "5",
                **self.settings,
            }
        )
        return env

    def start(self) -> None:
        """Started (again): ``said()`` tells what this run says."""
        self.mark = self.output.stat().st_size if self.output.exists() else 0
        argv = ["ip", "netns", "exec", self.net.ns(self.host), sys.executable, "-m", "conscious", "run"]
        for role in self.roles:
            argv += ["--role", role]
        argv += ["--broker", self.broker.url, "--host", self.host, "--watch", str(self.watched)]
        with self.output.open("ab") as out:
            self.process = subprocess.Popen(argv, env=self.env(), stdout=out, stderr=subprocess.STDOUT)

    def kill9(self) -> None:
        if self.process is not None:
            kill_tree(self.process)

    def stop(self, timeout: float = 30) -> int | None:
        if self.process is None or self.process.poll() is not None:
            return self.process.returncode if self.process else None
        self.process.send_signal(signal.SIGINT)
        try:
            return self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            kill_tree(self.process)
            return None

    def said(self) -> str:
        """What this run (since its latest start) printed."""
        if not self.output.exists():
            return ""
        with self.output.open("rb") as out:
            out.seek(self.mark)
            return out.read().decode(errors="replace")


def wait_until(check: object, timeout: float, what: str) -> float:
    """Seconds it took; fails after ``timeout``."""
    assert callable(check)
    began = time.monotonic()
    while time.monotonic() - began < timeout:
        with contextlib.suppress(Exception):
            if check():
                return time.monotonic() - began
        time.sleep(0.1)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")
