"""How a suite scored: each scenario's outcome (what the model chose, what the daemon did) and
the figures over all of them."""

from __future__ import annotations

import itertools
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
class Scored:
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


CONFIDENCE_BINS = (0.0, 0.3, 0.5, 0.7, 0.9, 1.0)
"""Edges of the bins a model's confidence is sorted into to see how often it is right in each."""
PRECISION = 0.9
"""How often the delegations a threshold lets through must be right for it to be supported."""
THRESHOLDS = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9)
MIN_DELEGATIONS = 10
"""Fewer model delegations than this support no threshold: too few to say."""


def _rate(hits: Sequence[bool]) -> float | None:
    return sum(hits) / len(hits) if hits else None


def percentile(values: Sequence[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


@dataclass
class Score:
    """The daemon's figures over every scenario; the model's over those it was asked about."""

    label: str
    everything: list[Scored] = field(default_factory=list)

    @property
    def outcomes(self) -> list[Scored]:
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
        return percentile([o.latency_ms for o in self.outcomes], q)

    @property
    def tokens_per_decision(self) -> float | None:
        counted = [
            (o.prompt_tokens or 0) + (o.completion_tokens or 0)
            for o in self.outcomes
            if o.prompt_tokens is not None or o.completion_tokens is not None
        ]
        return statistics.fmean(counted) if counted else None

    @property
    def judged(self) -> list[Scored]:
        """The model's usable decisions, whose confidence can be held against whether they were right."""
        return [o for o in self.outcomes if o.valid]

    def calibration(self) -> list[tuple[float, float, int, float | None, float | None]]:
        """Per confidence bin (low, high): how many decisions, their mean confidence, how often right."""
        bins = []
        for low, high in itertools.pairwise(CONFIDENCE_BINS):
            inside = [
                o for o in self.judged if low <= o.decision.confidence < high or (high == 1.0 == o.decision.confidence)
            ]
            mean = statistics.fmean(o.decision.confidence for o in inside) if inside else None
            bins.append((low, high, len(inside), mean, _rate([o.right for o in inside])))
        return bins

    @property
    def calibration_error(self) -> float | None:
        """Expected calibration error: how far, on average over decisions, the model's confidence
        is from how often it is right at that confidence (0: its confidence means what it says)."""
        n = len(self.judged)
        if not n:
            return None
        return sum(
            k / n * abs(right - mean)
            for _, _, k, mean, right in self.calibration()
            if k and mean is not None and right is not None
        )

    @property
    def supported_threshold(self) -> float | None:
        """The lowest ``min_confidence_to_delegate`` whose delegations (the model's, at or above it)
        were right at least ``PRECISION`` of the time; None when too few delegations say."""
        delegations = [o for o in self.judged if o.decision.action_type == "delegate"]
        if len(delegations) < MIN_DELEGATIONS:
            return None
        for t in THRESHOLDS:
            through = [o.right for o in delegations if o.decision.confidence >= t]
            if len(through) >= MIN_DELEGATIONS and (_rate(through) or 0.0) >= PRECISION:
                return t
        return None

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
            "calibration_error": self.calibration_error,
            "supported_threshold": self.supported_threshold,
            "calibration": [
                {"confidence": [low, high], "decisions": k, "mean": mean, "right": right}
                for low, high, k, mean, right in self.calibration()
            ],
        }
