from datetime import UTC, datetime, timedelta

from conscious.loop.batch import BatchEntry, coalesce, covered_ids, take_batch
from conscious.loop.shortcuts import shortcut
from conscious.model import Observation


def obs(
    i: int,
    source: str = "filesystem",
    event: str = "modified",
    target: str = "a.py",
    severity: str = "info",
    seconds: int = 0,
) -> Observation:
    ts = datetime(2026, 1, 1, tzinfo=UTC) + timedelta(seconds=seconds)
    return Observation(id=i, source=source, event_type=event, target=target, severity=severity, timestamp=ts)  # type: ignore[arg-type]


def test_a_thousand_saves_become_one_entry_with_count_and_span() -> None:
    entries = coalesce([obs(i, seconds=i) for i in range(1, 1001)])
    assert len(entries) == 1
    rep = entries[0].observation
    assert rep.count == 1000
    assert rep.last_ts is not None and (rep.last_ts - rep.timestamp).total_seconds() == 999
    assert sorted(entries[0].ids) == list(range(1, 1001))


def test_most_severe_first_then_user_then_oldest() -> None:
    pending = [
        obs(1, target="x"),
        obs(2, source="user", event="request", target="inbox"),
        obs(3, source="process", event="vanished", target="server", severity="error"),
        obs(4, target="y", severity="warning"),
    ]
    order = [e.observation.id for e in coalesce(pending)]
    assert order == [3, 4, 2, 1]


def test_repeats_keep_the_worst_severity() -> None:
    entries = coalesce([obs(1), obs(2, severity="error"), obs(3)])
    assert entries[0].observation.severity == "error"


def test_every_id_is_covered_exactly_once() -> None:
    pending = [obs(i, target=f"f{i % 7}") for i in range(1, 200)]
    batch = take_batch(coalesce(pending), limit=1000)
    ids = covered_ids(batch)
    assert sorted(ids) == list(range(1, 200))


def test_heartbeats_alone_do_not_need_the_llm() -> None:
    def needs_llm(batch: list[BatchEntry]) -> bool:
        return shortcut(batch, ("routine",), lambda o: False) is None

    beats = coalesce([obs(1, source="clock", event="heartbeat", target="orchestrator")])
    assert not needs_llm(beats)
    assert needs_llm(coalesce([obs(1, source="clock", event="heartbeat", target="o"), obs(2)]))
    assert needs_llm(coalesce([obs(1, source="clock", event="idle", target="orchestrator")]))


def test_requests_from_the_user_are_never_merged() -> None:
    a = Observation(id=1, source="user", event_type="request", target="inbox", details={"text": "fix the test"})
    b = Observation(id=2, source="user", event_type="request", target="inbox", details={"text": "also remember X"})
    entries = coalesce([a, b])
    assert [e.observation.details["text"] for e in entries] == ["fix the test", "also remember X"]


def file(i: int, relative: str, event: str = "created", root: str = "/home/dev/app/") -> Observation:
    return Observation(
        id=i, source="filesystem", event_type=event, target=root + relative, details={"relative": relative}
    )


def test_a_tree_copied_in_is_one_entry_for_its_subtree() -> None:
    names = [f"vendor/pytest/src/_pytest/m{i}.py" for i in range(420)] + [
        f"vendor/pytest/doc/d{i}.md" for i in range(96)
    ]
    pending = [file(i, name) for i, name in enumerate(names, start=1)]
    pending.append(file(1000, "src/app.py", "modified"))
    entries = coalesce(pending)
    assert len(entries) == 2
    burst = next(e for e in entries if e.observation.details.get("files"))
    rep = burst.observation
    assert (rep.event_type, rep.target) == ("created", "/home/dev/app/vendor/pytest/")
    assert rep.details["files"] == 516 and rep.details["kinds"] == {".py": 420, ".md": 96}
    assert rep.details["relative"] == "vendor/pytest/" and len(rep.details["examples"]) == 3
    assert sorted(burst.ids) == list(range(1, 517))
    assert sorted(covered_ids(entries)) == [*range(1, 517), 1000]  # every observation still covered


def test_a_few_files_stay_separate_and_mixed_events_say_changed() -> None:
    few = coalesce([file(i, f"src/m{i}.py") for i in range(1, 8)])
    assert len(few) == 7
    mixed = coalesce([file(i, f"src/m{i}.py", "created" if i % 2 else "deleted") for i in range(1, 11)])
    assert len(mixed) == 1 and mixed[0].observation.event_type == "changed"
    assert mixed[0].observation.details["events"] == {"created": 5, "deleted": 5}


def request(i: int, text: str) -> Observation:
    return Observation(id=i, source="user", event_type="request", target="inbox", details={"text": text})


def test_requests_told_together_each_get_a_decision_of_their_own() -> None:
    pending = [request(i, f"please fix ITEM-{i}") for i in range(1, 5)] + [obs(5), obs(6, target="b.py")]
    entries = coalesce(pending)
    decided: list[list[int]] = []
    while entries:
        batch = take_batch(entries, limit=16, actionable=lambda o: False)
        decided.append(covered_ids(batch))
        taken = {id(e) for e in batch}
        entries = [e for e in entries if id(e) not in taken]
    requests = [[i for i in ids if i <= 4] for ids in decided]
    assert [r for r in requests if r] == [[1], [2], [3], [4]]
    assert all(len(r) <= 1 for r in requests)
    assert sorted(i for ids in decided for i in ids) == list(range(1, 7))


def test_a_failure_and_a_request_are_not_one_decision_but_routine_rides_along() -> None:
    failing = obs(1, source="tests", event="failed", target="report.xml", severity="error")
    pending = [failing, request(2, "add pagination"), obs(3), obs(4, source="clock", event="heartbeat", target="o")]
    batch = take_batch(coalesce(pending), limit=16, actionable=lambda o: False)
    assert sorted(covered_ids(batch)) == [1, 3, 4]


def test_what_the_evidence_can_act_on_needs_its_own_decision_even_at_info() -> None:
    def actionable(o: Observation) -> bool:
        return o.target.startswith("act")

    pending = [obs(1, target="act-1"), obs(2, target="act-2"), obs(3, target="plain")]
    first = take_batch(coalesce(pending), limit=16, actionable=actionable)
    assert sorted(covered_ids(first)) == [1, 3]


def test_in_compose_mode_warnings_need_their_own_decision() -> None:
    pending = [obs(1, target="x", severity="warning"), obs(2, target="y", severity="warning"), obs(3)]
    assert sorted(covered_ids(take_batch(coalesce(pending), limit=16, actionable=None))) == [1, 3]
