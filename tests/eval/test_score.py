"""How calibrated a model is, from what its confidence said and whether it was right."""

from __future__ import annotations

import pytest

from conscious.eval.score import Done, Score, Scored
from conscious.eval.suite import Expect, Scenario
from conscious.model import Decision

FIX = Scenario(
    name="fails",
    observations=[{"source": "tests", "event_type": "failed", "target": "reports/junit.xml"}],
    expect=Expect(action_types=["delegate"], agents=["claude-code"]),
)


def delegated(confidence: float, *, right: bool) -> Scored:
    agent = "claude-code" if right else "claude-flow"
    decision = Decision(
        action_type="delegate",
        reasoning="r",
        target_agent=agent,
        command="fix it",
        priority="high",
        confidence=confidence,
    )
    return Scored(FIX, decision, None, 10.0, 100, 10, Done("delegate", agent, "high", "dry-run", "llm"))


def test_a_model_whose_confidence_means_what_it_says_has_no_calibration_error() -> None:
    score = Score("honest", [delegated(1.0, right=True) for _ in range(10)] + [delegated(0.0, right=False)])
    assert score.calibration_error == pytest.approx(0.0)
    assert score.supported_threshold == 0.1  # everything at or above 0.1 was right


def test_an_underconfident_model_is_told_apart_and_its_threshold_is_what_its_record_supports() -> None:
    # Right every time, at confidences from 0.2 to 0.65: the 0.7 default would hold every one back.
    shy = [delegated(0.2 + 0.05 * i, right=True) for i in range(10)]
    score = Score("shy", shy)
    bins = {(low, high): (k, right) for low, high, k, _, right in score.calibration()}
    assert bins[(0.0, 0.3)] == (2, 1.0) and bins[(0.5, 0.7)] == (4, 1.0) and bins[(0.9, 1.0)] == (0, None)
    assert score.calibration_error == pytest.approx(1 - sum(0.2 + 0.05 * i for i in range(10)) / 10)
    assert score.supported_threshold == 0.1


def test_a_threshold_is_supported_only_where_its_delegations_were_right_often_enough() -> None:
    # Wrong at 0.3, right at 0.8: only a threshold above 0.3 lets through delegations 90 % right.
    record = [delegated(0.3, right=False) for _ in range(3)] + [delegated(0.8, right=True) for _ in range(12)]
    assert Score("x", record).supported_threshold == 0.4
    assert Score("few", record[:5]).supported_threshold is None  # too few delegations to say
    assert Score("none").calibration_error is None
