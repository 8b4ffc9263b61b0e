"""The window's durable side: restored from the journal as it was, even with the server down."""

from pathlib import Path

from conscious.config import Config
from conscious.errors import LLMUnavailable
from conscious.journal import Journal
from conscious.think.backends.base import Limits
from conscious.think.backends.scripted import ScriptedBackend
from conscious.think.context import ContextWindow
from conscious.think.memory import Memory
from conscious.think.thinker import Thinker


class Down(ScriptedBackend):
    async def tokenize(self, text: str) -> int:
        raise LLMUnavailable("cannot reach LLM server")


def memory_for(journal: Journal, backend: ScriptedBackend, config: Config) -> Memory:
    thinker = Thinker(backend, ContextWindow("system", 10, 3000), Limits())
    return Memory(journal, thinker, backend, config, first_start="2026-11-20T08:00:00+00:00")


async def test_restore_while_the_server_is_down_uses_the_journaled_counts(tmp_path: Path, config: Config) -> None:
    journal = Journal(tmp_path / "j.db")
    for i in range(3):
        journal.append_turn("user", f"question {i}", 11 + i)
        journal.append_turn("assistant", f'{{"answer": {i}}}', 7)
    journal.set_identity(memory="# MEMORY\nstored block")
    memory = memory_for(journal, Down(), config)
    assert await memory.restore() == 6
    window = memory.thinker.window
    assert [t.tokens for t in window.turns] == [11, 7, 12, 7, 13, 7]
    assert window.memory == "# MEMORY\nstored block" and window.memory_tokens > 0
    fresh = memory_for(journal, ScriptedBackend(), config)
    await fresh.restore(fresh=True)
    assert "since 2026-11-20 08:00" in fresh.thinker.window.memory


async def test_a_compaction_is_archived_with_its_summary_and_reported(tmp_path: Path, config: Config) -> None:
    journal = Journal(tmp_path / "j.db")
    backend = ScriptedBackend()
    backend.enqueue_summary("the build broke, then was fixed")
    memory = memory_for(journal, backend, config)
    thinker = memory.thinker
    thinker.on_compact = memory.archive
    thinker.window.budget = 600
    for i in range(12):
        await thinker.think(f"1. [ERROR] tests/failed item-{i} " + "x" * 60)
        for turn in thinker.window.turns:  # as the orchestrator commits them with each decision
            if turn.id is None:
                turn.id = journal.append_turn(turn.role, turn.content, turn.tokens)
    assert journal.latest_summary()
    archived = journal.db.execute("SELECT count(*) FROM turns WHERE archived=1").fetchone()[0]
    assert archived > 0 and len(journal.live_turns()) == len(thinker.window.turns)
    [first, *_] = [o for o in journal.observations(100) if o.event_type == "compacted"]
    assert first.details["evicted_turns"] > 0 and "summary_error" not in first.details
    assert journal.identity()["memory"] == thinker.window.memory
