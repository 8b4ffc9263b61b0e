"""Paged, filterable lists of observations, decisions and tasks, as the control plane shows
them (``conscious log --json``, the API's list routes)."""

from __future__ import annotations

from typing import Any, Literal

from conscious.errors import BadQuery
from conscious.journal.store import Store

Kind = Literal["observations", "decisions", "tasks"]

FILTERS: dict[Kind, tuple[str, ...]] = {
    "observations": ("source", "event_type", "severity", "status", "target", "decision_id"),
    "decisions": ("action_type", "verdict", "origin", "target_agent", "priority"),
    "tasks": ("agent", "state", "decision_id"),
}
"""The columns each list can be filtered on (equality)."""
MAX_PAGE = 500


class Pages(Store):
    """One page of rows of one table."""

    def page_rows(
        self,
        kind: Kind,
        *,
        limit: int = 50,
        before: int | None = None,
        after: int | None = None,
        filters: dict[str, Any] | None = None,
        routine: bool = True,
    ) -> dict[str, Any]:
        """Newest first, ``limit`` at a time: ``before`` pages back; ``after`` gives only newer rows
        (oldest first, for following). ``next_before`` is the cursor of the next older page.
        ``routine=False`` leaves out the decisions made by rule, without the model."""
        limit = max(1, min(limit, MAX_PAGE))
        where, args = [], []
        for column, value in (filters or {}).items():
            if column not in FILTERS[kind]:
                raise BadQuery(f"{kind} cannot be filtered on {column!r} (only: {', '.join(FILTERS[kind])})")
            if value is not None:
                where.append(f"{column} = ?")
                args.append(value)
        if kind == "decisions" and not routine:
            where.append("origin != 'rule'")
        if before is not None:
            where.append("id < ?")
            args.append(before)
        if after is not None:
            where.append("id > ?")
            args.append(after)
        clause = f"WHERE {' AND '.join(where)}" if where else ""
        order = "ASC" if after is not None else "DESC"
        query = f"SELECT * FROM {kind} {clause} ORDER BY id {order} LIMIT ?"
        rows = [dict(r) for r in self.db.execute(query, (*args, limit))]
        more = len(rows) == limit and after is None
        return {"items": rows, "next_before": rows[-1]["id"] if more else None}
