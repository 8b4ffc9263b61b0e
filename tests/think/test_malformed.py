"""Whatever the model sends back, the loop does not crash: ≥ 10,000 generated malformed
replies (truncated JSON, wrong types, extra text, empty, huge, invalid UTF-8, wrong enum
values) each become a valid Decision or a safe fallback plus a reported error."""

from __future__ import annotations

import json
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conscious.errors import DecisionParseError
from conscious.journal import Journal
from conscious.model import Decision, DecisionRecord
from conscious.think.backends.base import Limits
from conscious.think.backends.scripted import ScriptedBackend
from conscious.think.context import ContextWindow
from conscious.think.decision import parse_decision
from conscious.think.thinker import Thinker

GOOD = {
    "action_type": "delegate",
    "reasoning": "tests fail",
    "target_agent": "claude-code",
    "command": "fix test_add",
    "priority": "high",
    "confidence": 0.9,
    "metadata": {"expected_outcome": "green"},
}
FIELDS = list(GOOD)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(max_size=40),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=8,
)
good_text = json.dumps(GOOD)

replies = st.one_of(
    st.just(""),
    st.text(max_size=400),
    st.binary(max_size=400).map(lambda b: b.decode("utf-8", "surrogateescape")),  # invalid UTF-8
    st.integers(0, len(good_text)).map(lambda n: good_text[:n]),  # truncated
    st.fixed_dictionaries({}, optional={k: json_values for k in FIELDS}).map(json.dumps),  # wrong types
    st.sampled_from(FIELDS).flatmap(
        lambda k: st.text(max_size=20).map(lambda v: json.dumps({**GOOD, k: v}))  # wrong enum values
    ),
    st.tuples(st.text(max_size=60), st.text(max_size=60)).map(lambda t: t[0] + good_text + t[1]),  # extra text
    st.integers(10_000, 50_000).map(lambda n: '{"reasoning": "' + "x" * n),  # huge, unfinished
    json_values.map(json.dumps),
)


@settings(max_examples=10_000, deadline=None, suppress_health_check=list(HealthCheck))
@given(replies)
def test_parsing_never_fails_otherwise_than_clearly(raw: str) -> None:
    try:
        decision = parse_decision(raw)
    except DecisionParseError as exc:
        assert str(exc)
        return
    assert isinstance(decision, Decision)
    assert 0.0 <= decision.confidence <= 1.0


@settings(max_examples=500, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.lists(replies, min_size=1, max_size=3))
async def test_a_thought_on_any_reply_is_a_decision_or_a_safe_fallback_and_journals(
    tmp_path: Path, batch: list[str]
) -> None:
    backend = ScriptedBackend()
    backend.enqueue(*batch)
    thinker = Thinker(backend, ContextWindow("system", 10, 4000), Limits(max_tokens=100))
    journal = Journal(tmp_path / "j.db")  # one file for every example: rows accumulate, as in a long run
    try:
        for _ in batch:
            thought = await thinker.think("1. [INFO] filesystem/modified a.py")
            if thought.error is not None:
                assert thought.decision.action_type == "observe" and thought.decision.confidence == 0.0
            journal.record_decision(DecisionRecord.of(thought.decision, [], verdict="accepted", raw_reply=thought.raw))
    finally:
        journal.close()
    assert len(thinker.window.turns) % 2 == 0  # every question kept with its answer
