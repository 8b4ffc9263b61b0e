"""When nothing can be decided: the LLM server (or its model) is gone, or the journal cannot
be written. Observations keep being journaled meanwhile; the loop waits with back-off, revives
its own embedded server, rebuilds its thinking state from the journal after many failures,
and says when things are back."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable

from conscious.config import Config
from conscious.errors import ConsciousError, JournalError, LLMError
from conscious.journal import Journal
from conscious.loop.backoff import backoff
from conscious.loop.reporter import Reporter
from conscious.loop.state import LoopState
from conscious.model import Observation
from conscious.think.connection import Connection
from conscious.think.memory import Memory

log = logging.getLogger("conscious")


class Outage:
    def __init__(
        self,
        config: Config,
        state: LoopState,
        journal: Journal,
        connection: Connection,
        memory: Memory,
        reporter: Reporter,
        *,
        accept: Callable[[Observation], object],
        publish: Callable[[], None],
        on_rebuild: Callable[[], None],
        stop: asyncio.Event,
    ) -> None:
        self.config = config
        self.state = state
        self.journal = journal
        self.connection = connection
        self.memory = memory
        self.reporter = reporter
        self.accept = accept
        self.publish = publish
        self.on_rebuild = on_rebuild
        self.stop = stop
        """Set when the daemon stops: it ends any back-off at once."""

    async def _pause(self, delay: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.stop.wait(), delay)

    # -- the LLM server

    async def llm_down(self, exc: LLMError) -> None:
        """Nothing decided: the batch stays pending until the server (or its model) is back."""
        state = self.state
        state.failures += 1
        state.activity = f"waiting for the LLM server ({state.failures} failures)"
        if state.llm == "ok":
            state.llm = "degraded"
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
        self.publish()
        if await self._revive_embedded():
            return  # try again at once
        if state.failures % self.config.rebuild_after_failures == 0:
            await self._rebuild()
        await self._pause(backoff(state.failures, self.config.outage_backoff, doublings=8, jitter=True))

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
                details={"failures": self.state.failures},
            )
        )
        return True

    async def _rebuild(self) -> None:
        """After many failures in a row, rebuild the thinking state from the journal: whatever
        went wrong in memory, the journal holds everything that was accepted."""
        restored = await self.memory.restore()
        self.on_rebuild()
        self.journal.append(
            Observation(
                source="self",
                event_type="rebuilt",
                target="context window",
                severity="warning",
                details={"failures": self.state.failures, "restored_turns": restored},
            )
        )

    def llm_back(self) -> None:
        if self.state.llm != "ok":
            self.state.llm = "ok"
            self.reporter.info("LLM server is back")
            self.accept(
                Observation(
                    source="system",
                    event_type="llm-recovered",
                    target=self.connection.backend.url,
                    details={"failures": self.state.failures},
                )
            )
        self.state.failures = 0

    # -- the journal

    async def journal_failing(self, exc: JournalError) -> None:
        """Disk full, database locked for too long, a read-only file: nothing can be decided
        (a decision that cannot be journaled never happened), so wait and try again."""
        state = self.state
        state.journal_failures += 1
        if state.journal_trouble is None:
            self.reporter.warn(f"{exc}; nothing is decided until the journal can be written again")
            log.error("journal unwritable: %s", exc)
        state.journal_trouble = str(exc)
        state.activity = "waiting for the journal to be writable"
        with contextlib.suppress(JournalError):
            self.publish()
        await self._pause(backoff(state.journal_failures, 0.5))

    def journal_back(self) -> None:
        trouble = self.state.journal_trouble
        self.state.journal_trouble, self.state.journal_failures = None, 0
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
        self.publish()
