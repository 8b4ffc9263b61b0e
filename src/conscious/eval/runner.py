"""Running a suite through the real thinker, and scoring it.

What is scored is what the daemon would do (``system``): the shortcut rules, the candidates
composed from the evidence, the model's choice, the priority escalation and the gate's
verdict — the steps of the loop itself (``loop/``), so there is no second pipeline to drift.
The model's own decision, before escalation and the gate, is scored beside it.

Each scenario is decided on its own (a fresh window holding only the static system prompt,
so the server's cached prefix is shared by all of them), or, ``sequential``, one after another
in one running context, as the daemon meets them: the mode that shows whether the model copies
its previous answers.
"""

from __future__ import annotations

import statistics
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from conscious.config import Config
from conscious.eval.suite import Scenario
from conscious.gate.gatekeeper import policy_from
from conscious.gate.policy import History
from conscious.loop.batch import coalesce, take_batch
from conscious.loop.commit import escalate
from conscious.loop.shortcuts import shortcut
from conscious.loop.turn import compose_turn, evidence_test
from conscious.model import PRIORITY_RANK, Decision
from conscious.think.backends.base import Limits, LLMBackend
from conscious.think.context import ContextWindow
from conscious.think.thinker import Thinker

FACTS: dict[str, Any] = {"turn": 1, "time": "2026-01-05 10:00:00Z", "uptime": "2h00m", "context": "3%"}
"""Fixed, so that runs compare like with like."""


@dataclass(frozen=True)
class Done:
    """What the daemon would do: the action after the gate, its agent, its priority, and how."""

    action_type: str
    target_agent: str | None
    priority: str
    verdict: str
    origin: str
    """``rule`` (no model call), ``llm`` or ``fallback``."""


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
        """The model was asked (not decided by rule)."""
        return self.done is None or self.done.origin != "rule"

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
        """The scenarios the model decided (the others were decided by rule)."""
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


def _watching(config: Config, scenario: Scenario) -> Config:
    """The config as the daemon watching the scenario's project would have it: its folder is
    the scenario's ``root``, else where the observed files are (``details.relative`` says where
    a path starts)."""
    if scenario.root is not None:
        return config.model_copy(update={"watch": [Path(scenario.root)]})
    for obs in scenario.observations:
        relative = obs.details.get("relative")
        if isinstance(relative, str) and relative and obs.target.endswith("/" + relative):
            return config.model_copy(update={"watch": [Path(obs.target[: -len(relative) - 1])]})
    return config


async def run_suite(
    backend: LLMBackend,
    scenarios: Sequence[Scenario],
    *,
    config: Config,
    system_prompt: str,
    budget: int,
    limits: Limits,
    schema: dict[str, Any] | None,
    strip_think: bool = True,
    label: str = "",
    sequential: bool = False,
    on_outcome: Callable[[Outcome], None] | None = None,
) -> Score:
    """Decide every scenario once, as the daemon would; the score keeps each outcome."""
    score = Score(label)
    system_tokens = await backend.tokenize(system_prompt)
    thinker = None
    for turn, scenario in enumerate(scenarios, start=1):
        if thinker is None or not sequential:
            window = ContextWindow(
                system_prompt, system_tokens, budget, high_water=config.high_water, low_water=config.low_water
            )
            thinker = Thinker(backend, window, limits, schema, strip_think=strip_think)
        observations = [o.model_copy(update={"id": i}) for i, o in enumerate(scenario.observations, start=1)]
        here = _watching(config, scenario)
        # The daemon's first decision on these observations: its batch (one thing to act on at most).
        actionable = evidence_test(here)
        batch = take_batch(coalesce(observations), here.batch_max, actionable)
        rules = shortcut(batch, here.shortcuts, lambda _: False, actionable)
        if rules is not None:
            decision = Decision(action_type="observe", reasoning="rule", priority="low", confidence=1.0)
            done = Done("observe", None, "low", "accepted", "rule")
            outcome = Outcome(scenario, decision, None, 0.0, None, None, done)
        else:
            facts = {**FACTS, "turn": turn if sequential else 1}
            prompt, options = compose_turn(batch, facts, here)
            thought = await thinker.think(prompt, options)
            final = escalate(thought.decision, batch, here.priority_escalation)
            verdict = policy_from(here).judge(final, History(), requested=thought.requested, evident=thought.evident)
            done = Done(
                verdict.action,
                final.target_agent if verdict.action == "delegate" else None,
                final.priority,
                verdict.label,
                "fallback" if thought.error else thought.origin,
            )
            usage = thought.usage
            processed = usage.processed_tokens if usage.processed_tokens is not None else usage.prompt_tokens
            outcome = Outcome(
                scenario, thought.decision, thought.error, thought.latency_ms, processed, usage.completion_tokens, done
            )
        score.everything.append(outcome)
        if on_outcome is not None:
            on_outcome(outcome)
    return score
