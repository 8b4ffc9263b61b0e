"""What a reflection asks and recalls: the evidence's question, searched by the evidence, short
facts with their age — on a real journal file."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from conscious.journal import Journal
from conscious.loop.batch import BatchEntry
from conscious.loop.reflection import age, question, recalled, subject
from conscious.model import Decision, DecisionRecord, Observation, utcnow
from conscious.think.candidates import candidates
from conscious.think.choice import Options

AGENTS = ["claude-code", "claude-flow", "memory"]


def vanished(target: str = "uvicorn") -> Observation:
    return Observation(source="process", event_type="vanished", target=target, severity="warning")


def hesitant_delegation(options: Options) -> Decision:
    [fix] = [c for c in options.candidates if c.action_type == "delegate"]
    return fix.decision("not sure", 0.4)


def test_a_hesitant_delegation_reflects_on_the_evidences_question_not_on_its_command() -> None:
    options = Options(candidates([vanished()], agents=AGENTS))
    decision = hesitant_delegation(options)
    assert decision.command is not None and "Find out why" in decision.command
    asked = question(decision, options)
    assert asked == "What do we know about: process/vanished uvicorn"
    # The command is in the options offered again; it is not what the journal is searched by.
    batch = [
        BatchEntry(vanished(), [1]),
        BatchEntry(Observation(source="clock", event_type="heartbeat", target="tick"), [2]),
    ]
    assert subject(decision, batch, options) == "process vanished uvicorn"


def test_a_composed_decision_is_searched_by_what_the_model_wrote_too() -> None:
    decision = Decision(action_type="reflect", reasoning="it keeps dying", command="is uvicorn out of memory?")
    assert question(decision, None) == "is uvicorn out of memory?"
    assert (
        subject(decision, [BatchEntry(vanished(), [1])], None) == "process vanished uvicorn is uvicorn out of memory?"
    )
    chain = Observation(source="self", event_type="reflection", target="What do we know about: process/vanished x")
    assert subject(Decision(action_type="reflect", reasoning="r"), [BatchEntry(chain, [3])], None) == chain.target


def test_recall_by_the_evidence_does_not_bring_back_every_question_that_asked_why(tmp_path: Path) -> None:
    journal = Journal(tmp_path / "journal.db")
    try:
        asked = journal.append(
            Observation(source="user", event_type="request", target="inbox", details={"text": "why is the build slow?"})
        )
        before = journal.append(vanished())
        journal.record_decision(
            DecisionRecord.of(Decision(action_type="observe", reasoning="r"), [asked, before], verdict="accepted")
        )
        journal.add_note("uvicorn needs 2 GB of memory")
        now = journal.append(vanished())
        options = Options(candidates([vanished()], agents=AGENTS))
        decision = hesitant_delegation(options)
        by_command = journal.recall(decision.command or "", 5, before=now)
        assert any("build slow" in h["text"] for h in by_command)  # what searching by the command did
        hits = journal.recall(subject(decision, [BatchEntry(vanished(), [now])], options), 5, before=now)
        lines = recalled(hits, utcnow())
        assert len(lines) == 2 and not any("build slow" in line for line in lines)
        assert lines[0].startswith("note ") and lines[0].endswith(" ago: uvicorn needs 2 GB of memory")
        assert lines[1].startswith("seen ") and lines[1].endswith("process/vanished uvicorn {}")
    finally:
        journal.close()


def test_a_recalled_decision_reads_as_what_was_decided_and_long_text_is_cut() -> None:
    now = utcnow()
    hits = [
        {"kind": "turn", "id": 4, "ts": (now - timedelta(hours=3)).isoformat(), "text": "→ delegated to x: y"},
        {"kind": "observation", "id": 5, "ts": (now - timedelta(days=2)).isoformat(), "text": "z" * 500},
    ]
    first, second = recalled(hits, now)
    assert first == "decided 3h ago: delegated to x: y"
    assert second.startswith("seen 2d ago: zzz") and len(second) < 140 and second.endswith("…")


def test_an_age_in_its_largest_whole_unit() -> None:
    now = utcnow()
    assert age((now - timedelta(seconds=42)).isoformat(), now) == "42s ago"
    assert age((now - timedelta(minutes=61)).isoformat(), now) == "1h ago"
    assert age(None, now) == "earlier" and age("not a time", now) == "earlier"
    assert age((now + timedelta(minutes=5)).isoformat(), now) == "0s ago"  # a clock that went back
