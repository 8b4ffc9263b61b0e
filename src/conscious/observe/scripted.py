"""``ScriptedObserver``: the ``Observer`` plug point's in-tree fake (as ``ScriptedBackend``
is the backend's). Each call to ``observe`` plays the next script — observations to yield,
exceptions to raise — so a test can stage an observer that fails, is restarted, then works."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence

from conscious.model import Observation

Step = Observation | BaseException


class ScriptedObserver:
    def __init__(self, name: str, *scripts: Sequence[Step], hold: bool = True) -> None:
        """``scripts``: one per start (the last is played again on later starts); ``hold``: stay
        open after a script ends, as a real observer does, instead of finishing."""
        self.name = name
        self.scripts = [list(s) for s in scripts] or [[]]
        self.hold = hold
        self.starts = 0

    async def observe(self) -> AsyncIterator[Observation]:
        script = self.scripts[min(self.starts, len(self.scripts) - 1)]
        self.starts += 1
        for step in script:
            if isinstance(step, BaseException):
                raise step
            yield step.model_copy()
        if self.hold:
            await asyncio.Event().wait()
