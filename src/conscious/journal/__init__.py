"""The journal: the one place with SQL. See ``store.py`` for the facade."""

from conscious.journal.store import (
    BUSY_TIMEOUT,
    Journal,
    JournaledTurn,
    insert_observation,
    observation_from_row,
    search_terms,
    set_task,
)

__all__ = [
    "BUSY_TIMEOUT",
    "Journal",
    "JournaledTurn",
    "insert_observation",
    "observation_from_row",
    "search_terms",
    "set_task",
]
