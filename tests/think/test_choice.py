"""The choice's schema bounds the reply: a letter, one short clause, one of eleven confidences."""

from __future__ import annotations

import json

from conscious.think.backends.base import Usage
from conscious.think.candidates import Candidate
from conscious.think.choice import CONFIDENCE_STEPS, REASONING_LIMIT, Options, choice_schema


def test_every_field_of_a_choice_is_bounded() -> None:
    props = choice_schema(["A", "B"])["properties"]
    assert props["choice"]["enum"] == ["A", "B"]
    assert props["reasoning"]["maxLength"] == REASONING_LIMIT
    # Not a free number, whose digits the model may spin out ("0.152783496e-12").
    assert "type" not in props["confidence"] and props["confidence"]["enum"] == CONFIDENCE_STEPS
    assert all(len(json.dumps(step)) <= 3 for step in CONFIDENCE_STEPS)
    assert 0.7 in CONFIDENCE_STEPS and min(CONFIDENCE_STEPS) == 0.0 and max(CONFIDENCE_STEPS) == 1.0
    longest = json.dumps({"choice": "B", "reasoning": "x" * REASONING_LIMIT, "confidence": 0.7})
    assert len(longest) < 2 * REASONING_LIMIT


def test_a_reply_from_a_server_that_ignores_the_schema_is_still_read_within_bounds() -> None:
    options = Options([Candidate("A", "observe", None, None, "low", "nothing to do")])
    reply = json.dumps({"choice": "a", "reasoning": "why " * 60, "confidence": 0.152783496e12})
    chosen, decision = options.read(reply, Usage())
    assert chosen.id == "A"
    assert len(decision.reasoning) <= REASONING_LIMIT
    assert decision.metadata["confidence_from"] == "self-report" and decision.confidence == 1.0


def test_the_one_delegation_severe_evidence_offers_is_evident_and_nothing_else_is() -> None:
    from conscious.model import Observation
    from conscious.think.candidates import candidates

    agents = ("claude-code", "claude-flow", "memory")
    failing = Observation(
        source="tests",
        event_type="failed",
        target="/app/junit.xml",
        severity="error",
        details={"tests": 9, "failures": 9, "errors": 0},
    )
    options = Options(candidates([failing], agents=agents, roots=["/app"]))
    fix, observe, reflect = options.candidates
    assert options.evident(fix) and not options.evident(observe) and not options.evident(reflect)
    # The user's words are authorised by the user, not by this rule.
    asked = Observation(source="user", event_type="request", target="inbox", details={"text": "fix login"})
    mine = Options(candidates([asked], agents=agents, roots=["/app"]))
    assert not mine.evident(mine.candidates[0])
    # Two delegations to choose between: the model's confidence is the judge again.
    many = Options(candidates([failing, asked], agents=agents, roots=["/app"]))
    assert [c.action_type for c in many.candidates].count("delegate") >= 2
    assert not any(many.evident(c) for c in many.candidates)
