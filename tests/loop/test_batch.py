from datetime import UTC, datetime, timedelta

from conscious.loop.batch import Entry, coalesce, covered_ids, take_batch
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
    def needs_llm(batch: list[Entry]) -> bool:
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
