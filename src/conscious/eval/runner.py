"""Running a suite through the real thinker, and scoring it.

Each scenario is decided on its own (a fresh window holding only the static system prompt,
so the server's cached prefix is shared by all of them), with the daemon's own rendering,
schema, parsing and fallback. What is scored is the model's decision itself, before the
gate and the priority escalation: they are the daemon's safety net, not the model's merit.
"""

from __future__ import annotations

import statistics
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from conscious.eval.suite import Scenario
from conscious.model import PRIORITY_RANK, Decision
from conscious.think.backends.base import Limits, LLMBackend
from conscious.think.context import ContextWindow
from conscious.think.prompt import render_turn
from conscious.think.thinker import Thinker

FACTS: dict[str, Any] = {"turn": 1, "time": "2026-01-05 10:00:00Z", "uptime": "2h00m", "context": "3%"}
"""Fixed, so that runs compare like with like."""


@dataclass
class Outcome:
    """One scenario's decision and how it scored."""

    scenario: Scenario
    decision: Decision
    error: str | None
    """Why the reply was not a schema-valid decision (the safe fallback was used)."""
    latency_ms: float
    prompt_tokens: int | None
    """Prompt tokens the server evaluated (cached ones aside, where it says)."""
    completion_tokens: int | None

    @property
    def valid(self) -> bool:
        return self.error is None

    @property
    def action_ok(self) -> bool:
        return self.valid and self.decision.action_type in self.scenario.expect.action_types

    @property
    def agent_ok(self) -> bool | None:
        """For a delegation: to an acceptable agent (None when the model did not delegate)."""
        if not self.valid or self.decision.action_type != "delegate":
            return None
        return self.decision.target_agent in self.scenario.expect.agents

    @property
    def priority_ok(self) -> bool:
        return self.valid and PRIORITY_RANK[self.decision.priority] >= PRIORITY_RANK[self.scenario.expect.min_priority]

    @property
    def right(self) -> bool:
        """Right in every respect the scenario asks about: what a user needs from a decision."""
        return self.action_ok and self.agent_ok is not False and self.priority_ok

    def record(self) -> dict[str, Any]:
        return {
            "scenario": self.scenario.name,
            "kind": self.scenario.kind,
            "action_type": self.decision.action_type,
            "target_agent": self.decision.target_agent,
            "priority": self.decision.priority,
            "confidence": self.decision.confidence,
            "valid": self.valid,
            "error": self.error,
            "action_ok": self.action_ok,
            "agent_ok": self.agent_ok,
            "priority_ok": self.priority_ok,
            "right": self.right,
            "latency_ms": round(self.latency_ms, 1),
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": self.completion_tokens,
        }


def _rate(hits: Sequence[bool]) -> float | None:
    return sum(hits) / len(hits) if hits else None


def _percentile(values: Sequence[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


@dataclass
class Score:
    label: str
    outcomes: list[Outcome] = field(default_factory=list)

    @property
    def n(self) -> int:
        return len(self.outcomes)

    @property
    def valid_rate(self) -> float | None:
        return _rate([o.valid for o in self.outcomes])

    @property
    def action_accuracy(self) -> float | None:
        return _rate([o.action_ok for o in self.outcomes])

    @property
    def agent_accuracy(self) -> float | None:
        """Of the delegations the model made, those to an acceptable agent."""
        return _rate([ok for o in self.outcomes if (ok := o.agent_ok) is not None])

    @property
    def priority_accuracy(self) -> float | None:
        return _rate([o.priority_ok for o in self.outcomes])

    @property
    def right_rate(self) -> float | None:
        return _rate([o.right for o in self.outcomes])

    def latency(self, q: float) -> float | None:
        return _percentile([o.latency_ms for o in self.outcomes], q)

    @property
    def tokens_per_decision(self) -> float | None:
        counted = [
            (o.prompt_tokens or 0) + (o.completion_tokens or 0)
            for o in self.outcomes
            if o.prompt_tokens is not None or o.completion_tokens is not None
        ]
        return statistics.fmean(counted) if counted else None

    def summary(self) -> dict[str, Any]:
        return {
            "label": self.label,
            "scenarios": self.n,
            "valid": self.valid_rate,
            "action": self.action_accuracy,
            "agent": self.agent_accuracy,
            "delegations": sum(1 for o in self.outcomes if o.agent_ok is not None),
            "priority": self.priority_accuracy,
            "right": self.right_rate,
            "p50_ms": self.latency(0.5),
            "p90_ms": self.latency(0.9),
            "tokens_per_decision": self.tokens_per_decision,
        }


async def run_suite(
    backend: LLMBackend,
    scenarios: Sequence[Scenario],
    *,
    system_prompt: str,
    budget: int,
    limits: Limits,
    schema: dict[str, Any] | None,
    strip_think: bool = True,
    label: str = "",
    on_outcome: Callable[[Outcome], None] | None = None,
) -> Score:
    """Decide every scenario once; the score keeps each outcome."""
    score = Score(label)
    system_tokens = await backend.tokenize(system_prompt)
    for scenario in scenarios:
        thinker = Thinker(
            backend, ContextWindow(system_prompt, system_tokens, budget), limits, schema, strip_think=strip_think
        )
        thought = await thinker.think(render_turn(scenario.observations, FACTS))
        usage = thought.usage
        outcome = Outcome(
            scenario,
            thought.decision,
            thought.error,
            thought.latency_ms,
            usage.processed_tokens if usage.processed_tokens is not None else usage.prompt_tokens,
            usage.completion_tokens,
        )
        score.outcomes.append(outcome)
        if on_outcome is not None:
            on_outcome(outcome)
    return score
