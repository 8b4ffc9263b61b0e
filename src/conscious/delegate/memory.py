"""The memory agent: notes in the journal database, found again with FTS5.

In-process and instant. A command that starts with recall / search / find / retrieve /
lookup searches; anything else is stored as a note.
"""

from __future__ import annotations

import re

from conscious.delegate.base import Outcome, PgidCallback, RunContext
from conscious.journal import Journal
from conscious.model import Task

_RECALL = re.compile(r"^\s*(recall|search|find|retrieve|look\s*up|lookup|query)\b[:\s]*", re.IGNORECASE)
_STORE = re.compile(r"^\s*(store|remember|save|note|record)\b[:\s]*", re.IGNORECASE)


class MemoryDelegate:
    name = "memory"
    confined = False

    def __init__(self, journal: Journal) -> None:
        self.journal = journal

    async def run(self, task: Task, ctx: RunContext, on_start: PgidCallback) -> Outcome:
        command = task.command.strip()
        if m := _RECALL.match(command):
            query = command[m.end() :] or command
            hits = self.journal.search_notes(query)
            if not hits:
                return Outcome("succeeded", f"no notes match {query!r}")
            lines = [f"#{h['id']} ({h['ts'][:19]}): {h['content'][:300]}" for h in hits]
            return Outcome("succeeded", f"{len(hits)} note(s):\n" + "\n".join(lines))
        text = _STORE.sub("", command, count=1) or command
        note_id = self.journal.add_note(text, tags=f"decision:{task.decision_id}")
        return Outcome("succeeded", f"stored note #{note_id}")
