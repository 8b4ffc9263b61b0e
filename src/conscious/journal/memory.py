"""The context window's durable copy (turns, compactions, summaries), recall over everything
journaled, and the memory agent's notes."""

from __future__ import annotations

import math
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


def search_terms(text: str, *, quoted: bool = True) -> list[str]:
    """Words worth matching, as quoted FTS5 strings (user text is never FTS5 syntax), or bare."""
    words = "".join(c.lower() if c.isalnum() else " " for c in text).split()
    seen = dict.fromkeys(w for w in words if len(w) > 2 and w not in STOPWORDS)
    return [f'"{w}"' if quoted else w for w in list(seen)[:RECALL_TERMS]]


def excerpt(text: str, words: Sequence[str], width: int = 24) -> str:
    """About ``width`` words of ``text`` around the first of ``words`` it holds (FTS5's
    ``snippet`` costs a walk of every term's matches per row)."""
    tokens = text.split()
    found = next(
        (
            i
            for i, t in enumerate(tokens)
            if any(w in "".join(c.lower() if c.isalnum() else " " for c in t).split() for w in words)
        ),
        0,
    )
    start = max(0, found - width // 3)
    cut = tokens[start : start + width]
    return ("…" if start else "") + " ".join(cut) + ("…" if start + width < len(tokens) else "")


RECALL_WINDOW = 2000
"""How many of the newest full-text matches of each kind recall ranks."""


class Recall(Store):
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
        notes = self.db.execute(
            "SELECT n.id, n.ts, n.content AS text FROM notes_fts JOIN notes n ON n.id = notes_fts.rowid"
            " WHERE notes_fts MATCH ? ORDER BY bm25(notes_fts) LIMIT ?",
            (" OR ".join(terms), limit),
        ).fetchall()
        ranked: list[list[dict[str, Any]]] = [
            [{"kind": "note", "id": r["id"], "ts": r["ts"], "text": r["text"]} for r in notes],
            self._recalled_observations(terms, limit, before),
            [{"kind": "turn", **r} for r in self._recalled_turns(terms, limit)],
        ]
        hits: list[dict[str, Any]] = []
        for rank in range(limit):
            hits += [kind[rank] for kind in ranked if rank < len(kind)]
        for h in hits:
            h["text"] = " ".join(str(h["text"]).split())[:240]
        return hits[:limit]

    def _recalled_observations(self, terms: list[str], limit: int, before: int | None) -> list[dict[str, Any]]:
        """Decided observations matching, an observation that happened many times once."""
        scores, rows = self._window(
            "observations_fts",
            "SELECT o.id, o.ts, o.source, o.event_type, o.target, CASE WHEN o.source = 'user' THEN o.details END"
            " AS said FROM observations o WHERE o.id IN ({}) AND o.status='decided' AND o.source != 'self'",
            terms,
            before,
        )
        groups: dict[tuple[str, str, str, str | None], dict[str, Any]] = {}
        for r in rows:  # an observation that happened many times: once, as its newest, at its best score
            # A user's words are each their own (every request's target is the inbox).
            key = (r["source"], r["event_type"], r["target"], r["said"])
            g = groups.setdefault(key, {"id": 0, "times": 0, "score": 0.0})
            g["times"] += 1
            g["score"] = max(g["score"], scores[r["id"]])
            if r["id"] > g["id"]:
                g.update(id=r["id"], ts=r["ts"], head=f"{r['source']}/{r['event_type']} {r['target']}")
        found = sorted(groups.values(), key=lambda g: (-g["score"], -g["id"]))[:limit]
        details = {
            r["id"]: r["details"]
            for r in self.db.execute(
                f"SELECT id, details FROM observations WHERE id IN ({_marks(found)})", [r["id"] for r in found]
            )
        }
        return [
            {
                "kind": "observation",
                "id": r["id"],
                "ts": r["ts"],
                "text": r["head"] + (f" (x{r['times']})" if r["times"] > 1 else "") + " " + details[r["id"]],
            }
            for r in found
        ]

    def _recalled_turns(self, terms: list[str], limit: int) -> list[dict[str, Any]]:
        """The model's side of archived turns matching, cut around the words; a decision taken
        again once, as its newest."""
        scores, rows = self._window(
            "turns_fts",
            "SELECT t.id FROM turns t WHERE t.id IN ({}) AND t.archived=1 AND t.role='assistant'",
            terms,
            None,
        )
        best = sorted((r["id"] for r in rows), key=lambda i: (-scores[i], -i))[: limit * 4]
        words = [t.strip('"') for t in terms]
        snippets = {
            r["id"]: {"id": r["id"], "ts": r["ts"], "text": excerpt(r["content"], words)}
            for r in self.db.execute(f"SELECT id, ts, content FROM turns WHERE id IN ({_marks(best)})", best)
        }
        newest: dict[str, Any] = {}
        for r in (snippets[i] for i in best):
            if r["text"] not in newest or r["id"] > newest[r["text"]]["id"]:
                newest[r["text"]] = r
        return list(newest.values())[:limit]

    def _window(
        self, fts: str, select: str, terms: list[str], before: int | None
    ) -> tuple[dict[int, float], list[Any]]:
        """The newest ``RECALL_WINDOW`` matches of any term, each scored by the terms it holds,
        a term weighing more the rarer it is among them, and the rows ``select`` keeps of them.

        Not bm25: its weights count every match in the whole index (42 ms for a common word
        in 2 M observations); these count the window's, so the cost is bounded by its size.
        FTS5 walks rowids newest first, so a fact repeated a thousand times months ago cannot
        crowd out this morning's."""
        ids = [
            r[0]
            for r in self.db.execute(
                f"SELECT rowid FROM {fts} WHERE {fts} MATCH ? AND rowid < ? ORDER BY rowid DESC LIMIT ?",
                (" OR ".join(terms), before if before is not None else 2**62, RECALL_WINDOW),
            )
        ]
        if not ids:
            return {}, []
        scores = dict.fromkeys(ids, 0.0)
        for term in terms:  # every match of a term in the window's span is in the window
            has = [
                r[0]
                for r in self.db.execute(
                    f"SELECT rowid FROM {fts} WHERE {fts} MATCH ? AND rowid BETWEEN ? AND ?", (term, ids[-1], ids[0])
                )
            ]
            weight = math.log(1 + len(ids) / len(has)) if has else 0.0
            for i in has:
                if i in scores:
                    scores[i] += weight
        return scores, self.db.execute(select.format(_marks(ids)), ids).fetchall()

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


def _marks(items: Sequence[Any]) -> str:
    return ",".join("?" * len(items))
