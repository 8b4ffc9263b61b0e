"""The journal and the daemon as the control plane shows them: ``status`` and the paged,
filterable lists of observations, decisions and tasks. One module, so that ``conscious status --json``,
``conscious log --json`` and the HTTP API give the same shapes (documented in docs/api.md).
"""

from __future__ import annotations

import json
import os
from datetime import datetime
from typing import TYPE_CHECKING, Any, Literal

from conscious.gate.approvals import Approvals
from conscious.gate.budget import budget_use
from conscious.gate.policy import DAY
from conscious.journal import Journal, observation_from_row
from conscious.system.lock import daemon_running

if TYPE_CHECKING:
    from conscious.loop.orchestrator import Orchestrator

Kind = Literal["observations", "decisions", "tasks"]

FILTERS: dict[Kind, tuple[str, ...]] = {
    "observations": ("source", "event_type", "severity", "status", "target", "decision_id"),
    "decisions": ("action_type", "verdict", "origin", "target_agent", "priority"),
    "tasks": ("agent", "state", "decision_id"),
}
"""The columns each list can be filtered on (equality)."""
MAX_PAGE = 500


def status_report(journal: Journal) -> dict[str, Any]:
    """What ``conscious status --json`` prints and ``GET /api/status`` returns."""
    ident = journal.identity()
    daemon: dict[str, Any] = dict(ident.get("daemon", {}))
    # The lock, not the last published state: a killed daemon never said it stopped.
    alive = daemon_running(journal.path)
    return {
        **daemon,
        "running": alive,
        "counts": journal.counts(),
        "first_start": ident.get("first_start"),
        "sessions": ident.get("sessions"),
        "journal": str(journal.path),
        "quarantined": journal.quarantined(),
        "approvals": Approvals(journal).waiting(),
        "budget": budget_use(journal.recent_tasks(DAY), daemon.get("limits", {})),
    }


def daemon_state(o: Orchestrator, running: bool = True) -> dict[str, Any]:
    """The running daemon's own part of the status (published in the journal, served live)."""
    window = o.thinker.window
    problems = o.problems()
    return {
        "running": running,
        "pid": os.getpid(),
        "started": o.started.isoformat(),
        "updated": datetime.now().astimezone().isoformat(),
        "health": "degraded" if problems else "ok",
        "problems": problems,
        "llm_url": o.connection.backend.url,
        "server": o.connection.info.server,
        "model": o.connection.info.model,
        "profile": o.connection.profile.name if o.connection.profile else None,
        "context_length": o.connection.context_length,
        "context_budget": window.budget,
        "context_used": window.used,
        "memory_tokens": window.memory_tokens,
        "turns": len(window.turns),
        "exact_tokens": o.connection.backend.exact_tokens,
        "watch": [str(p) for p in o.config.watch],
        "running_tasks": len(o.dispatcher.running),
        "limits": o.gate.limits(),
        "session": o.session,
        "activity": o.activity,
        "checks": o.checks,
        "stalled": o.dispatcher.stalled_report(),
        **o.published,
    }


def page(
    journal: Journal,
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
            raise ValueError(f"{kind} cannot be filtered on {column!r} (only: {', '.join(FILTERS[kind])})")
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
    rows = [dict(r) for r in journal.db.execute(query, (*args, limit))]
    items = [_shape(journal, kind, r) for r in rows]
    more = len(rows) == limit and after is None
    return {"items": items, "next_before": rows[-1]["id"] if more else None}


def _shape(journal: Journal, kind: Kind, row: dict[str, Any]) -> dict[str, Any]:
    if kind == "observations":
        return observation_from_row(row).model_dump(mode="json")
    if kind == "decisions":
        return decision_record(journal, row)
    return row


def decision_record(journal: Journal, row: dict[str, Any]) -> dict[str, Any]:
    """A decision with the observations it covered and the delegation it made, if any (the shape
    of ``conscious log --json``)."""
    task = journal.db.execute("SELECT * FROM tasks WHERE decision_id = ?", (row["id"],)).fetchone()
    return {
        **row,
        "metadata": json.loads(row["metadata"]) if row.get("metadata") else {},
        "observations": [o.model_dump(mode="json") for o in journal.observations(decision_id=row["id"])],
        "task": dict(task) if task is not None else None,
    }
