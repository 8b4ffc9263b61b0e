"""The loop: observers → journal → batch → thinker → gate → delegates, and back.

Start-up → main loop → shutdown, in the manner of uvicorn's Server: ``Config`` holds the
settings, the ``Orchestrator`` holds the running parts. One thinker (the LLM is a serial
resource with one KV cache to keep warm); observers and delegations run around it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections.abc import Sequence
from typing import Any

from conscious.config import Config
from conscious.control.status import daemon_state
from conscious.delegate.dispatcher import Dispatcher
from conscious.errors import ConsciousError, JournalError, LLMError, LLMRejected, LLMUnavailable, ModelNotFound
from conscious.gate.gatekeeper import Gatekeeper
from conscious.gate.policy import Verdict
from conscious.journal import Journal
from conscious.loop.batch import UNSHOWN_EVENTS, Entry, coalesce, covered_ids, take_batch
from conscious.loop.reporter import Reporter
from conscious.loop.shortcuts import Rule, shortcut
from conscious.model import PRIORITY_RANK, Decision, Observation, Task, TaskState, utcnow
from conscious.observe.base import Observer
from conscious.think.connect import Connection
from conscious.think.context import Turn
from conscious.think.identity import Resumption, begin_session
from conscious.think.memory import Memory
from conscious.think.prompt import render_turn
from conscious.think.thinker import Thinker, Thought, fallback

log = logging.getLogger("conscious")

POLL_INTERVAL = 0.1
"""How often the journal is checked for rows written by other processes (``tell``)."""
BACKOFF_MAX = 30.0
THOUGHT_GRACE = 3.0
"""Seconds a thought in flight may take to finish once a stop is asked for; then it is handed back."""
PUBLISH_INTERVAL = 1.0
"""Seconds between two writes of the daemon's state after decisions (``conscious status``)."""


def _overflow(error: LLMError) -> bool:
    text = str(error).lower()
    return "context" in text and any(w in text for w in ("exceed", "too long", "overflow", "larger", "size"))


