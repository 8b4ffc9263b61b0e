"""Prometheus metrics counted from the live events, levels read at scrape time."""

from __future__ import annotations

from prometheus_client.parser import text_string_to_metric_families

from conscious.control.events import EventBus
from conscious.control.metrics import Metrics


def samples(metrics: Metrics) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    found = {}
    for family in text_string_to_metric_families(metrics.render().decode()):
        for s in family.samples:
            found[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return found


def test_events_are_counted_and_levels_read_when_scraped() -> None:
    bus = EventBus()
    metrics = Metrics()
    bus.listen(metrics.on_event)
    level = {"used": 300, "pending": 4}
    metrics.levels(
        used=lambda: level["used"],
        budget=lambda: 1000,
        pending=lambda: level["pending"],
        running=lambda: 1,
        subscribers=lambda: bus.subscribers,
        checks=lambda: {"llm": {"ok": True, "detail": ""}, "journal": {"ok": False, "detail": "full"}},
    )
    bus.publish("observation", source="fs", severity="info")
    bus.publish("observation", source="fs", severity="info")
    bus.publish("observation", source="user", severity="info")
    common = {"verdict": "accepted", "first_token_ms": 200.0, "cached_tokens": 90}
    bus.publish("decision", action="delegate", origin="llm", latency_ms=1500.0, prompt_tokens=120, **common)
    bus.publish("decision", action="observe", origin="rule", latency_ms=None, prompt_tokens=None, verdict="accepted")
    bus.publish("task", what="started", agent="claude-code")
    bus.publish("task", what="finished", agent="claude-code", state="succeeded", cost_usd=0.25)
    bus.publish("task", what="finished", agent="claude-code", state="timeout", cost_usd=None)
    s = samples(metrics)
    assert s[("conscious_observations_total", (("severity", "info"), ("source", "fs")))] == 2
    assert s[("conscious_observations_total", (("severity", "info"), ("source", "user")))] == 1
    assert s[("conscious_decisions_total", (("action", "delegate"), ("origin", "llm"), ("verdict", "accepted")))] == 1
    assert s[("conscious_decisions_total", (("action", "observe"), ("origin", "rule"), ("verdict", "accepted")))] == 1
    assert s[("conscious_decision_latency_seconds_count", ())] == 1  # the rule's decision is not timed
    assert s[("conscious_decision_latency_seconds_sum", ())] == 1.5
    assert s[("conscious_time_to_first_token_seconds_sum", ())] == 0.2
    assert s[("conscious_prompt_tokens_total", (("kind", "processed"),))] == 120
    assert s[("conscious_prompt_tokens_total", (("kind", "cached"),))] == 90
    assert s[("conscious_delegations_started_total", (("agent", "claude-code"),))] == 1
    assert s[("conscious_delegations_total", (("agent", "claude-code"), ("outcome", "succeeded")))] == 1
    assert s[("conscious_delegations_total", (("agent", "claude-code"), ("outcome", "timeout")))] == 1
    assert s[("conscious_spend_usd_total", (("agent", "claude-code"),))] == 0.25
    assert s[("conscious_context_fill_ratio", ())] == 0.3
    assert s[("conscious_pending_observations", ())] == 4
    assert s[("conscious_health_check", (("check", "journal"),))] == 0
    assert s[("conscious_health_check", (("check", "llm"),))] == 1
    level.update(used=850, pending=0)
    s = samples(metrics)
    assert s[("conscious_context_fill_ratio", ())] == 0.85 and s[("conscious_pending_observations", ())] == 0


def test_two_daemons_in_one_process_keep_their_own_counts() -> None:
    a, b = Metrics(), Metrics()
    bus = EventBus()
    bus.listen(a.on_event)
    bus.publish("observation", source="fs", severity="info")
    assert samples(a)[("conscious_observations_total", (("severity", "info"), ("source", "fs")))] == 1
    assert ("conscious_observations_total", (("severity", "info"), ("source", "fs"))) not in samples(b)
