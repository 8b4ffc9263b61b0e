"""A log written by a child process we do not control (llama-server's), kept to a size.

The child appends (``O_APPEND``), so the file can be copied aside and cut to nothing while it
writes: its next line lands at the new end. One older copy is kept, as ``<name>.1``.
"""

from __future__ import annotations

import contextlib
import shutil
from pathlib import Path

MAX_BYTES = 10_000_000


def rotate(path: Path, max_bytes: int = MAX_BYTES) -> bool:
    """Copy ``path`` to ``<path>.1`` and empty it when it is over ``max_bytes``; whether it did."""
    with contextlib.suppress(OSError):
        if path.stat().st_size > max_bytes:
            shutil.copyfile(path, path.with_name(path.name + ".1"))
            with path.open("r+b") as f:
                f.truncate(0)
            return True
    return False
