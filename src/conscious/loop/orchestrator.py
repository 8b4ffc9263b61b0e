"""The loop: observers → journal → batch → thinker → gate → delegates, and back.

Start-up → main loop → shutdown, in the manner of uvicorn's Server: ``Config`` holds the
settings, the ``Orchestrator`` holds the running parts, and ``LoopState`` is what it shares
with those who watch. One thinker (the LLM is a serial resource with one KV cache to keep
warm); observers and delegations run around it. A step's decision is made final by
``commit.py``; ``outage.py`` handles the times nothing can be decided.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Sequence
from typing import Any

from conscious.config import Config
from conscious.delegate.base import Outcome
from conscious.delegate.dispatch import DispatcherFactory, TaskEvent
from conscious.errors import BrokerError, ContextOverflow, Fenced, JournalError, LLMError, LLMUnavailable, ModelNotFound
from conscious.gate.gatekeeper import Gatekeeper
from conscious.journal import Journal
from conscious.loop.asking import compose_prompt, evidence_test, facts
from conscious.loop.attribution import Attribution
from conscious.loop.batch import BatchEntry, coalesce, covered_ids, take_batch
from conscious.loop.commit import Committer
from conscious.loop.decision_log import DecisionLog
from conscious.loop.observing import keep_observing
from conscious.loop.outage import Outage
from conscious.loop.reporter import Reporter
from conscious.loop.settled import settled_by
from conscious.loop.shortcuts import shortcut
from conscious.loop.state import LoopState, Published, share
from conscious.model import Observation, RunningTask, utcnow
from conscious.observe.base import Observer
from conscious.think.connection import Connection, refresh_model
from conscious.think.context import Turn
from conscious.think.identity import Resumption, begin_session
from conscious.think.memory import Memory
from conscious.think.thinker import Thinker, Thought, fallback

log = logging.getLogger("conscious")

POLL_INTERVAL = 0.1
"""How often the journal is checked for rows written by other processes (``tell``)."""
THOUGHT_GRACE = 3.0
"""Seconds a thought in flight may take to finish once a stop is asked for; then it is handed back."""
PUBLISH_INTERVAL = 1.0
"""Seconds between two writes of the daemon's state after decisions (``conscious status``)."""


