"""What the file observer knows of a tree without events: each file's size and modification
time, and what changed between two looks.

watchfiles fails a whole batch of events when one path in it is not valid UTF-8 ("Unable to
decode path"): every change written beside such a file was lost, and each write to it killed
the observer again. Names like that occur in real repositories (test fixtures, old archives).
When events fail, a look at the tree says what they would have said. Names are decoded as
``os.fsdecode`` does (surrogate escapes) and shown escaped (``bad\\xff.txt``).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path

State = tuple[int, int]
"""A file's modification time (ns) and size."""
LIMIT = 500_000
"""Files a look keeps at most: past this, a tree is too large to look at instead of events."""


def shown(path: str) -> str:
    """A path as text that can be journaled: undecodable bytes as ``\\xff``."""
    return os.fsencode(path).decode("utf-8", "backslashreplace")


def look(roots: list[Path], skip: Callable[[Path, bool], bool]) -> dict[str, State]:
    """Every file under the roots that ``skip`` keeps (``skip(path, is_dir)``), with its state."""
    found: dict[str, State] = {}
    for root in roots:
        for path, state in _walk(str(root), skip):
            found[path] = state
            if len(found) >= LIMIT:
                return found
    return found


def _walk(folder: str, skip: Callable[[Path, bool], bool]) -> Iterator[tuple[str, State]]:
    stack = [folder]
    while stack:
        current = stack.pop()
        try:
            entries = list(os.scandir(current))
        except OSError:
            continue
        for entry in entries:
            try:
                is_dir = entry.is_dir(follow_symlinks=False)
                if skip(Path(entry.path), is_dir):
                    continue
                if is_dir:
                    stack.append(entry.path)
                elif entry.is_file(follow_symlinks=False):
                    st = entry.stat(follow_symlinks=False)
                    yield entry.path, (st.st_mtime_ns, st.st_size)
            except OSError:
                continue


def changes(before: dict[str, State], after: dict[str, State]) -> list[tuple[str, str]]:
    """(event, path) for what differs: created, modified, deleted; in path order."""
    out = [("created", p) for p in after.keys() - before.keys()]
    out += [("deleted", p) for p in before.keys() - after.keys()]
    out += [("modified", p) for p in after.keys() & before.keys() if after[p] != before[p]]
    return sorted(out, key=lambda c: c[1])
