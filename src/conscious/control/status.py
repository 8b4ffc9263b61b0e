"""The journal and the daemon as the control plane shows them (the daemon's own part is
``LoopState.status``, published in the journal): ``status`` and the paged,
filterable lists of observations, decisions and tasks. One module, so that ``conscious status --json``,
``conscious log --json`` and the HTTP API give the same shapes (documented in docs/api.md).
"""

from __future__ import annotations

import json
from typing import Any

from conscious.control.listing import Listing
from conscious.gate.approvals import Approvals
from conscious.gate.budget import budget_use
from conscious.gate.policy import DAY
from conscious.journal import Journal, Kind, observation_from_row
from conscious.system.lock import daemon_running


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
        "journal_bytes": journal.size(),
        "quarantined": journal.quarantined(),
        "approvals": Approvals(journal).waiting(),
        "budget": budget_use(journal.recent_tasks(DAY), daemon.get("limits", {})),
    }


def page(journal: Journal, listing: Listing) -> dict[str, Any]:
    """Newest first, ``limit`` at a time (``Journal.page_rows``), each row in its public shape."""
    rows = journal.page_rows(
        listing.kind,
        limit=listing.limit,
        before=listing.before,
        after=listing.after,
        filters=listing.filters,
        routine=listing.routine,
    )
    return {**rows, "items": [_shape(journal, listing.kind, r) for r in rows["items"]]}


def _shape(journal: Journal, kind: Kind, row: dict[str, Any]) -> dict[str, Any]:
    if kind == "observations":
        return observation_from_row(row).model_dump(mode="json")
    if kind == "decisions":
        return decision_record(journal, row)
    return row


RESULT_KEYS = (
    "files_changed",
    "branch",
    "commits",
    "diffstat",
    "checks",
    "merged",
    "tools_denied",
    "denials",
    "worker",
    "worker_task_id",
    "workspace",
)
"""What `conscious log` shows of a task's result (``worker``: the host of the cluster that ran it)."""


def decision_record(journal: Journal, row: dict[str, Any]) -> dict[str, Any]:
    """A decision with the observations it covered and the delegation it made, if any (the shape
    of ``conscious log --json``)."""
    task = journal.task_of(row["id"])
    if task is not None and task["ended"] is not None:
        # What the task changed in its folder (its own doing, never decided as news), its branch,
        # and the tool calls the gate refused it.
        result = journal.result_of(task["id"], task["agent"]) or {}
        task.update({k: result.get(k) for k in RESULT_KEYS})
        if (worktree := journal.worktree(task["id"])) is not None:
            task["worktree_state"] = worktree["state"]
    return {
        **row,
        "metadata": json.loads(row["metadata"]) if row.get("metadata") else {},
        "observations": [o.model_dump(mode="json") for o in journal.observations(decision_id=row["id"])],
        "task": task,
    }
