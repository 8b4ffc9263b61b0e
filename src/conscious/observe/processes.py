"""Watched processes (psutil): started, stopped (SIGSTOP / Ctrl-Z) and resumed, vanished
(gone without anyone here asking it to stop: the orchestrator never stops them itself),
restarted (gone, and back under the same command line by the next poll: a supervisor or a
file watcher restarted it, and nothing needs doing — it was delegated as a crash every time),
CPU or memory over a threshold. A vanish is therefore said one poll late, unless it came back.

A pattern matches a process's name exactly or a substring of its command line. Thresholds
report once per crossing, not on every poll.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass

import psutil

from conscious.model import Observation, Severity


@dataclass
class _Seen:
    pattern: str
    name: str
    cmdline: str
    cpu_high: bool = False
    mem_high: bool = False
    stopped: bool = False


class ProcessObserver:
    name = "processes"

    def __init__(
        self,
        patterns: Sequence[str],
        *,
        interval: float = 5.0,
        cpu_threshold: float = 90.0,
        memory_threshold_mb: float = 4096.0,
    ) -> None:
        self.patterns = list(patterns)
        self.interval = interval
        self.cpu_threshold = cpu_threshold
        self.memory_threshold = memory_threshold_mb * 1024 * 1024
        self.seen: dict[int, _Seen] = {}
        self._procs: dict[int, psutil.Process] = {}
        self._gone: list[Observation] = []
        """Vanished at the last poll: said at this one, unless back under the same command line."""

    def match(self, name: str, cmdline: str) -> str | None:
        for pattern in self.patterns:
            if name == pattern or pattern in cmdline:
                return pattern
        return None

    def poll(self, first: bool = False) -> list[Observation]:
        out: list[Observation] = []
        alive: set[int] = set()
        for proc in psutil.process_iter(["pid", "name", "cmdline"]):
            try:
                name = proc.info["name"] or ""
                cmdline = " ".join(proc.info["cmdline"] or [])
                pattern = self.match(name, cmdline)
                if pattern is None or proc.pid == psutil.Process().pid:
                    continue
                pid = proc.pid
                alive.add(pid)
                if pid not in self.seen:
                    self.seen[pid] = _Seen(pattern, name, cmdline[:200])
                    self._procs[pid] = proc
                    proc.cpu_percent(None)  # prime the CPU counter
                    out.append(self._obs("running" if first else "started", pid, "info", {}))
                    continue
                out += self._thresholds(pid, self._procs[pid])
            except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
                continue
        earlier = self._gone
        now: list[Observation] = []
        for pid in set(self.seen) - alive:
            now.append(self._obs("vanished", pid, "warning", {}))
            del self.seen[pid]
            self._procs.pop(pid, None)
        started = {o.details["cmdline"]: o for o in out if o.event_type == "started"}
        out += [obs for obs in earlier if not self._back(obs, out, started)]  # held a poll: gone for good
        self._gone = [obs for obs in now if not self._back(obs, out, started)]
        return out

    @staticmethod
    def _back(gone: Observation, out: list[Observation], started: dict[str, Observation]) -> bool:
        """Whether ``gone`` came back under the same command line: its start becomes a restart."""
        again = started.pop(gone.details["cmdline"], None)
        if again is None:
            return False
        out.remove(again)
        details = {**again.details, "previous_pid": gone.details["pid"]}
        out.append(again.model_copy(update={"event_type": "restarted", "details": details}))
        return True

    def _thresholds(self, pid: int, proc: psutil.Process) -> list[Observation]:
        seen = self.seen[pid]
        out: list[Observation] = []
        stopped = proc.status() == psutil.STATUS_STOPPED
        if stopped != seen.stopped:
            seen.stopped = stopped
            out.append(self._obs("stopped" if stopped else "resumed", pid, "warning" if stopped else "info", {}))
        cpu = proc.cpu_percent(None)
        rss = proc.memory_info().rss
        if (cpu > self.cpu_threshold) != seen.cpu_high:
            seen.cpu_high = not seen.cpu_high
            out.append(
                self._obs(
                    "cpu-high" if seen.cpu_high else "cpu-normal",
                    pid,
                    "warning" if seen.cpu_high else "info",
                    {"cpu_percent": round(cpu, 1)},
                )
            )
        if (rss > self.memory_threshold) != seen.mem_high:
            seen.mem_high = not seen.mem_high
            out.append(
                self._obs(
                    "memory-high" if seen.mem_high else "memory-normal",
                    pid,
                    "warning" if seen.mem_high else "info",
                    {"rss_mb": round(rss / 2**20, 1)},
                )
            )
        return out

    def _obs(self, event: str, pid: int, severity: Severity, extra: dict[str, object]) -> Observation:
        seen = self.seen[pid]
        details: dict[str, object] = {"pid": pid, "pattern": seen.pattern, "cmdline": seen.cmdline, **extra}
        return Observation(
            source="process",
            event_type=event,
            target=f"{seen.name or seen.pattern}[{pid}]",
            severity=severity,
            details=details,
        )

    async def observe(self) -> AsyncIterator[Observation]:
        if not self.patterns:
            return
        first = True
        while True:
            for obs in await asyncio.to_thread(self.poll, first):
                yield obs
            first = False
            await asyncio.sleep(self.interval)
