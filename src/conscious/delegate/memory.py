"""The memory agent: notes in the journal database, found again with FTS5 — and the
orchestrator's own voice, which costs nothing.

In-process and instant. A command that starts with recall / search / find / retrieve /
lookup searches the notes; a question is answered from everything the journal holds (notes,
what was seen and decided, the tasks that ran: ``Journal.recall``) and from what is running
now; ``clarify:`` asks the user back what they mean; anything else is stored as a note.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any, Protocol

from conscious.delegate.base import Outcome, PgidCallback, RunContext
from conscious.journal.memory import search_terms
from conscious.model import CLARIFY, QUESTION, Observation, Task, utcnow

_RECALL = re.compile(r"^\s*(recall|search|find|retrieve|look\s*up|lookup|query)\b[:\s]*", re.IGNORECASE)
_STORE = re.compile(r"^\s*(store|remember|save|note|record)\b[:\s]*", re.IGNORECASE)
ANSWER_HITS = 5
LAST_TASKS = 3
"""Tasks that ran last, told when the question is what runs now and nothing does."""


class NotesJournal(Protocol):
    """The journal as the memory agent uses it: notes, what it recalls, the tasks."""

    def add_note(self, content: str, tags: str = "") -> int: ...

    def search_notes(self, query: str, limit: int = 5) -> list[dict[str, Any]]: ...

    def recall(self, query: str, limit: int = 5, *, before: int | None = None) -> list[dict[str, Any]]: ...

    def observations(self, limit: int = 50, decision_id: int | None = None) -> list[Observation]: ...

    def tasks(self, limit: int = 50, state: str | None = None) -> list[dict[str, Any]]: ...

    def unfinished_tasks(self) -> list[Task]: ...


class MemoryDelegate:
    name = "memory"
    confined = False

    def __init__(self, journal: NotesJournal) -> None:
        self.journal = journal

    async def run(self, task: Task, ctx: RunContext, on_start: PgidCallback) -> Outcome:
        command = task.command.strip()
        if command.lower().startswith(CLARIFY):
            return Outcome("succeeded", ask_back(command[len(CLARIFY) :].strip()))
        if m := _RECALL.match(command):
            query = command[m.end() :] or command
            hits = self.journal.search_notes(query)
            if not hits:
                return Outcome("succeeded", f"no notes match {query!r}")
            lines = [f"#{h['id']} ({h['ts'][:19]}): {h['content'][:300]}" for h in hits]
            return Outcome("succeeded", f"{len(hits)} note(s):\n" + "\n".join(lines))
        if QUESTION.search(command) and not _STORE.match(command):
            asked = [o.id for o in self.journal.observations(decision_id=task.decision_id) if o.id is not None]
            return Outcome("succeeded", self.answer(command, before=min(asked, default=None)))
        text = _STORE.sub("", command, count=1) or command
        note_id = self.journal.add_note(text, tags=f"decision:{task.decision_id}")
        return Outcome("succeeded", f"stored note #{note_id}")

    def answer(self, question: str, *, before: int | None = None) -> str:
        """What the journal holds about ``question`` (seen before ``before``: not the question
        itself), newest and best first, and what runs now. Found, not composed: each line says
        where it comes from and when; this agent's own bookkeeping is left out."""
        hits = [
            h
            for h in self.journal.recall(question, ANSWER_HITS + 2, before=before)
            if not (h["kind"] == "observation" and h["text"].startswith(f"agent/succeeded {self.name}#"))
        ][:ANSWER_HITS]
        running = self.journal.unfinished_tasks()
        lines = [f"- {_ago(h['ts'])}, {_KINDS.get(h['kind'], h['kind'])}: {h['text']}" for h in hits]
        words = set(search_terms(question, quoted=False))
        now = bool(_NOW.search(question))  # "what is running?": every task; else those it names
        runs = [
            f"- running now: task {t.id} ({t.agent}): {t.command[:160]}"
            for t in running
            if t.agent != self.name and (now or words & set(search_terms(t.command, quoted=False)))
        ]
        if now and not runs:
            # "Nothing answers" said nothing: that no task runs is the answer, and what ran last.
            done = [t for t in self.journal.tasks(LAST_TASKS + 3) if t["agent"] != self.name][-LAST_TASKS:]
            runs = ["- running now: no task"] + [
                f"- task {t['id']} ({t['agent']}, {t['state']}{', ' + _ago(t['ended']) if t['ended'] else ''}): "
                f"{t['command'][:160]}"
                for t in reversed(done)
            ]
        lines += runs
        if not lines:
            return f"Nothing in the journal or in memory answers {question!r} yet."
        return f"From the journal and memory, about {question!r}:\n" + "\n".join(lines)


_NOW = re.compile(r"\b(running|working on|doing|in progress|pending|busy|now)\b", re.IGNORECASE)
_KINDS = {"note": "a note", "observation": "seen", "turn": "decided"}


def ask_back(words: str) -> str:
    return (
        f"{words!r} does not say what to change or where, so no agent was sent. Which file, test, page or"
        " behaviour do you mean, and what should be true when it is done? Tell me again with that"
        ' (e.g. `conscious tell "make the upload test in tests/test_upload.py pass"`).'
    )


def _ago(ts: str) -> str:
    try:
        seconds = (utcnow() - datetime.fromisoformat(ts)).total_seconds()
    except ValueError:
        return ts[:16]
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds / size:.0f}{unit} ago"
    return "just now"
