"""The context window's durable copy (turns, compactions, summaries), recall over everything
journaled, and the memory agent's notes."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from conscious.journal.rows import archive_turns, insert_observation, insert_turn, iso, set_identity
from conscious.journal.store import Store
from conscious.model import Observation

STOPWORDS = frozenset(
    [
        "a",
        "an",
        "and",
        "are",
        "as",
        "at",
        "be",
        "but",
        "by",
        "for",
        "from",
        "has",
        "have",
        "in",
        "is",
        "it",
        "its",
        "of",
        "on",
        "or",
        "that",
        "the",
        "this",
        "to",
        "was",
        "were",
        "will",
        "with",
        "not",
        "no",
        "nothing",
        "observe",
        "observing",
        "decision",
        "should",
        "now",
        "any",
        "all",
    ]
)
RECALL_TERMS = 12


def search_terms(text: str) -> list[str]:
    """Words worth matching, as quoted FTS5 strings: user text is never FTS5 syntax."""
    words = "".join(c.lower() if c.isalnum() else " " for c in text).split()
    seen = dict.fromkeys(w for w in words if len(w) > 2 and w not in STOPWORDS)
    return [f'"{w}"' for w in list(seen)[:RECALL_TERMS]]


RECALL_WINDOW = 2000
"""How many of the newest full-text matches of each kind recall ranks."""


class Memory(Store):
    """Turns, summaries, notes and recall."""

    def append_turn(self, role: str, content: str, tokens: int) -> int:
        with self.transaction() as db:
            return insert_turn(db, role, content, tokens)

    def archive_turn_ids(self, ids: Sequence[int]) -> None:
        with self.transaction() as db:
            for turn_id in ids:
                archive_turns(db, turn_id, only=True)

    def record_compaction(
        self,
        up_to_id: int | None,
        summary: str,
        *,
        memory: str,
        evicted: int,
        error: str | None,
        observation: Observation | None,
    ) -> None:
        """Turns archived, the summary and memory block that now stand for them, and the
        observation that reports it: one commit."""
        with self.transaction() as db:
            if up_to_id is not None:
                archive_turns(db, up_to_id)
                db.execute(
                    "INSERT INTO summaries (ts, content, up_to_turn, evicted, error) VALUES (?,?,?,?,?)",
                    (iso(), summary, up_to_id, evicted, error),
                )
            set_identity(db, {"memory": memory})
            if observation is not None:
                insert_observation(db, observation)

    def live_turns(self) -> list[dict[str, Any]]:
        """The turns still in the window when the last run ended, oldest first."""
        rows = self.db.execute("SELECT id, role, content, tokens FROM turns WHERE archived=0 ORDER BY id")
        return [dict(r) for r in rows]

    def latest_summary(self) -> str:
        row = self.db.execute("SELECT content FROM summaries ORDER BY id DESC LIMIT 1").fetchone()
        return str(row["content"]) if row else ""

    def recall(self, query: str, limit: int = 5, *, before: int | None = None) -> list[dict[str, Any]]:
        """Full-text search over memory notes, decided observations and archived decisions.

        Of the archived turns, only the model's side (what was decided): the other side renders
        observations, which are searched themselves, and the loop's own reflections, whose
        recalled items came back again inside every later recall.

        Each kind is ranked on its own (bm25 scores of different indexes do not compare) and
        the results are interleaved, notes first, so one kind cannot crowd out the others; an
        observation that happened many times counts once, as its newest occurrence.
        ``before`` limits observations to ids below it (what was seen before now).
        """
        terms = search_terms(query)
        if not terms:
            return []
        match = " OR ".join(terms)
        notes = self.db.execute(
            "SELECT n.id, n.ts, n.content AS text FROM notes_fts JOIN notes n ON n.id = notes_fts.rowid"
            " WHERE notes_fts MATCH ? ORDER BY bm25(notes_fts) LIMIT ?",
            (match, limit),
        ).fetchall()
        # The newest RECALL_WINDOW matches only (FTS5 walks its rowids newest first without
        # ranking every match): the cost is bounded on a journal of millions, and a fact from
        # months ago, repeated a thousand times since, cannot crowd out this morning's.
        rows = self.db.execute(
            "SELECT max(o.id) AS id, max(o.ts) AS ts, o.source, o.event_type, o.target, count(*) AS times,"
            " min(m.rank) AS rank FROM (SELECT rowid, bm25(observations_fts) AS rank FROM observations_fts"
            "  WHERE observations_fts MATCH ? AND rowid < ? ORDER BY rowid DESC LIMIT ?) AS m"
            " JOIN observations o ON o.id = m.rowid WHERE o.status='decided' AND o.source != 'self'"
            " GROUP BY o.source, o.event_type, o.target ORDER BY rank, id DESC LIMIT ?",
            (match, before if before is not None else 2**62, RECALL_WINDOW, limit),
        ).fetchall()
        observations = [
            {
                "id": r["id"],
                "ts": r["ts"],
                "times": r["times"],
                "head": f"{r['source']}/{r['event_type']} {r['target']}",
            }
            for r in rows
        ]
        turns = self.db.execute(
            "SELECT t.id, t.ts, snippet(turns_fts, 0, '', '', '…', 24) AS text FROM"
            " (SELECT rowid FROM turns_fts WHERE turns_fts MATCH ? ORDER BY rowid DESC LIMIT ?) AS m"
            " JOIN turns_fts ON turns_fts.rowid = m.rowid JOIN turns t ON t.id = m.rowid"
            " WHERE turns_fts MATCH ? AND t.archived=1 AND t.role='assistant'"
            " ORDER BY bm25(turns_fts) LIMIT ?",
            (match, RECALL_WINDOW, match, limit * 4),
        ).fetchall()
        newest: dict[str, Any] = {}
        for r in turns:  # best-ranked first; the same decision taken again reads the same: once, as its newest
            if r["text"] not in newest or r["id"] > newest[r["text"]]["id"]:
                newest[r["text"]] = r
        turns = list(newest.values())[:limit]
        details = {
            r["id"]: r["details"]
            for r in self.db.execute(
                f"SELECT id, details FROM observations WHERE id IN ({','.join('?' * len(observations))})",
                [r["id"] for r in observations],
            )
        }
        ranked: list[list[dict[str, Any]]] = [
            [{"kind": "note", "id": r["id"], "ts": r["ts"], "text": r["text"]} for r in notes],
            [
                {
                    "kind": "observation",
                    "id": r["id"],
                    "ts": r["ts"],
                    "text": r["head"] + (f" (x{r['times']})" if r["times"] > 1 else "") + " " + details[r["id"]],
                }
                for r in observations
            ],
            [{"kind": "turn", "id": r["id"], "ts": r["ts"], "text": r["text"]} for r in turns],
        ]
        hits: list[dict[str, Any]] = []
        for rank in range(limit):
            hits += [kind[rank] for kind in ranked if rank < len(kind)]
        for h in hits:
            h["text"] = " ".join(str(h["text"]).split())[:240]
        return hits[:limit]

    def add_note(self, content: str, tags: str = "") -> int:
        with self.transaction() as db:
            cur = db.execute("INSERT INTO notes (ts, content, tags) VALUES (?,?,?)", (iso(), content, tags))
        assert cur.lastrowid is not None
        return cur.lastrowid

    def search_notes(self, query: str, limit: int = 5) -> list[dict[str, Any]]:
        terms = search_terms(query)
        if not terms:
            return []
        match = " OR ".join(terms)
        rows = self.db.execute(
            "SELECT notes.id, notes.ts, notes.content, notes.tags FROM notes_fts"
            " JOIN notes ON notes.id = notes_fts.rowid WHERE notes_fts MATCH ? ORDER BY rank LIMIT ?",
            (match, limit),
        )
        return [dict(r) for r in rows]
