import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from conscious.errors import DecisionParseError
from conscious.think.decision import (
    DECISION_SCHEMA,
    ObjectCutter,
    decision_schema,
    find_object,
    parse_decision,
    strip_think,
)

GOOD = {
    "action_type": "delegate",
    "reasoning": "Tests failed after an edit to core.py",
    "target_agent": "claude-code",
    "command": "Fix the failing test in tests/test_core.py",
    "priority": "high",
    "confidence": 0.85,
    "metadata": {"alternatives_considered": ["observe"], "expected_outcome": "tests pass"},
}


def test_parses_a_clean_reply() -> None:
    d = parse_decision(json.dumps(GOOD))
    assert d.action_type == "delegate"
    assert d.target_agent == "claude-code"
    assert d.confidence == 0.85
    assert d.metadata["expected_outcome"] == "tests pass"


def test_think_blocks_and_noise_are_ignored() -> None:
    text = (
        '<think>maybe {"action_type": "reflect"} ...</think>Sure! Here it is:\n```json\n' + json.dumps(GOOD) + "\n```"
    )
    assert parse_decision(text).action_type == "delegate"


def test_confidence_inside_metadata_as_in_the_seed() -> None:
    seed_style = {**GOOD, "metadata": {"confidence": 0.4}}
    del seed_style["confidence"]
    assert parse_decision(json.dumps(seed_style)).confidence == 0.4


def test_enum_case_and_null_spellings_are_normalised() -> None:
    d = parse_decision(json.dumps({**GOOD, "action_type": "Observe", "target_agent": "null", "priority": "LOW"}))
    assert (d.action_type, d.target_agent, d.priority) == ("observe", None, "low")


@pytest.mark.parametrize(
    "text",
    [
        "",
        "I think we should wait.",
        '{"action_type": "delegate", "reasoning": "cut off',
        '{"action_type": "explode", "reasoning": "x"}',
        '{"reasoning": "no action"}',
        '{"action_type": "observe", "reasoning": "x", "confidence": "sure"}',
        "[1, 2, 3]",
        "<think>unfinished {",
    ],
)
def test_unusable_replies_raise_with_the_raw_text(text: str) -> None:
    with pytest.raises(DecisionParseError) as info:
        parse_decision(text)
    assert info.value.raw == text


def test_braces_inside_strings_do_not_close_the_object() -> None:
    reply = {**GOOD, "reasoning": "a } and a { inside", "command": 'echo "}"'}
    assert find_object("noise " + json.dumps(reply) + " trailing {") == json.dumps(reply)


def test_unfinished_think_hides_everything_after_it() -> None:
    assert strip_think("a <think> b {") == "a "


def test_cutter_reports_the_moment_the_object_closes() -> None:
    text = json.dumps(GOOD) + " and then the model kept talking"
    cutter = ObjectCutter()
    closed_at = None
    for i in range(0, len(text), 7):
        if cutter.feed(text[i : i + 7]):
            closed_at = i
            break
    assert closed_at is not None
    assert cutter.object == json.dumps(GOOD)
    assert closed_at < len(json.dumps(GOOD))


def test_schema_requires_every_seed_field() -> None:
    for shape in DECISION_SCHEMA["anyOf"]:
        assert set(shape["required"]) == {
            "action_type",
            "reasoning",
            "target_agent",
            "command",
            "priority",
            "confidence",
            "metadata",
        }
        assert next(iter(shape["properties"])) == "reasoning"  # why, before what


def test_a_delegation_must_name_an_agent_and_say_what_to_do() -> None:
    delegate, other = decision_schema(["claude-code", "shout"])["anyOf"]
    assert delegate["properties"]["action_type"]["enum"] == ["delegate"]
    assert delegate["properties"]["target_agent"] == {"type": "string", "enum": ["claude-code", "shout"]}
    assert delegate["properties"]["command"]["type"] == "string" and delegate["properties"]["command"]["minLength"] > 0
    assert other["properties"]["action_type"]["enum"] == ["observe", "reflect"]
    assert {"type": "null"} in other["properties"]["target_agent"]["anyOf"]


@given(st.text(max_size=300))
def test_any_text_parses_or_raises_a_parse_error(text: str) -> None:
    try:
        parse_decision(text)
    except DecisionParseError:
        pass


def test_out_of_range_confidence_is_clamped() -> None:
    assert parse_decision(json.dumps({**GOOD, "confidence": 7})).confidence == 1.0
    assert parse_decision(json.dumps({**GOOD, "confidence": -2})).confidence == 0.0
