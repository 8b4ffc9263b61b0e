"""Questions are answered, not delegated: the real daemon (its API on a free port, the scripted
brain taking the first delegation it is offered), the real CLI, the stand-in agents on PATH. A
note told, then a question about it: `conscious tell` prints the answer from the journal; a
vague ask is asked back; no paid agent is started by either."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from conscious.journal import Journal
from tests.daemon_harness import Daemon, wait_for


def tell(daemon: Daemon, text: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "conscious", "tell", text, "--wait", "60"],
        env=daemon.env(),
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_a_question_gets_its_answer_and_a_vague_ask_a_question_back(tmp_path: Path) -> None:
    watched = tmp_path / "project"
    watched.mkdir()
    (tmp_path / "home").mkdir()
    # The brain takes the delegation to memory when one is offered (no paid agent is offered a
    # question or a vague ask: tests/think/test_candidates.py); the wiring to the user is the point.
    daemon = Daemon(
        tmp_path / "home",
        watched,
        {"CONSCIOUS_LLM_URL": "scripted://delegate?agent=memory", "CONSCIOUS_API_PORT": "0"},
    )
    daemon.start()
    try:
        wait_for(daemon.ready, 60, "the daemon")
        noted = tell(daemon, "note: the cache keeps entries for 300 seconds, decided with Ana")
        assert noted.returncode == 0 and "told the running daemon" in noted.stdout, noted.stderr
        wait_for(lambda: bool(Journal(daemon.journal_path).search_notes("cache")), 60, "the note")
        asked = tell(daemon, "what did we decide about the cache?")
        assert asked.returncode == 0, asked.stderr
        assert "From the journal and memory, about 'what did we decide about the cache?'" in asked.stdout
        assert "300 seconds, decided with Ana" in asked.stdout
        # Not the question itself, nor the memory agent's own bookkeeping (both were, at first).
        assert asked.stdout.count("what did we decide about the cache?") == 1
        assert "agent/succeeded memory#" not in asked.stdout
        vague = tell(daemon, "make it better")
        assert "'make it better' does not say what to change or where" in vague.stdout, vague.stdout + vague.stderr
        journal = Journal(daemon.journal_path)
        agents = {t["agent"] for t in journal.page_rows("tasks", limit=50)["items"]}
        assert agents == {"memory"}
        assert [n["content"] for n in journal.search_notes("cache")] == [
            "the cache keeps entries for 300 seconds, decided with Ana"
        ]  # the question was answered, not stored
    finally:
        assert daemon.stop() == 0, daemon.stderr()
        daemon.close()
    assert "Traceback" not in daemon.stderr()
