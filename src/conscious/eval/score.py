"""How a suite scored: each scenario's outcome (what the model chose, what the daemon did) and
the figures over all of them."""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from conscious.eval.suite import Scenario
from conscious.model import PRIORITY_RANK, Decision


@dataclass(frozen=True)
class Done:
    """What the daemon would do: the action after the gate, its agent, its priority, and how."""

    action_type: str
    target_agent: str | None
    priority: str
    verdict: str
    origin: str
    """``rule`` or ``code`` (no model call), ``llm`` or ``fallback``."""


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
    done: Done | None = None

    @property
    def by_model(self) -> bool:
        """The model was asked (not decided by a rule, nor by code: a question answered here)."""
        return self.done is None or self.done.origin not in ("rule", "code")

    @property
    def system_right(self) -> bool:
        """Right in every respect, for what the daemon would do."""
        if self.done is None:
            return False
        expect = self.scenario.expect
        return (
            self.done.action_type in expect.action_types
            and (self.done.action_type != "delegate" or self.done.target_agent in expect.agents)
            and PRIORITY_RANK[self.done.priority] >= PRIORITY_RANK[expect.min_priority]
        )

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
            "system": vars(self.done) if self.done is not None else None,
            "system_right": self.system_right,
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
    """The daemon's figures over every scenario; the model's over those it was asked about."""

    label: str
    everything: list[Outcome] = field(default_factory=list)

    @property
    def outcomes(self) -> list[Outcome]:
        """The scenarios the model decided (the others were decided by rule or by code)."""
        return [o for o in self.everything if o.by_model]

    @property
    def n(self) -> int:
        return len(self.everything)

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

    @property
    def system_rate(self) -> float | None:
        return _rate([o.system_right for o in self.everything])

    @property
    def model_calls(self) -> int:
        return len(self.outcomes)

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
            "system_right": self.system_rate,
            "model_calls": self.model_calls,
            "p50_ms": self.latency(0.5),
            "p90_ms": self.latency(0.9),
            "tokens_per_decision": self.tokens_per_decision,
        }