class Orchestrator:
    def __init__(
        self,
        config: Config,
        journal: Journal,
        connection: Connection,
        thinker: Thinker,
        dispatcher: DispatcherFactory,
        observers: Sequence[Observer],
        reporter: Reporter,
        decision_log: DecisionLog | None = None,
        stop: asyncio.Event | None = None,
        published: Published | None = None,
    ) -> None:
        self.config = config
        self.decision_log = decision_log
        self.journal = journal
        self.connection = connection
        self.thinker = thinker
        self.dispatcher = dispatcher(self)
        """Made here, to tell this loop of its tasks (``TaskEvents``)."""
        self.observers = list(observers)
        self.reporter = reporter
        self.state = LoopState(
            started=utcnow(),
            watch=[str(p) for p in config.watch],
            stall_after=2 * (config.request_timeout + config.reply_timeout) + 60,  # a thought, then a summary
        )
        self.gate = Gatekeeper(config, journal, self.dispatcher, reporter, accept=self.accept, noticed=self.noticed)
        self.wake = asyncio.Event()
        self.published = published or Published()
        """What the daemon's other parts say of it, published with the loop's state."""
        self.stop = stop or asyncio.Event()
        """The one stop, handed to every part that must see it as they are made."""
        self._published = 0.0
        self.first_start = self.state.started.isoformat()
        self.resume_note: str | None = None
        """Said once, in the first thought's facts: how this run began."""
        self._seen = 0
        """Every pending observation up to this id has been shown live."""
        self._shown: set[int] = set()
        """Ids above ``_seen`` shown live already (journaled in this process); the others were
        written by another process and are shown when the loop finds them pending."""
        self.memory = Memory(journal, thinker, connection.backend, config, first_start=self.first_start)
        thinker.identity = self.memory.identity_line
        thinker.on_compact = self.memory.archive
        self.commit, self.outage = self._committer(decision_log), self._outage()
        self._actionable = evidence_test(config)
        roots = [str(p.resolve()) for p in config.watch]
        self._settled = settled_by(self.journal.newer, self.dispatcher.running, roots, self.journal.decided_between)
        self.attribution = Attribution(self.dispatcher.running)
        self._sync()

    def _committer(self, decision_log: DecisionLog | None) -> Committer:
        """What makes a decision final (through the cluster's decision log, on several machines)."""
        return Committer(
            self.config,
            self.state,
            self.journal,
            self.gate,
            self.dispatcher,
            self.reporter,
            accept=self.accept,
            stopping=self.stop.is_set,
            decision_log=decision_log,
        )

    def _outage(self) -> Outage:
        """What the loop does while nothing can be decided (the server or the journal gone)."""
        return Outage(
            self.config,
            self.state,
            self.journal,
            self.connection,
            self.memory,
            self.reporter,
            accept=self.accept,
            publish=self.publish_state,
            on_rebuild=self._rebuilt,
            stop=self.stop,
        )

    # -- start-up / shutdown

    async def startup(self) -> None:
        resumption, values = begin_session(self.journal.identity(), self.config, self.state.started)
        self.journal.set_identity(**values)
        self.state.session, self.first_start = resumption.session, resumption.first_start
        self.memory.first_start = resumption.first_start
        self.publish_state()  # running, from now: a crash during start-up is a crash
        await self._resume(resumption)
        if interrupted := self.dispatcher.recover():
            self.reporter.warn(
                f"{interrupted} task(s) were unfinished when the last run ended; reported as interrupted"
            )
        for observer in self.observers:
            self.state.observer_tasks.append(
                asyncio.create_task(
                    keep_observing(observer, self.accept, self.state.observer_failures, self.state.observer_errors),
                    name=observer.name,
                )
            )
        self.publish_state()

    async def _resume(self, resumption: Resumption) -> None:
        """Pick up where the last run left off: its memory block and its newest turns."""
        # The stored memory block states the thresholds: rewritten when they changed.
        restored = await self.memory.restore(fresh=resumption.thresholds_changed is not None)
        self.resume_note = resumption.note(restored, bool(self.thinker.summary))
        self.journal.append(resumption.observation(restored, bool(self.thinker.summary)))
        if resumption.start != "first":
            self.reporter.info(self.resume_note)

    async def shutdown(self, grace: float) -> None:
        for task in self.state.observer_tasks:
            task.cancel()
        for task in self.state.observer_tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        await self.gate.close()
        await self.dispatcher.shutdown(grace)
        self.publish_state(running=False)

    def accept(self, obs: Observation) -> int:
        """Journal first, then consider; a change by one of our own tasks is the task's, not news."""
        if self.attribution.attribute(obs):
            obs_id = self.journal.append(obs)
            self.reporter.observation(obs)
            return obs_id
        obs_id = self.journal.append(obs)
        self.noticed(obs)
        return obs_id

    def noticed(self, obs: Observation) -> None:
        """Consider an observation that is already journaled."""
        if obs.source != "clock":
            self.state.last_activity = time.monotonic()
        if obs.id is not None:
            self._shown.add(obs.id)
        self.reporter.observation(obs)
        self.wake.set()

    def task_event(self, what: TaskEvent, run: RunningTask, outcome: Outcome | None) -> None:
        """A delegation started, stalled or ended (the dispatcher's ``TaskEvents``)."""
        if outcome is not None and run.task.id is not None:
            self.attribution.ended(run.task.id, run.folder)
        self._sync()
        self.reporter.task(what, run.task, outcome)

    def changes(self, task_id: int) -> dict[str, object] | None:
        return self.attribution.summary(task_id)

    def merged(self, task_id: int) -> None:
        """A task's branch merged into the watched tree: the changes it brings are the task's."""
        self.attribution.ended(task_id, self.config.watch[0])

    # -- main loop

    async def run(self, stop: asyncio.Event | None = None) -> None:
        """Until ``self.stop`` is set, or ``stop``: a caller's own event, which sets it."""
        if stop is not None and stop is not self.stop:
            self.stop.clear()  # a new run (an orchestrator may be run again, as replays do)
            follower = asyncio.create_task(_follow(stop, self.stop))
            try:
                return await self.run()
            finally:
                follower.cancel()
        stop = self.stop
        await self.startup()
        try:
            while not stop.is_set():
                self.state.beat = time.monotonic()
                try:
                    busy = await self._step_or_stop(stop)
                except JournalError as exc:
                    # The exchange whose decision could not be committed never happened.
                    self.thinker.window.drop_uncommitted()
                    await self.outage.journal_failing(exc)
                    continue
                self._sync()
                if self.state.journal_trouble is not None:
                    self.outage.journal_back()
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
        """Decide the next batch, if any. False when there was nothing to do (or another brain leads)."""
        if self.decision_log is not None and not self.decision_log.leads():
            self.state.activity = "standing by (another brain leads)"
            return False
        try:
            return await self._decide_next()
        except BrokerError as exc:  # not in the cluster's log: never happened; its batch stays pending
            self.thinker.window.drop_uncommitted()
            self.reporter.warn(f"decision dropped: {exc}")
            if not isinstance(exc, Fenced):
                await asyncio.sleep(1.0)
            return True

    async def _decide_next(self) -> bool:
        self.gate.settle(stopping=self.stop.is_set())
        pending = self.journal.pending()
        if not pending:
            if self.state.llm == "ok" and self.state.journal_trouble is None:
                self.state.activity = "idle"
            return False
        self._show_unseen(pending)
        batch = take_batch(coalesce(pending), self.config.batch_max, self._actionable)
        alike = self.journal.decided_alike
        window = self.config.duplicate_window
        rules = shortcut(batch, self.config.shortcuts, lambda o: alike(o, window), self._actionable, self._settled)
        if rules is not None:
            await self.commit.by_rule(batch, rules, [w for e in batch if (w := self._settled(e.observation))])
            return True
        thought = await self._think(batch, waiting=len(pending))
        if thought is None:
            return True  # nothing decided: the batch stays pending until the server is back
        self.outage.llm_back()
        if not self.connection.info.loaded and await refresh_model(self.connection, self.thinker.window, self.config):
            self.publish_state()  # a JIT-loaded model (LM Studio) tells its real context once loaded
        if thought.origin == "llm":  # what the model's confidence is measured by, not code's
            self.state.confidence_from = thought.decision.metadata.get("confidence_from", self.state.confidence_from)
        await self.commit.thought(batch, thought, self._new_turns())
        self.resume_note = None  # said, and journaled with the decision
        self.publish_state(every=PUBLISH_INTERVAL)
        return True

    def _show_unseen(self, pending: Sequence[Observation]) -> None:
        for obs in pending:
            if obs.id is not None and obs.id > self._seen and obs.id not in self._shown:
                # Written by another process (``conscious tell`` without the API): shown now.
                self.reporter.observation(obs)
        self._seen = max(self._seen, max(o.id or 0 for o in pending))
        self._shown = {i for i in self._shown if i > self._seen}

    async def _think(self, batch: Sequence[BatchEntry], *, waiting: int) -> Thought | None:
        """The model's thought on the batch; None when the server (or its model) is gone."""
        if any(e.observation.source not in ("clock", "self") for e in batch):
            self.state.last_activity = time.monotonic()
        self.state.turn += 1
        covered = covered_ids(batch)
        prompt, options = compose_prompt(batch, self.facts(waiting=waiting - len(covered)), self.config)
        self.state.activity = f"thinking about {len(covered)} observation{'s' if len(covered) != 1 else ''}"
        turn = self.state.turn
        self.reporter.thinking(turn, covered)

        def streamed(text: str) -> None:
            self.state.beat = time.monotonic()
            self.reporter.streamed(turn, text)

        self.thinker.on_token = streamed
        try:
            try:
                return await self.thinker.think(prompt, options)
            except ContextOverflow:
                # Our count and the server's disagree: compact now and ask once more.
                await self.thinker.compact(extra=self.thinker.window.budget // 4)
                return await self.thinker.think(prompt, options)
        except (LLMUnavailable, ModelNotFound) as exc:
            await self.outage.llm_down(exc)
            return None
        except LLMError as exc:
            # The server refused this request: decide the batch safely, keep going.
            self.accept(
                Observation(
                    source="system",
                    event_type="llm-error",
                    target=self.connection.info.model,
                    severity="error",
                    details={"error": str(exc)[:300]},
                )
            )
            return Thought(fallback(str(exc)), "", 0.0, error=str(exc))

    def _new_turns(self) -> list[Turn]:
        """Committed with the decision they produced: the window's durable copy."""
        return [t for t in self.thinker.window.turns if t.id is None]

    def _rebuilt(self) -> None:
        self.commit.reflect_depth = 0

    def facts(self, waiting: int = 0) -> dict[str, Any]:
        return facts(
            self.state,
            context=self.thinker.window.fill,
            waiting=waiting,
            running=len(self.dispatcher.running()),
            awaiting=len(self.gate.approvals.waiting()),
            note=self.resume_note,
        )

    # -- what it shares

    def _sync(self) -> None:
        share(self.state, self.thinker.window, self.connection, self.dispatcher, self.gate)

    def publish_state(self, running: bool = True, *, every: float = 0.0) -> None:
        """What ``conscious status`` shows, written where other processes can read it
        (``every``: not more often than that, so a burst of decisions is not a burst of writes)."""
        self._sync()
        now = time.monotonic()
        if every and now - self._published < every:
            return
        self._published = now
        self.journal.set_identity(daemon=self.published.status(self.state, running))


async def _follow(theirs: asyncio.Event, ours: asyncio.Event) -> None:
    await theirs.wait()
    ours.set()
