"""The ``Observer`` plug point: an async iterator of observations.

The orchestrator journals each observation as it arrives and cancels the iteration to stop.
The user's inbox needs no observer of its own: ``conscious tell`` writes straight into the
journal, which the loop reads.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Protocol

from conscious.model import Observation


class Observer(Protocol):
    name: str

    def observe(self) -> AsyncIterator[Observation]: ...
