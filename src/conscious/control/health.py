"""The periodic health loop: is every part the daemon depends on still working?

Checks, each ``{"ok": bool, "detail": str}``:

- ``llm``: the model server answers (its model list, not a generation: cheap, no cache churn);
- ``model``: the model is loaded (LM Studio reports the state; others serve what they list);
- ``journal``: the journal takes the write lock (begun and rolled back: nothing is written);
- ``observers``: every observer task is alive;
- ``budget``: delegations this hour and spend today are under their caps.

A change of the overall status is itself an observation (``system/health``), so the model
hears of it like anything else; the findings go to ``conscious status``, the live page and
sd_notify's STATUS. The same round reports delegations that have gone silent (``stall_after``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from typing import Any, Protocol

from conscious.delegate.dispatch import Dispatcher
from conscious.errors import JournalError, LLMError
from conscious.gate.budget import budget_use
from conscious.gate.policy import DAY
from conscious.loop.reporter import Reporter
from conscious.loop.state import LoopState, Published
from conscious.model import Observation, PastTask
from conscious.think.connection import Connection

log = logging.getLogger("conscious")

PROBE_TIMEOUT = 10.0
"""Seconds the LLM server has to list its models."""
PROBE_LOCK_WAIT = 1.0
"""Seconds the journal probe waits for the write lock before calling the journal unwritable."""


def _check(ok: bool, detail: str) -> dict[str, Any]:
    return {"ok": ok, "detail": detail}


def overall(checks: dict[str, dict[str, Any]]) -> str:
    return "ok" if all(c["ok"] for c in checks.values()) else "degraded"


def over_budget(use: dict[str, Any]) -> list[str]:
    """Which caps are reached, in words (empty: within budget)."""
    limits = use["limits"]
    found = []
    if (cap := limits.get("delegations_per_hour")) is not None and use["delegations_last_hour"] >= cap:
        found.append(f"{use['delegations_last_hour']}/{cap} delegations this hour")
    if (cap := limits.get("max_spend_usd_per_day")) is not None and use["spent_today_usd"] >= cap:
        found.append(f"${use['spent_today_usd']:.2f}/${cap:.2f} spent today")
    for agent, own in limits.get("budgets", {}).items():
        figures = use["by_agent"].get(agent, {})
        if (cap := own.get("delegations_per_hour")) is not None and figures.get("delegations_last_hour", 0) >= cap:
            found.append(f"{agent}: {figures['delegations_last_hour']}/{cap} this hour")
        if (cap := own.get("max_spend_usd_per_day")) is not None and figures.get("spent_today_usd", 0) >= cap:
            found.append(f"{agent}: ${figures['spent_today_usd']:.2f}/${cap:.2f} today")
    return found


class HealthJournal(Protocol):
    """The journal as the health loop uses it: whether it can be written, and the tasks' costs."""

    @property
    def writing(self) -> bool:
        """This connection holds the write lock (a probe now would only wait on itself)."""

    def probe_write(self, wait: float) -> str | None: ...

    def recent_tasks(self, within_s: float) -> list[PastTask]: ...


