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
