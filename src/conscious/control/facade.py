"""One way to the daemon for the CLI and the API: what they may read and the little they may write.

``Daemon`` is the facade. ``JournalDaemon`` answers it from the journal alone (no daemon runs,
or its API does not answer: every command works either way); the daemon's own ``DaemonControl``
(``handle.py``) answers it in its process, for the API; the CLI's ``Reached``
(``cli/client.py``) through the API when a daemon answers there, else through a
``JournalDaemon``. The names they speak in are given here too, so that neither the CLI nor the
API imports a stage of the loop. What only some calls need is imported by them: `conscious tell`
should not pay for the gate's rules or git.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from conscious.control.listing import Listing
from conscious.errors import ConsciousError
from conscious.gate.approvals import Answer, Approvals
from conscious.journal import Journal, Kind
from conscious.model import UNFINISHED, Observation, request
from conscious.paths import Paths
from conscious.think import asks

if TYPE_CHECKING:
    from conscious.gate.answers import Answered

__all__ = [
    "Answer",
    "Answered",
    "Daemon",
    "JournalDaemon",
    "Kind",
    "Listing",
    "answered",
    "as_seen",
    "asks_back",
    "journal_of",
]

WORKTREE_ACTIONS = ("diff", "merge", "merge-sensitive", "discard")


class Daemon(Protocol):
    """The daemon as those who control it see it."""

    def status(self) -> dict[str, Any]:
        """What ``conscious status --json`` prints and ``GET /api/status`` returns."""

    def page(self, listing: Listing) -> dict[str, Any]:
        """Observations, decisions or tasks, newest first (the API's lists)."""

    def tell(self, text: str) -> int:
        """A request from the user into the loop; its observation's id."""

    def waiting(self) -> list[dict[str, Any]]:
        """Delegations waiting for a person's answer."""

    def answer(
        self, approval_id: int, given: Answer, *, reason: str | None, always: bool, pattern: str | None
    ) -> Answered:
        """A person's answer to a waiting delegation (``always``: kept as a rule)."""

    def worktree(self, task_id: int, action: str) -> dict[str, Any]:
        """``diff``, ``merge`` (``merge-sensitive``) or ``discard`` a task's workspace."""


def asks_back(text: str) -> bool:
    """Whether what the user said is answered in words (a question, or a vague ask asked back)."""
    return asks.kind(text) in ("question", "vague")


def answered(
    request: dict[str, Any], pattern: str | None, also: list[dict[str, Any]], kept_in: Path | None
) -> Answered:
    """An answer as the API reported it."""
    from conscious.gate.answers import Answered

    return Answered(request, pattern, also, kept_in)


def as_seen(observations: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """A decision's observations as the model saw them: repeats and bursts coalesced."""
    from conscious.loop.batch import coalesce

    models = [Observation.model_validate(o) for o in observations]
    return [e.observation.model_dump(mode="json") for e in coalesce(models)]


def journal_of(paths: Paths) -> JournalDaemon:
    """The journal of ``paths``, which must exist (one line saying how to make it if not)."""
    if not paths.journal.exists():
        raise ConsciousError(f"no journal at {paths.journal} yet: start `conscious run` first")
    return JournalDaemon(Journal(paths.journal))


class JournalDaemon:
    """The daemon as its journal holds it: read and written there, whether it runs or not."""

    def __init__(self, journal: Journal, *, rules_file: Callable[[], Path] | None = None) -> None:
        self.journal = journal
        self.rules_file = rules_file
        """Where an ``always`` answer is kept (the config file), found when one is given."""

    @classmethod
    def at(cls, paths: Paths) -> JournalDaemon:
        """The journal of ``paths``, made if there is none yet."""
        paths.ensure()
        return cls(Journal(paths.journal))

    def close(self) -> None:
        self.journal.close()

    def __enter__(self) -> JournalDaemon:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def status(self) -> dict[str, Any]:
        from conscious.control.status import status_report

        return status_report(self.journal)

    def page(self, listing: Listing) -> dict[str, Any]:
        from conscious.control.status import page

        return page(self.journal, listing)

    def tell(self, text: str) -> int:
        return self.journal.append(request(text))

    def observed(self, obs: Observation) -> int:
        """An observation made outside the daemon (``conscious watch``), journaled for the loop."""
        return self.journal.append(obs)

    def waiting(self) -> list[dict[str, Any]]:
        return Approvals(self.journal).waiting()

    def answer(
        self, approval_id: int, given: Answer, *, reason: str | None, always: bool, pattern: str | None
    ) -> Answered:
        from conscious.gate.answers import answer

        if always and self.rules_file is None:
            raise ConsciousError("an answer kept as a rule needs the config file to keep it in")
        rules = self.rules_file() if always and self.rules_file is not None else None
        return answer(self.journal, approval_id, given, reason=reason, always=rules, pattern=pattern)

    def worktree(self, task_id: int, action: str) -> dict[str, Any]:
        from conscious.delegate import branches

        if action == "diff":
            return {"task_id": task_id, "diff": branches.diff(self.journal, task_id)}
        if action in ("merge", "merge-sensitive"):
            return {"task_id": task_id, "merged": branches.merge(self.journal, task_id, sensitive=action != "merge")}
        if action == "discard":
            branches.discard(self.journal, task_id)
            return {"task_id": task_id, "discarded": True}
        raise ConsciousError(f"no such worktree action: {action} (one of {', '.join(WORKTREE_ACTIONS)})")

    def worktrees(self) -> list[dict[str, Any]]:
        """Tasks' worktrees not merged or discarded yet."""
        return self.journal.worktrees(("ready",))

    def release(self, quarantine_id: int) -> dict[str, Any]:
        """Let a quarantined item be delegated again; the loop is told, in the user's words."""
        entry = self.journal.release(quarantine_id)
        if entry is None:
            active = ", ".join(str(q["id"]) for q in self.journal.quarantined()) or "none"
            raise ConsciousError(f"no quarantined item #{quarantine_id} (quarantined now: {active})")
        said = f"I released {entry['agent']}: {entry['command'][:200]} from quarantine; it may be tried again."
        self.journal.append(
            Observation(
                source="user", event_type="released", target=f"quarantine#{quarantine_id}", details={"text": said}
            )
        )
        return entry

    def reply(self, obs_id: int, wait: float) -> str | None:
        """The memory agent's answer to the observation (a question, or an ask it asks back), once
        the loop has decided it; None if it did otherwise or not within ``wait`` seconds."""
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            found = self.journal.reply_to(obs_id)
            if found is not None and found["agent"] != "memory":
                return None  # decided otherwise: `conscious log` says how
            if found is not None and found["state"] not in UNFINISHED:
                return str(found["result"] or "")
            time.sleep(0.2)
        return None

    def pending(self) -> int:
        return self.journal.pending_count()

    def observations(self, limit: int | None) -> Iterator[Observation]:
        """Oldest first, the newest ``limit`` (all when None)."""
        return self.journal.stream_observations(limit)

    def newest(self) -> int:
        """The newest observation's id (0: none yet): where a follower starts."""
        return self.journal.last_observation_id()

    def changed(self) -> int:
        """A number that changes whenever anyone writes the journal."""
        return self.journal.data_version()

    def size(self) -> int:
        return self.journal.size()

    def published(self) -> dict[str, Any]:
        """What the daemon (or host) last published of itself."""
        daemon: dict[str, Any] = self.journal.identity().get("daemon", {})
        return daemon
