from pathlib import Path

from conscious.delegate.base import RunContext
from conscious.delegate.memory import MemoryDelegate
from conscious.journal import Journal
from conscious.model import Task


async def test_store_then_recall(tmp_path: Path) -> None:
    journal = Journal(tmp_path / "j.db")
    memory = MemoryDelegate(journal)
    ctx = RunContext(cwd=tmp_path, timeout=5, grace=1)
    stored = await memory.run(
        Task(decision_id=1, agent="memory", command="Remember: the CI uses Python 3.11"), ctx, lambda pid: None
    )
    assert stored.state == "succeeded" and "stored note" in stored.result
    found = await memory.run(
        Task(decision_id=2, agent="memory", command="recall which python CI uses"), ctx, lambda pid: None
    )
    assert found.state == "succeeded" and "Python 3.11" in found.result
    missing = await memory.run(Task(decision_id=3, agent="memory", command="search kubernetes"), ctx, lambda pid: None)
    assert "no notes match" in missing.result
