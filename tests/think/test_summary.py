import json

import pytest

from conscious.errors import DecisionParseError
from conscious.think import summary
from conscious.think.context import Turn


def decision(**kw: object) -> str:
    base = {"action_type": "observe", "reasoning": "watching", "target_agent": None, "command": None}
    return json.dumps({**base, **kw})


def test_the_request_is_the_cached_prefix_plus_one_instruction() -> None:
    system = {"role": "system", "content": "SYSTEM\n\n# MEMORY old"}
    evicted = [Turn("user", "u1", 5), Turn("assistant", decision(), 9)]
    msgs = summary.summary_messages(system, evicted, "old", 100)  # type: ignore[arg-type]
    assert msgs[0] == system
    assert [(m["role"], m["content"]) for m in msgs[1:3]] == [("user", "u1"), ("assistant", decision())]
    assert msgs[-1]["role"] == "user" and "previous summary" in msgs[-1]["content"]


def test_schema_bounds_the_summary() -> None:
    schema = summary.summary_schema(100)
    assert schema["properties"]["summary"]["maxLength"] == summary.max_chars(100)
    assert schema["required"] == ["summary"]


def test_parse_takes_the_object_and_normalises_and_bounds_it() -> None:
    raw = 'ok {"summary": "tests   failed\\nthen fixed"} trailing'
    assert summary.parse_summary(raw, 100) == "tests failed then fixed"
    long = json.dumps({"summary": "x " * 1000})
    assert len(summary.parse_summary(long, 50)) == summary.max_chars(50)


@pytest.mark.parametrize("raw", ["", "not json", '{"summary": ""}', '{"summary": 3}', "[1, 2]", '{"other": "x"}'])
def test_unusable_summaries_are_errors(raw: str) -> None:
    with pytest.raises(DecisionParseError):
        summary.parse_summary(raw, 100)


def test_the_extract_keeps_delegations_and_stays_bounded() -> None:
    evicted = [
        Turn("user", "obs", 5),
        Turn("assistant", decision(action_type="delegate", target_agent="claude-code", command="fix test_add"), 9),
        Turn("user", "obs", 5),
        Turn("assistant", "garbage", 1),
    ]
    text = summary.extract("earlier: build broke", evicted, 100)
    assert text.startswith("earlier: build broke") and "delegate claude-code: fix test_add" in text
    many = [Turn("assistant", decision(reasoning="r" * 60), 9)] * 200
    bounded = summary.extract("", many, 50)
    assert len(bounded) <= summary.max_chars(50) and bounded.startswith("…")


def test_memory_block_holds_identity_then_summary() -> None:
    block = summary.memory_block("You are conscious.", "did things")
    assert block.index("You are conscious.") < block.index("did things")
    assert "Summary" not in summary.memory_block("You are conscious.", "")