class Health:
    """Reads the loop's ``LoopState``, probes the parts it is handed, and writes what it finds
    where the daemon publishes it (``Published.checks``)."""

    def __init__(
        self,
        state: LoopState,
        published: Published,
        connection: Connection,
        journal: HealthJournal,
        dispatcher: Dispatcher,
        reporter: Reporter,
        *,
        accept: Callable[[Observation], object],
        noticed: Callable[[Observation], None],
        publish: Callable[[], None],
        interval: float,
        stall_after: float | None,
    ) -> None:
        self.state = state
        self.published = published
        self.connection = connection
        self.journal = journal
        self.dispatcher = dispatcher
        self.reporter = reporter
        self.accept = accept
        self.noticed = noticed
        self.publish = publish
        self.interval = interval
        self.stall_after = stall_after
        self.status = "ok"
        self._unsaid: list[Observation] = []
        """Changes of health not journaled yet (the journal could not be written)."""

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            try:
                await self.round()
            except Exception:  # the health loop must outlive whatever it finds
                log.exception("health check failed")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), self.interval)

    async def round(self) -> dict[str, dict[str, Any]]:
        if self.stall_after:
            for obs in self.dispatcher.stalls(self.stall_after):
                self.noticed(obs)
        checks = {**await self._llm(), "journal": self._journal(), "observers": self._observers()}
        checks["budget"] = self._budget()
        self.published.checks = checks
        status = overall(checks)
        if status != self.status:
            self._changed(status, checks)
        self.status = status
        self._say(checks["journal"]["ok"])
        if checks["journal"]["ok"]:  # else the write would only wait out the busy timeout
            with contextlib.suppress(Exception):
                self.publish()
        return checks

    async def _llm(self) -> dict[str, dict[str, Any]]:
        backend = self.connection.backend
        try:
            info = await asyncio.wait_for(backend.info(), PROBE_TIMEOUT)
        except (LLMError, TimeoutError) as exc:
            detail = str(exc) or f"no answer in {PROBE_TIMEOUT:.0f}s"
            return {"llm": _check(False, f"{backend.url}: {detail}"[:300]), "model": _check(False, "unknown")}
        model = _check(info.loaded, f"{info.model} loaded" if info.loaded else f"{info.model} is not loaded")
        return {"llm": _check(True, f"{info.server} at {backend.url}"), "model": model}

    def _journal(self) -> dict[str, Any]:
        if self.state.journal_trouble is not None:
            return _check(False, self.state.journal_trouble)
        if self.journal.writing:
            return _check(True, "writable (busy)")
        # A probe, not a wait: the loop itself waits out a long-held lock (busy_timeout).
        trouble = self.journal.probe_write(PROBE_LOCK_WAIT)
        return _check(True, "writable") if trouble is None else _check(False, f"cannot take the write lock: {trouble}")

    def _observers(self) -> dict[str, Any]:
        tasks = self.state.observer_tasks
        # An observer that fails is restarted with back-off: alive, but not working.
        errors = self.state.observer_errors
        failing = [
            f"{name} ({n} failures in a row, restarted with back-off: {errors.get(name, 'no error said')})"
            for name, n in self.state.observer_failures.items()
            if n
        ]
        dead = [t.get_name() for t in tasks if t.done() and not t.cancelled() and t.exception() is not None]
        if failing or dead:
            return _check(False, "; ".join([*failing, *(f"{name} crashed" for name in dead)]))
        running = sum(not t.done() for t in tasks)
        return _check(
            True,
            f"{running} running" + (f", {len(tasks) - running} with nothing to watch" if running < len(tasks) else ""),
        )

    def _budget(self) -> dict[str, Any]:
        use = budget_use(self.journal.recent_tasks(DAY), self.state.limits)
        reached = over_budget(use)
        if reached:
            return _check(False, "cap reached: " + "; ".join(reached))
        return _check(
            True, f"{use['delegations_last_hour']} delegations this hour, ${use['spent_today_usd']:.2f} today"
        )

    def _changed(self, status: str, checks: dict[str, dict[str, Any]]) -> None:
        failing = {k: c["detail"] for k, c in checks.items() if not c["ok"]}
        self.reporter.health(status, checks)
        self._unsaid.append(
            Observation(
                source="system",
                event_type="health",
                target=status,
                severity="warning" if failing else "info",
                details={"failing": failing} if failing else {"note": "every check passes again"},
            )
        )

    def _say(self, journal_ok: bool) -> None:
        """Journal the changes; while the journal cannot be written they wait for a later round."""
        while self._unsaid and journal_ok:
            try:
                self.accept(self._unsaid[0])
            except JournalError as exc:
                log.warning("health change not journaled yet: %s", exc)
                return
            self._unsaid.pop(0)
