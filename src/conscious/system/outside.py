"""Which words of a command lead out of the folder it runs in: one reading, shared by the gate
(which refuses a command naming a path outside the watched folders) and by the candidates (which
quote observed evidence so that its paths do not read as such)."""

from __future__ import annotations

import re
from collections.abc import Sequence

_SEPARATORS = r"""\s'"`;|&()<>=,"""
SEPARATORS = re.compile(f"[{_SEPARATORS}]+")
WORD = re.compile(f"[^{_SEPARATORS}]+")


def leads_out(word: str) -> bool:
    """Absolute, ``~``, or with a ``..`` step; a URL is not a path."""
    return "://" not in word and (word.startswith(("/", "~")) or ".." in word.split("/"))


def relative(path: str, roots: Sequence[str]) -> str:
    """``path`` relative to the watched folder it is in (unchanged when it is in none)."""
    for root in roots:
        if path.startswith(root.rstrip("/") + "/"):
            return path[len(root.rstrip("/")) + 1 :]
    return path
