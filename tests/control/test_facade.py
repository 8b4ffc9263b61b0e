"""The facade on the journal alone, as the CLI meets it when no daemon runs: what it is told is
journaled, answers are refused in one line, and nothing is asked of a journal that is not there."""

from __future__ import annotations

from pathlib import Path

import pytest

from conscious.control.facade import JournalDaemon, Listing, as_seen, asks_back, journal_of
from conscious.errors import ConsciousError
from conscious.journal import Journal
from conscious.model import Decision, DecisionRecord, Observation
from conscious.paths import Paths


def test_no_journal_is_one_line_saying_how_to_make_one(tmp_path: Path) -> None:
    paths = Paths.resolve(tmp_path / "home")
    with pytest.raises(ConsciousError, match="start `conscious run` first"):
        journal_of(paths)
    assert not paths.journal.exists()  # asking made nothing
    made = JournalDaemon.at(paths)
    assert made.journal.path == paths.journal and made.pending() == 0
    made.close()


def test_what_is_told_is_journaled_pending_and_a_question_is_answered_in_words(tmp_path: Path) -> None:
    daemon = JournalDaemon(Journal(tmp_path / "journal.db"))
    obs_id = daemon.tell("fix the flaky test in test_cart.py")
    assert daemon.pending() == 1 and daemon.newest() == obs_id
    [told] = list(daemon.observations(None))
    assert (told.source, told.event_type, told.details["text"]) == (
        "user",
        "request",
        "fix the flaky test in test_cart.py",
    )
    assert asks_back("what are the agents working on?") and not asks_back("fix the flaky test in test_cart.py")
    assert daemon.reply(obs_id, 0.3) is None  # nothing decided it: no answer, after the wait


def test_an_answer_to_nothing_waiting_and_an_unknown_release_are_refused(tmp_path: Path) -> None:
    daemon = JournalDaemon(Journal(tmp_path / "journal.db"))
    with pytest.raises(ConsciousError, match="no approval #3"):
        daemon.answer(3, "approved", reason=None, always=False, pattern=None)
    with pytest.raises(ConsciousError, match="needs the config file"):
        daemon.answer(3, "approved", reason=None, always=True, pattern=None)
    with pytest.raises(ConsciousError, match=r"no quarantined item #5 \(quarantined now: none\)"):
        daemon.release(5)
    with pytest.raises(ConsciousError, match="no such worktree action: rebase"):
        daemon.worktree(1, "rebase")
    assert daemon.waiting() == [] and daemon.pending() == 0  # nothing was written by a refusal


def test_the_lists_and_the_status_are_the_journal_s(tmp_path: Path) -> None:
    journal = Journal(tmp_path / "journal.db")
    daemon = JournalDaemon(journal)
    ids = [journal.append(Observation(source="filesystem", event_type="modified", target="/w/a.py")) for _ in range(3)]
    decision = Decision(action_type="observe", reasoning="routine", priority="low", confidence=0.9)
    journal.record_decision(DecisionRecord.of(decision, ids, origin="rule", verdict="accepted"))
    [record] = daemon.page(Listing("decisions", 5))["items"]
    assert [o["id"] for o in record["observations"]] == ids
    assert [o["count"] for o in as_seen(record["observations"])] == [3]  # as the model saw them
    assert daemon.status()["running"] is False and daemon.status()["counts"]["decisions"] == 1
    assert daemon.published() == {}


def test_a_listing_asks_the_api_what_it_asks_the_journal() -> None:
    decisions = Listing("decisions", 5, after=7, routine=False, filters={"origin": "llm", "verdict": None})
    assert decisions.query() == {
        "limit": 5,
        "before": None,
        "after": 7,
        "origin": "llm",
        "verdict": None,
        "routine": False,
    }
    assert "routine" not in Listing("observations").query()  # the observations' route has no such parameter
