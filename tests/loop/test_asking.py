"""What a turn shows: the loop's own bookkeeping is covered by the decision, never rendered."""

from __future__ import annotations

from conscious.config import Config
from conscious.loop.asking import compose_prompt
from conscious.loop.batch import coalesce
from conscious.model import Observation


def test_a_compaction_a_heartbeat_and_a_resume_beside_a_failure_are_covered_not_shown(config: Config) -> None:
    failing = Observation(
        source="tests", event_type="failed", target="report.xml", severity="error", details={"failures": 1}
    )
    pending = [
        Observation(source="self", event_type="compacted", target="context window", details={"evicted_turns": 54}),
        Observation(source="clock", event_type="heartbeat", target="tick"),
        Observation(source="self", event_type="resumed", target="session 2"),
        failing,
    ]
    for i, obs in enumerate(pending):
        obs.id = i + 1
    batch = coalesce(pending)
    prompt, options = compose_prompt(batch, {"running tasks": 0, "waiting": 0}, config)
    assert prompt.splitlines()[:2] == ["1 observation(s):", "1. [ERROR] tests/failed report.xml"]
    assert "compacted" not in prompt and "evicted" not in prompt and "heartbeat" not in prompt
    assert options is not None and any(c.action_type == "delegate" for c in options.candidates)
    assert sum(len(e.ids) for e in batch) == 4  # every one of them is still covered by this decision
