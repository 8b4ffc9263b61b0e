"""Who is there: each process writes what it is and does to the ``conscious-hosts`` bucket every
few seconds (the entries expire, so a host that went away drops out), and any host can read the
whole cluster from it — hosts, roles, the leader, each consumer's lag, tasks per worker.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import Callable
from typing import Any

import nats

from conscious.cluster.broker import OBS_STREAM, TASKS_STREAM, Broker, subject_part
from conscious.cluster.lease import KEY
from conscious.cluster.reconnect import pause
from conscious.config import ClusterConfig

EVERY_S = 3.0


class Presence:
    def __init__(self, broker: Broker, host: str, describe: Callable[[], dict[str, Any]]) -> None:
        self.broker = broker
        self.host = host
        self.describe = describe
        """This process's part: roles, leads, running tasks, backlog…"""

    async def say(self) -> None:
        value = {"host": self.host, "updated": time.time(), **self.describe()}
        with contextlib.suppress(TimeoutError, nats.errors.Error):
            await self.broker.hosts.put(subject_part(self.host), json.dumps(value, default=str).encode())

    async def run(self, stop: asyncio.Event) -> None:
        await self.say_forever(stop)
        with contextlib.suppress(TimeoutError, nats.errors.Error):
            await self.broker.hosts.delete(subject_part(self.host))

    async def say_forever(self, stop: asyncio.Event) -> None:
        """Every ``EVERY_S`` until stopped (``run`` also withdraws the entry then)."""
        while not stop.is_set():
            await self.say()
            await pause(stop, EVERY_S)


async def cluster_status(broker: Broker, config: ClusterConfig) -> dict[str, Any]:
    """The whole cluster as the broker knows it, for ``conscious status`` and the live page."""
    hosts: list[dict[str, Any]] = []
    with contextlib.suppress(nats.js.errors.NoKeysError, TimeoutError, nats.errors.Error):
        for key in await broker.hosts.keys():
            with contextlib.suppress(nats.js.errors.KeyNotFoundError, ValueError):
                entry = await broker.hosts.get(key)
                hosts.append(json.loads(entry.value or b"{}"))
    leader = None
    with contextlib.suppress(nats.js.errors.KeyNotFoundError, TimeoutError, nats.errors.Error, ValueError):
        leader = json.loads((await broker.leader.get(KEY)).value or b"{}").get("host")
    now = time.time()
    for host in hosts:
        host["age_s"] = round(now - float(host.get("updated", now)), 1)
        if "brain" in host.get("roles", []):
            host["lag"] = await broker.pending(OBS_STREAM, f"brain-{host['host']}")
    queued = {}
    for host in hosts:
        for agent in host.get("agents", []) if "worker" in host.get("roles", []) else []:
            name = f"work-{host.get('project', config.project)}-{agent}"
            if name not in queued:
                queued[name] = await broker.pending(TASKS_STREAM, name)
    return {
        "broker": config.broker,
        "connected": broker.connected,
        "leader": leader,
        "hosts": sorted(hosts, key=lambda h: str(h.get("host"))),
        "queued": {k: v for k, v in queued.items() if v is not None},
    }
