"""A command run under watch (``conscious watch -- pytest -q``): how it ended, as one observation.

A process the daemon only sees in the process table ends as "vanished": no exit code, no output,
so a test run that failed and one that simply finished looked alike. A command run under watch
says both: a non-zero exit is an error with the tail of its output (what a person would read
first), a zero exit is routine.
"""

from __future__ import annotations

import shlex
from collections.abc import Sequence

from conscious.model import Observation, clean_text

TAIL_LINES = 30
TAIL_CHARS = 2000


def ended(argv: Sequence[str], code: int, tail: Sequence[str], seconds: float, cwd: str) -> Observation:
    shown = clean_text(shlex.join(argv))
    text = clean_text("\n".join(line.rstrip() for line in tail[-TAIL_LINES:]))[-TAIL_CHARS:]
    return Observation(
        source="process",
        event_type="exited" if code == 0 else "failed",
        target=shown[:200],
        severity="info" if code == 0 else "error",
        details={"exit_code": code, "seconds": round(seconds, 1), "cwd": cwd, "tail": text},
    )
