"""A batch's decision made final: escalated by severity, judged by the gate, journaled with
everything it covers in one commit, then acted on — a delegation started or held for
approval, a refusal or a quarantine told back to the loop, a reflection's recall fed in."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from conscious.config import Config
from conscious.delegate.dispatch import Dispatcher
from conscious.gate.gatekeeper import Gatekeeper
from conscious.gate.policy import Verdict
from conscious.journal import Journal
from conscious.loop import reflection
from conscious.loop.batch import QUIET_EVENTS, BatchEntry, covered_ids
from conscious.loop.decision_log import DecisionLog
from conscious.loop.reporter import Reporter
from conscious.loop.shortcuts import Rule
from conscious.loop.state import LoopState
from conscious.model import PRIORITY_RANK, Decision, DecisionRecord, Observation, Task, TaskState, utcnow
from conscious.think.context import Turn
from conscious.think.thinker import Thought

UNREFUSED = frozenset({"accepted", "low-confidence", "below-threshold", "dry-run", "awaiting-approval"})
"""Verdicts that are not a rule refusing the model (anything else is told back as ``policy/refused``)."""


def escalate(decision: Decision, batch: Sequence[BatchEntry], escalation: Mapping[str, str]) -> Decision:
    """The seed's priority escalation by severity: never below what the worst observation calls for."""
    floor = "low"
    for e in batch:
        wanted = escalation.get(e.observation.severity, "low")
        if PRIORITY_RANK.get(wanted, 0) > PRIORITY_RANK[floor]:
            floor = wanted
    if PRIORITY_RANK[decision.priority] < PRIORITY_RANK[floor]:
        return decision.model_copy(update={"priority": floor})
    return decision


class Committer:
    def __init__(
        self,
        config: Config,
        state: LoopState,
        journal: Journal,
        gate: Gatekeeper,
        dispatcher: Dispatcher,
        reporter: Reporter,
        *,
        accept: Callable[[Observation], object],
        stopping: Callable[[], bool],
        decision_log: DecisionLog | None = None,
    ) -> None:
        self.config = config
        self.state = state
        self.journal = journal
        self.gate = gate
        self.dispatcher = dispatcher
        self.reporter = reporter
        self.accept = accept
        self.stopping = stopping
        self.decision_log = decision_log
        """Where a decision is made final first (several brains); None: the journal alone."""
        self.reflect_depth = 0

    async def _final(self, entry: DecisionRecord) -> int | None:
        """Its place in the cluster's log (None on one machine); ``Fenced`` if another brain leads."""
        return await self.decision_log.append(entry) if self.decision_log is not None else None

    async def by_rule(self, batch: Sequence[BatchEntry], rules: Sequence[Rule], why: Sequence[str] = ()) -> None:
        """``why``: what the journal knew that settled some of it (said on the decision)."""
        said = f" {'; '.join(why)}." if why else ""
        decision = Decision(
            action_type="observe",
            reasoning=f"No judgement needed (rule {', '.join(r.name for r in rules)}: "
            + ", ".join(sorted({f"{e.observation.source}/{e.observation.event_type}" for e in batch}))
            + f"); no LLM call.{said}",
            priority="low",
            confidence=1.0,
        )
        # Routine: journaled (every observation is covered by a decision), not shown live;
        # `conscious log --all` lists them.
        ids = covered_ids(batch)
        record = DecisionRecord.of(decision, ids, verdict_reason="rule", origin="rule")
        seq = await self._final(record)
        self.reporter.decision(self.journal.record_decision(record, cluster_seq=seq).decision_id, record)

    async def thought(self, batch: Sequence[BatchEntry], thought: Thought, new_turns: Sequence[Turn]) -> None:
        decision = escalate(thought.decision, batch, self.config.priority_escalation)
        verdict = self.gate.judge(
            decision, stopping=self.stopping(), requested=thought.requested, evident=thought.evident
        )
        task = None
        if verdict.delegates or verdict.awaits:
            assert decision.target_agent is not None and decision.command is not None
            state: TaskState = "awaiting-approval" if verdict.awaits else "pending"
            task = Task(decision_id=0, agent=decision.target_agent, command=decision.command, state=state)
        ids = covered_ids(batch)
        usage = thought.usage
        record = DecisionRecord(
            decision=decision,
            covers=ids,
            action=verdict.action,
            verdict=verdict.label,
            verdict_reason=verdict.reason,
            origin="fallback" if thought.error else thought.origin,
            task=task,
            approval_expires=self.gate.expiry() if verdict.awaits else None,
            raw_reply=thought.raw,
            latency_ms=round(thought.latency_ms, 1),
            first_token_ms=thought.first_token_ms,
            prompt_tokens=usage.processed_tokens if usage.processed_tokens is not None else usage.prompt_tokens,
            cached_tokens=usage.cached_tokens,
            turn=self.state.turn,
        )
        seq = await self._final(record)
        done = self.journal.record_decision(record, turns=new_turns, cluster_seq=seq)
        for turn, turn_id in zip(new_turns, done.turn_ids, strict=True):
            turn.id = turn_id  # the window's own turns: journaled now
        decision_id, task = done.decision_id, done.task
        self.reporter.decision(decision_id, record)
        self._told(decision_id, decision, verdict, thought)
        if task is not None and verdict.awaits:
            self.gate.requested(task, decision)
        elif task is not None:
            self.dispatcher.start(task)
        if verdict.action == "reflect":
            self._reflect(decision, batch, thought)
        else:
            self.reflect_depth = 0

    def _told(self, decision_id: int, decision: Decision, verdict: Verdict, thought: Thought) -> None:
        """What the loop must hear of this decision: a reply it could not read, a refusal, a quarantine."""
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
        if verdict.label not in UNREFUSED:
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

    def _reflect(self, decision: Decision, batch: Sequence[BatchEntry], thought: Thought) -> None:
        # Heartbeats and the loop's own bookkeeping beside a reflection do not start a new chain.
        only_reflection = all(e.observation.key[:2] in {("self", "reflection"), *QUIET_EVENTS} for e in batch)
        self.reflect_depth = self.reflect_depth + 1 if only_reflection else 1
        if self.reflect_depth > self.config.reflection_depth:
            self.reflect_depth = 0
            return
        first = min((i for e in batch for i in e.ids), default=None)
        # Recall: what the journal holds on the subject — earlier observations, past decisions,
        # memory notes — comes back as data for the next thought.
        hits = self.journal.recall(
            reflection.subject(decision, batch, thought.options), self.config.recall_limit, before=first
        )
        details: dict[str, Any] = {
            "depth": self.reflect_depth,
            "question": decision.reasoning[:300],
            "recalled": reflection.recalled(hits, utcnow()) or "nothing related in the journal",
        }
        if thought.options is not None:
            # What the evidence offered before reflecting is offered again after it.
            details["proposals"] = [
                {
                    "agent": c.target_agent,
                    "command": c.command,
                    "priority": c.priority,
                    "requested": c.requested,
                    "basis": c.basis,
                }
                for c in thought.options.candidates
                if c.action_type == "delegate"
            ]
        asked = reflection.question(decision, thought.options)
        self.accept(Observation(source="self", event_type="reflection", target=asked[:200], details=details))
