from datetime import UTC, datetime

from conscious.config import Config
from conscious.think.identity import begin_session, identity_line, turns_to_restore

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)


def test_a_first_start_then_a_clean_stop_then_a_crash(config: Config) -> None:
    first, values = begin_session({}, config, NOW)
    assert (first.start, first.session) == ("first", 1)
    assert "first start" in first.note(0, False)
    stored = {**values, "daemon": {"running": False, "updated": "2026-11-25T13:00"}}
    clean, values = begin_session(stored, config, NOW)
    assert (clean.start, clean.session, clean.first_start) == ("clean", 2, first.first_start)
    assert "resumed" in clean.note(4, True) and "clean stop" in clean.note(4, True)
    crashed, _ = begin_session({**values, "daemon": {"running": True, "updated": "x"}}, config, NOW)
    assert (crashed.start, crashed.session) == ("crash", 3)
    assert "crash" in crashed.note(0, False)


def test_changed_thresholds_are_noticed(config: Config) -> None:
    _, values = begin_session({}, config, NOW)
    stricter = config.model_copy(update={"min_confidence_to_delegate": 0.9})
    resumed, _ = begin_session(values, stricter, NOW)
    assert resumed.thresholds_changed == values["thresholds"]
    same, _ = begin_session(values, config, NOW)
    assert same.thresholds_changed is None


def test_identity_line_carries_totals_and_thresholds(config: Config) -> None:
    line = identity_line("2026-11-20T08:00:00+00:00", {"observations": 10, "decisions": 4, "delegations": 1}, config)
    assert "2026-11-20 08:00" in line and "10 observations" in line and ">= 0.7" in line and "0.5" in line
    assert "session" not in line  # a per-turn fact: the cached block must not go stale at each start


def turn(i: int, role: str, tokens: int = 10) -> dict[str, object]:
    return {"id": i, "role": role, "content": f"{role}{i}", "tokens": tokens}


def test_restores_the_newest_whole_exchanges_that_fit() -> None:
    live = [turn(i, "user" if i % 2 else "assistant") for i in range(1, 11)]  # u1 a2 … u9 a10
    kept = turns_to_restore(live, 3 * 28)
    assert [t["id"] for t in kept] == [5, 6, 7, 8, 9, 10]


def test_a_question_left_unanswered_by_a_crash_is_not_restored() -> None:
    live = [turn(1, "user"), turn(2, "assistant"), turn(3, "user")]
    assert [t["id"] for t in turns_to_restore(live, 1000)] == [1, 2]
    assert turns_to_restore([turn(1, "user")], 1000) == []
