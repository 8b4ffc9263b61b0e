"""The daemon's side of the gate: the pure ``Policy`` with the user's rules (re-read when they
change the config file while the daemon runs), the history it judges against, and the
delegations that wait for the user.

The orchestrator asks ``judge`` for each decision and hands a request for approval to
``requested`` once it is committed; ``settle`` (every turn of the loop) expires late requests
and starts approved ones, after checking every rule once more: a budget may have run out
while the request waited.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Protocol

from conscious.config import Config
from conscious.errors import ConfigError
from conscious.gate.approvals import Approvals, ApprovalsJournal
from conscious.gate.notify import announce
from conscious.gate.policy import DAY, DEFAULT_DENY, AgentLimits, Approval, History, Policy, Verdict
from conscious.model import Decision, Observation, PastTask, RunningTask, Task, utcnow

log = logging.getLogger("conscious")


class Agents(Protocol):
    """What the gate needs of the running delegations (the dispatcher, in the daemon)."""

    def running(self) -> list[RunningTask]:
        """The tasks not finished."""

    def start(self, task: Task) -> None: ...


class Notices(Protocol):
    """What the gate tells the user (the loop's ``Reporter``)."""

    def info(self, text: str) -> None: ...

    def warn(self, text: str) -> None: ...

    def approval(self, what: str, request: dict[str, Any]) -> None: ...


def policy_from(config: Config) -> Policy:
    approval = config.approval
    return Policy(
        delegate_threshold=config.min_confidence_to_delegate,
        reflect_threshold=config.reflection_confidence_threshold,
        allowed_agents=config.agent_names(),
        dedup_window_s=config.dedup_window,
        retry_cap=config.retry_cap,
        delegations_per_hour=config.delegations_per_hour,
        max_spend_usd_per_day=config.max_spend_usd_per_day,
        agent_limits={
            name: AgentLimits(b.delegations_per_hour, b.max_concurrent, b.max_spend_usd_per_day)
            for name, b in config.budgets.items()
        },
        approval=Approval(
            mode=approval.mode,
            agents=dict(approval.agents),
            priorities={str(k): v for k, v in approval.priorities.items()},
            always_allow=tuple((s.agent, s.pattern) for s in approval.always_allow),
            destructive=approval.destructive,
        ),
        deny_patterns=(*DEFAULT_DENY, *config.deny_commands),
        allow_patterns=tuple(config.allow_commands),
        roots=tuple(str(p.resolve()) for p in config.watch),
        dry_run=config.dry_run,
    )


def _stamp(path: Path) -> tuple[int, int] | None:
    try:
        st = path.stat()
    except OSError:
        return None
    return st.st_mtime_ns, st.st_size


class GateJournal(ApprovalsJournal, Protocol):
    """The journal as the gate uses it: the approvals, and the history a verdict weighs."""

    def decision(self, decision_id: int) -> Decision | None: ...

    def recent_tasks(self, within_s: float) -> list[PastTask]: ...

    def quarantined(self) -> list[dict[str, Any]]: ...

    def releases(self, within_s: float) -> dict[tuple[str, str], float]: ...


class Gatekeeper:
    def __init__(
        self,
        config: Config,
        journal: GateJournal,
        dispatcher: Agents,
        reporter: Notices,
        *,
        accept: Callable[[Observation], object],
        noticed: Callable[[Observation], None],
    ) -> None:
        self.config = config
        self.policy = policy_from(config)
        self.journal = journal
        self.approvals = Approvals(journal)
        self.dispatcher = dispatcher
        self.reporter = reporter
        self.accept = accept
        """Journal a new observation and consider it."""
        self.noticed = noticed
        """Consider an observation already journaled."""
        self._file: Path | None = getattr(config, "_file", None)
        self._stamp = _stamp(self._file) if self._file is not None else None
        self._notices: set[asyncio.Task[None]] = set()

    # -- judging

    def history(self, *, leaving_out: int | None = None) -> History:
        """What the gate needs from the journal (read only for a delegation: that is when it matters)."""
        return History(
            self._active(),
            tuple(t for t in self.journal.recent_tasks(DAY) if t.task_id != leaving_out),
            frozenset((q["agent"], q["command"]) for q in self.journal.quarantined()),
            self.journal.releases(DAY),
            frozenset((w["agent"], w["command"]) for w in self.approvals.waiting() if w["task_id"] != leaving_out),
        )

    def _active(self) -> frozenset[tuple[str, str]]:
        return frozenset((run.task.agent, run.task.command) for run in self.dispatcher.running())

    def judge(
        self, decision: Decision, *, stopping: bool = False, requested: bool = False, evident: bool = False
    ) -> Verdict:
        history = self.history() if decision.action_type == "delegate" else History(self._active())
        verdict = self.policy.judge(decision, history, requested=requested, evident=evident)
        if (verdict.delegates or verdict.awaits) and stopping:
            return Verdict("observe", "stopping", "the orchestrator is shutting down: nothing new is started")
        return verdict

    def expiry(self) -> datetime:
        return utcnow() + timedelta(seconds=self.config.approval.expire_after)

    def limits(self) -> dict[str, Any]:
        """The budgets in force, for ``conscious status``."""
        return {
            "delegations_per_hour": self.policy.delegations_per_hour,
            "max_spend_usd_per_day": self.policy.max_spend_usd_per_day,
            "budgets": {a: vars(limits) for a, limits in self.policy.agent_limits.items()},
        }

    # -- waiting for the user

    def requested(self, task: Task, decision: Decision) -> None:
        """A delegation now waits (committed): tell the user, on every channel they set up."""
        assert task.approval_id is not None
        n = task.approval_id
        request: dict[str, Any] = {
            "id": n,
            "task_id": task.id,
            "decision_id": task.decision_id,
            "requested": utcnow().isoformat(),
            "agent": task.agent,
            "command": task.command,
            "priority": decision.priority,
            "confidence": decision.confidence,
            "reasoning": decision.reasoning[:500],
            "expires": self.expiry().isoformat(),
        }
        self.reporter.approval("requested", request)
        notice = asyncio.create_task(self._announce(request), name=f"notify-{n}")
        self._notices.add(notice)
        notice.add_done_callback(self._notices.discard)

    async def _announce(self, request: dict[str, Any]) -> None:
        failures = await announce(request, self.config.approval)
        for failure in failures:
            log.warning("notification failed: %s", failure)
        if failures:
            with contextlib.suppress(Exception):  # best effort: the request itself is journaled
                self.accept(
                    Observation(
                        source="system",
                        event_type="notify-failed",
                        target=f"approval#{request['id']}",
                        severity="warning",
                        details={"errors": [f[:200] for f in failures]},
                    )
                )

    def settle(self, *, stopping: bool = False) -> bool:
        """Take up the user's answers and the clock's: True if anything changed."""
        self._reread_rules()
        changed = False
        for obs in self.approvals.expire():
            self.reporter.warn(f"{obs.target} expired unanswered: {obs.details['command'][:100]}")
            self.reporter.approval("expired", {"id": int(obs.target.partition("#")[2] or 0), **obs.details})
            self.noticed(obs)
            changed = True
        if stopping:
            return changed  # approved ones wait in the journal for the next run
        for task in self.approvals.approved():
            changed = True
            decision = self._decision_of(task)
            verdict = self.policy.judge(decision, self.history(leaving_out=task.id), approved=True)
            if not verdict.delegates:
                self.noticed(self.approvals.refuse(task, verdict.label, verdict.reason))
                self.reporter.warn(f"approval #{task.approval_id} was approved but is refused now: {verdict.reason}")
                continue
            self.reporter.approval("delegating", {"id": task.approval_id, "agent": task.agent, "command": task.command})
            if self.approvals.claim(task):
                self.reporter.info(f"approval #{task.approval_id} approved: delegating to {task.agent}")
                self.dispatcher.start(task)
        return changed

    def _decision_of(self, task: Task) -> Decision:
        decision = self.journal.decision(task.decision_id)
        assert decision is not None, f"task #{task.id} has no decision"
        return decision

    def _reread_rules(self) -> None:
        """Rules saved with ``--always`` (or edited by hand) apply without a restart; the
        other settings wait for one."""
        if self._file is None or (stamp := _stamp(self._file)) == self._stamp:
            return
        self._stamp = stamp
        try:
            fresh = self.config.reread()
        except ConfigError as exc:
            self.reporter.warn(f"{exc}; the rules in force are kept")
            self.accept(
                Observation(
                    source="system",
                    event_type="config-invalid",
                    target=str(self._file),
                    severity="warning",
                    details={"error": str(exc)[:300]},
                )
            )
            return
        self.config = self.config.model_copy(
            update={
                "approval": fresh.approval,
                "deny_commands": fresh.deny_commands,
                "allow_commands": fresh.allow_commands,
                "budgets": fresh.budgets,
            }
        )
        self.policy = policy_from(self.config)
        self.reporter.info(f"rules re-read from {self._file}")

    async def close(self) -> None:
        for notice in list(self._notices):
            notice.cancel()
        for notice in list(self._notices):
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await notice