class Orchestrator:
    def __init__(
        self,
        config: Config,
        journal: Journal,
        connection: Connection,
        thinker: Thinker,
        dispatcher: Dispatcher,
        observers: Sequence[Observer],
        reporter: Reporter,
    ) -> None:
        self.config = config
        self.journal = journal
        self.connection = connection
        self.thinker = thinker
        self.dispatcher = dispatcher
        self.observers = list(observers)
        self.reporter = reporter
        self.gate = Gatekeeper(config, journal, dispatcher, reporter, accept=self.accept, noticed=self.noticed)
        self.wake = asyncio.Event()
        self.started = utcnow()
        self.turn = 0
        self.reflect_depth = 0
        self.health = "ok"
        """The LLM's: ok or degraded."""
        self.journal_trouble: str | None = None
        """Why the journal cannot be written, while it cannot."""
        self.journal_failures = 0
        self.failures = 0
        self.last_activity = time.monotonic()
        self.observer_tasks: list[asyncio.Task[None]] = []
        self.observer_failures: dict[str, int] = {}
        """Observer name → failures in a row (it is restarted with back-off meanwhile)."""
        self._stop = asyncio.Event()
        self.session = 0
        self._published = 0.0
        self.first_start = self.started.isoformat()
        self.resume_note: str | None = None
        """Said once, in the first thought's facts: how this run began."""
        self.activity = "starting"
        """What it is doing now, in a few words (sd_notify STATUS, the live page)."""
        self.checks: dict[str, dict[str, Any]] = {}
        """The health loop's latest findings (``health.py``), published with the state."""
        self.published: dict[str, Any] = {}
        """More of the daemon's state to publish (the control API's address)."""
        self._seen = 0
        """Every pending observation up to this id has been shown live."""
        self._shown: set[int] = set()
        """Ids above ``_seen`` shown live already (journaled in this process); the others were
        written by another process and are shown when the loop finds them pending."""
        self.memory = Memory(journal, thinker, connection.backend, config, first_start=self.first_start)
        thinker.identity = self.memory.identity_line
        thinker.on_compact = self.memory.archive

    # -- start-up / shutdown

    async def startup(self) -> None:
        resumption, values = begin_session(self.journal.identity(), self.config, self.started)
        self.journal.set_identity(**values)
        self.session, self.first_start = resumption.session, resumption.first_start
        self.memory.first_start = resumption.first_start
        self.publish_state()  # running, from now: a crash during start-up is a crash
        await self._resume(resumption)
        if interrupted := self.dispatcher.recover():
            self.reporter.warn(
                f"{interrupted} task(s) were unfinished when the last run ended; reported as interrupted"
            )
        for observer in self.observers:
            self.observer_tasks.append(asyncio.create_task(self._observe(observer), name=observer.name))
        self.publish_state()

    async def _resume(self, resumption: Resumption) -> None:
        """Pick up where the last run left off: its memory block and its newest turns."""
        # The stored memory block states the thresholds: rewritten when they changed.
        restored = await self.memory.restore(fresh=resumption.thresholds_changed is not None)
        self.resume_note = resumption.note(restored, bool(self.thinker.summary))
        details: dict[str, Any] = {
            "session": resumption.session,
            "start": resumption.start,
            "last_seen": resumption.last_seen,
            "restored_turns": restored,
            "summary": bool(self.thinker.summary),
        }
        if resumption.thresholds_changed is not None:
            details["previous_thresholds"] = resumption.thresholds_changed
        self.journal.append(
            Observation(
                source="self",
                event_type="started" if resumption.start == "first" else "resumed",
                target=f"session {resumption.session}",
                severity="warning" if resumption.start == "crash" else "info",
                details=details,
            )
        )
        if resumption.start != "first":
            self.reporter.info(self.resume_note)

    async def shutdown(self, grace: float) -> None:
        for task in self.observer_tasks:
            task.cancel()
        for task in self.observer_tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        await self.gate.close()
        await self.dispatcher.shutdown(grace)
        self.publish_state(running=False)

    async def _observe(self, observer: Observer) -> None:
        """Feed one observer into the journal; restart it with back-off if it fails."""
        failures = 0
        while True:
            try:
                async for obs in observer.observe():
                    self.accept(obs)
                    failures = self.observer_failures[observer.name] = 0
                return  # nothing (more) to watch: done, not failed
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                failures = self.observer_failures[observer.name] = failures + 1
                log.exception("observer %s failed", observer.name)
                with contextlib.suppress(Exception):
                    self.accept(
                        Observation(
                            source="system",
                            event_type="observer-failed",
                            target=observer.name,
                            severity="error",
                            details={"error": repr(exc)[:300], "failures": failures},
                        )
                    )
                await asyncio.sleep(min(BACKOFF_MAX, 2.0**failures))

    def accept(self, obs: Observation) -> int:
        """Journal first, then consider."""
        obs_id = self.journal.append(obs)
        self.noticed(obs)
        return obs_id

    def noticed(self, obs: Observation) -> None:
        """Consider an observation that is already journaled."""
        if obs.source != "clock":
            self.last_activity = time.monotonic()
        if obs.id is not None:
            self._shown.add(obs.id)
        self.reporter.observation(obs)
        self.wake.set()

    # -- main loop

    async def run(self, stop: asyncio.Event) -> None:
        self._stop = stop
        await self.startup()
        try:
            while not stop.is_set():
                try:
                    busy = await self._step_or_stop(stop)
                except JournalError as exc:
                    # The exchange whose decision could not be committed never happened.
                    self.thinker.window.drop_uncommitted()
                    await self._journal_failing(exc)
                    continue
                if self.journal_trouble is not None:
                    self._journal_back()
                if not busy:
                    await self._wait(stop)
        finally:
            await self.shutdown(self.config.kill_grace)

    async def _step_or_stop(self, stop: asyncio.Event) -> bool:
        """One step; a stop request gives the thought in flight ``THOUGHT_GRACE`` seconds to
        finish, then hands it back: cancelled before its commit, its batch stays pending in
        the journal for the next run, and a slow model cannot hold up a stop."""
        step = asyncio.ensure_future(self.step())
        stopping = asyncio.ensure_future(stop.wait())
        try:
            await asyncio.wait({step, stopping}, return_when=asyncio.FIRST_COMPLETED)
            if not step.done():
                await asyncio.wait({step}, timeout=THOUGHT_GRACE)
            if not step.done():
                step.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await step
                self.thinker.window.drop_uncommitted()
                self.reporter.info("stopping: the thought in progress is handed back (its observations stay pending)")
                return True
            return step.result()
        finally:
            stopping.cancel()
            if not step.done():  # cancelled from outside (a second Ctrl-C)
                step.cancel()

    async def _journal_failing(self, exc: JournalError) -> None:
        """Disk full, database locked for too long, a read-only file: nothing can be decided
        (a decision that cannot be journaled never happened), so wait and try again."""
        self.journal_failures += 1
        if self.journal_trouble is None:
            self.reporter.warn(f"{exc}; nothing is decided until the journal can be written again")
            log.error("journal unwritable: %s", exc)
        self.journal_trouble = str(exc)
        self.activity = "waiting for the journal to be writable"
        with contextlib.suppress(JournalError):
            self.publish_state()
        delay = min(BACKOFF_MAX, 0.5 * 2 ** min(self.journal_failures, 6))
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stop.wait(), delay)

    def _journal_back(self) -> None:
        trouble, self.journal_trouble, self.journal_failures = self.journal_trouble, None, 0
        self.reporter.info("the journal is writable again")
        self.accept(
            Observation(
                source="system",
                event_type="journal-recovered",
                target=str(self.journal.path),
                severity="warning",
                details={"error": trouble},
            )
        )
        self.publish_state()

    async def _wait(self, stop: asyncio.Event) -> None:
        version = self.journal.data_version()
        deadline = time.monotonic() + 1.0
        while not stop.is_set() and time.monotonic() < deadline:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.wake.wait(), POLL_INTERVAL)
            if self.wake.is_set() or self.journal.data_version() != version:
                break
        self.wake.clear()

    async def step(self) -> bool:
        """Decide the next batch, if any. False when there was nothing to do."""
        self.gate.settle(stopping=self._stop.is_set())
        pending = self.journal.pending()
        if not pending:
            if self.health == "ok" and self.journal_trouble is None:
                self.activity = "idle"
            return False
        for obs in pending:
            if obs.id is not None and obs.id > self._seen and obs.id not in self._shown:
                # Written by another process (``conscious tell`` without the API): shown now.
                self.reporter.observation(obs)
        self._seen = max(self._seen, max(o.id or 0 for o in pending))
        self._shown = {i for i in self._shown if i > self._seen}
        batch = take_batch(coalesce(pending), self.config.batch_max)
        rules = shortcut(
            batch, self.config.shortcuts, lambda o: self.journal.decided_alike(o, self.config.duplicate_window)
        )
        if rules is not None:
            self._record_rule(batch, rules)
            return True
        if any(e.observation.source not in ("clock", "self") for e in batch):
            self.last_activity = time.monotonic()
        self.turn += 1
        shown = [e.observation for e in batch if e.observation.key[:2] not in UNSHOWN_EVENTS]
        covered = covered_ids(batch)
        prompt = render_turn(shown, self.facts(waiting=len(pending) - len(covered)))
        self.activity = f"thinking about {len(covered)} observation{'s' if len(covered) != 1 else ''}"
        self.reporter.thinking(self.turn, covered)
        turn = self.turn
        self.thinker.on_token = lambda text: self.reporter.token(turn, text)
        try:
            try:
                thought = await self.thinker.think(prompt)
            except LLMRejected as exc:
                if not _overflow(exc):
                    raise
                # Our count and the server's disagree: compact now and ask once more.
                await self.thinker.compact(extra=self.thinker.window.budget // 4)
                thought = await self.thinker.think(prompt)
        except (LLMUnavailable, ModelNotFound) as exc:
            # Nothing decided: the batch stays pending until the server (or its model) is back.
            await self._outage(exc)
            return True
        except LLMError as exc:
            # The server refused this request: decide the batch safely, keep going.
            thought = Thought(fallback(str(exc)), "", 0.0, error=str(exc))
            self.accept(
                Observation(
                    source="system",
                    event_type="llm-error",
                    target=self.connection.info.model,
                    severity="error",
                    details={"error": str(exc)[:300]},
                )
            )
        self._recovered()
        if not self.connection.info.loaded:
            await self._refresh_model()
        self._commit(batch, thought)
        self.resume_note = None  # said, and journaled with the decision
        return True

    async def _refresh_model(self) -> None:
        """A JIT-loaded model (LM Studio) gets its real context length only once loaded."""
        with contextlib.suppress(LLMError):
            info = await self.connection.backend.info()
            self.connection.info = info
            if info.loaded and info.context_length and self.config.context_length is None:
                self.connection.context_length = info.context_length
                window = self.thinker.window
                window.budget = max(256, info.context_length - self.config.reserve_tokens - self.config.max_tokens)
                self.publish_state()

    def _new_turns(self) -> list[Turn]:
        """The window's durable copy (archived at compaction, restored after a restart) is
        committed with the decision the turns produced."""
        return [t for t in self.thinker.window.turns if t.id is None]

    def facts(self, waiting: int = 0) -> dict[str, Any]:
        uptime = int((utcnow() - self.started).total_seconds())
        facts: dict[str, Any] = {
            "turn": self.turn,
            "time": utcnow().strftime("%Y-%m-%d %H:%M:%SZ"),
            "uptime": f"{uptime // 3600}h{uptime % 3600 // 60:02d}m",
            "session": self.session,
            "context": f"{self.thinker.window.fill:.0%}",
            "waiting": waiting,
            "running tasks": len(self.dispatcher.running),
        }
        if awaiting := len(self.gate.approvals.waiting()):
            facts["awaiting approval"] = awaiting
        if self.resume_note is not None:
            facts["note"] = self.resume_note
        return facts

    def _record_rule(self, batch: Sequence[Entry], rules: Sequence[Rule]) -> None:
        decision = Decision(
            action_type="observe",
            reasoning=f"No judgement needed (rule {', '.join(r.name for r in rules)}: "
            + ", ".join(sorted({f"{e.observation.source}/{e.observation.event_type}" for e in batch}))
            + "); no LLM call.",
            priority="low",
            confidence=1.0,
        )
        # Routine: journaled (every observation is covered by a decision), not shown live;
        # `conscious log --all` lists them.
        ids = covered_ids(batch)
        decision_id = self.journal.record_decision(
            decision, ids, verdict="accepted", verdict_reason="rule", origin="rule"
        )
        self.reporter.decision(
            decision_id,
            decision,
            Verdict("observe", "accepted", "rule"),
            covers=len(ids),
            latency_ms=None,
            origin="rule",
        )

    def _commit(self, batch: Sequence[Entry], thought: Thought) -> None:
        decision = self._escalate(thought.decision, batch)
        verdict = self.gate.judge(decision, stopping=self._stop.is_set())
        task = None
        if verdict.delegates or verdict.awaits:
            assert decision.target_agent is not None and decision.command is not None
            state: TaskState = "awaiting-approval" if verdict.awaits else "pending"
            task = Task(decision_id=0, agent=decision.target_agent, command=decision.command, state=state)
        ids = covered_ids(batch)
        usage = thought.usage
        processed = usage.processed_tokens if usage.processed_tokens is not None else usage.prompt_tokens
        decision_id = self.journal.record_decision(
            decision,
            ids,
            verdict=verdict.label,
            verdict_reason=verdict.reason,
            origin="fallback" if thought.error else "llm",
            raw_reply=thought.raw,
            latency_ms=round(thought.latency_ms, 1),
            prompt_tokens=processed,
            cached_tokens=usage.cached_tokens,
            task=task,
            turns=self._new_turns(),
            approval_expires=self.gate.expiry() if verdict.awaits else None,
        )
        self.reporter.decision(
            decision_id,
            decision,
            verdict,
            covers=len(ids),
            latency_ms=thought.latency_ms,
            origin="fallback" if thought.error else "llm",
            first_token_ms=thought.first_token_ms,
            prompt_tokens=processed,
            cached_tokens=usage.cached_tokens,
            turn=self.turn,
        )
        if thought.error and thought.raw:
            self.accept(
                Observation(
                    source="system",
                    event_type="parse-failure",
                    target=f"decision#{decision_id}",
                    severity="warning",
                    details={"error": thought.error[:300], "reply": thought.raw[:300]},
                )
            )
        if verdict.label not in ("accepted", "low-confidence", "below-threshold", "dry-run", "awaiting-approval"):
            self.accept(
                Observation(
                    source="policy",
                    event_type="refused",
                    target=f"decision#{decision_id}",
                    severity="warning",
                    details={"rule": verdict.label, "reason": verdict.reason},
                )
            )
        if verdict.label == "retry-cap" and decision.target_agent and decision.command:
            # It keeps failing: out of the way until the user looks at it.
            qid = self.journal.quarantine(decision.target_agent, decision.command, verdict.reason)
            self.accept(
                Observation(
                    source="policy",
                    event_type="quarantined",
                    target=f"quarantine#{qid}",
                    severity="warning",
                    details={
                        "agent": decision.target_agent,
                        "command": decision.command[:200],
                        "release": f"conscious release {qid}",
                    },
                )
            )
        if task is not None and verdict.awaits:
            self.gate.requested(task, decision)
        elif task is not None:
            self.dispatcher.start(task)
        if verdict.action == "reflect":
            self._reflect(decision, batch)
        else:
            self.reflect_depth = 0
        self.publish_state(every=PUBLISH_INTERVAL)

    def _escalate(self, decision: Decision, batch: Sequence[Entry]) -> Decision:
        """The seed's priority escalation by severity: never below what the worst observation calls for."""
        floor = "low"
        for e in batch:
            wanted = self.config.priority_escalation.get(e.observation.severity, "low")
            if PRIORITY_RANK.get(wanted, 0) > PRIORITY_RANK[floor]:
                floor = wanted
        if PRIORITY_RANK[decision.priority] < PRIORITY_RANK[floor]:
            return decision.model_copy(update={"priority": floor})
        return decision

    def _reflect(self, decision: Decision, batch: Sequence[Entry]) -> None:
        only_reflection = all(e.observation.key[:2] == ("self", "reflection") for e in batch)
        self.reflect_depth = self.reflect_depth + 1 if only_reflection else 1
        if self.reflect_depth > self.config.reflection_depth:
            self.reflect_depth = 0
            return
        focus = decision.command or decision.reasoning
        # Recall: what the journal holds on the subject — archived turns, earlier
        # observations, memory notes — comes back as data for the next thought.
        subject = " ".join([focus, *(f"{e.observation.event_type} {e.observation.target}" for e in batch)])
        first = min((i for e in batch for i in e.ids), default=None)
        recalled = self.journal.recall(subject, self.config.recall_limit, before=first)
        details: dict[str, Any] = {
            "depth": self.reflect_depth,
            "question": decision.reasoning[:300],
            "recalled": [f"{h['kind']}#{h['id']} ({(h['ts'] or '')[:16]}): {h['text']}" for h in recalled]
            or "nothing related in the journal",
        }
        self.accept(Observation(source="self", event_type="reflection", target=focus[:120], details=details))

    async def _outage(self, exc: LLMError) -> None:
        self.failures += 1
        self.activity = f"waiting for the LLM server ({self.failures} failures)"
        if self.health == "ok":
            self.health = "degraded"
            self.reporter.warn(f"{exc}; observations keep being journaled")
            self.journal.append(
                Observation(
                    source="system",
                    event_type="llm-unavailable",
                    target=self.connection.backend.url,
                    severity="error",
                    details={"error": str(exc)},
                )
            )
        self.publish_state()
        if await self._revive_embedded():
            return  # try again at once
        if self.failures % self.config.rebuild_after_failures == 0:
            await self._rebuild()
        delay = min(BACKOFF_MAX, self.config.outage_backoff * 2 ** min(self.failures, 8)) * (0.5 + random.random() / 2)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stop.wait(), delay)  # a stop request ends the back-off

    async def _revive_embedded(self) -> bool:
        """Our own llama-server died: start it again (same port, so the client still finds it)."""
        server = self.connection.embedded
        if server is None or server.running:
            return False
        self.reporter.warn("the embedded llama-server stopped; restarting it")
        try:
            await server.start(self.config.embedded_start_timeout)
        except ConsciousError as exc:
            log.warning("embedded llama-server restart failed: %s", exc)
            return False
        self.journal.append(
            Observation(
                source="system",
                event_type="llm-server-restarted",
                target=server.url,
                severity="warning",
                details={"failures": self.failures},
            )
        )
        return True

    async def _rebuild(self) -> None:
        """After many failures in a row, rebuild the thinking state from the journal: whatever
        went wrong in memory, the journal holds everything that was accepted."""
        restored = await self.memory.restore()
        self.reflect_depth = 0
        self.journal.append(
            Observation(
                source="self",
                event_type="rebuilt",
                target="context window",
                severity="warning",
                details={"failures": self.failures, "restored_turns": restored},
            )
        )

    def _recovered(self) -> None:
        if self.health != "ok":
            self.health = "ok"
            self.reporter.info("LLM server is back")
            self.accept(
                Observation(
                    source="system",
                    event_type="llm-recovered",
                    target=self.connection.backend.url,
                    details={"failures": self.failures},
                )
            )
        self.failures = 0

    def publish_state(self, running: bool = True, *, every: float = 0.0) -> None:
        """What ``conscious status`` shows, written where other processes can read it
        (``every``: not more often than that, so a burst of decisions is not a burst of writes)."""
        now = time.monotonic()
        if every and now - self._published < every:
            return
        self._published = now
        self.journal.set_identity(daemon=self.state(running))

    def problems(self) -> list[str]:
        """What is wrong now, one line each (empty: healthy)."""
        problems = [
            p
            for p in (
                None if self.health == "ok" else f"LLM server unavailable ({self.failures} failures)",
                None if self.journal_trouble is None else f"journal: {self.journal_trouble}",
            )
            if p
        ]
        return problems + [f"{n}: {c['detail']}" for n, c in self.checks.items() if not c["ok"] and n != "llm"]

    def state(self, running: bool = True) -> dict[str, Any]:
        """The daemon's state as ``status`` shows it (published by ``publish_state``)."""
        return daemon_state(self, running)
