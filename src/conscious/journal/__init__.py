"""The SQLite journal: the loop's buffer, memory and audit log, and the bus between processes.

Every observation is written here before it is considered. The CLI (``tell``, ``log``,
``status``) talks to a daemon whose API is down only through this file; WAL lets readers and
one writer share it across processes. The schema migrates itself forward on open
(``schema.py``). This package is the only place with SQL: ``Journal`` is the file
(``store.py``) with one module of statements per concern.
"""

from __future__ import annotations

from conscious.journal.approvals import ApprovalRequests
from conscious.journal.cluster import Cluster, Key
from conscious.journal.decisions import Committed, Decisions
from conscious.journal.memory import Recall, search_terms
from conscious.journal.observations import Observations
from conscious.journal.pages import FILTERS, Kind, Pages
from conscious.journal.quarantine import Quarantine
from conscious.journal.retention import Compacted, Retention
from conscious.journal.rows import JournaledTurn, insert_observation, observation_from_row, set_task
from conscious.journal.series import Series
from conscious.journal.store import BUSY_TIMEOUT
from conscious.journal.tasks import Tasks
from conscious.journal.worktrees import Worktrees


class Journal(
    Observations, Decisions, Tasks, Recall, Quarantine, ApprovalRequests, Pages, Worktrees, Series, Cluster, Retention
):
    """A journal file with every concern's statements. Cheap to open; one per process (and one per thread)."""


__all__ = [
    "BUSY_TIMEOUT",
    "FILTERS",
    "Committed",
    "Compacted",
    "Journal",
    "JournaledTurn",
    "Key",
    "Kind",
    "insert_observation",
    "observation_from_row",
    "search_terms",
    "set_task",
]
