"""A task's clone once its agent is done: checked, and its loose work committed — in its cell.

The clone belonged to the agent; anything in it (config, hooks, attributes, a ``.git`` swapped
for a pointer to your repository) may be a trap for whoever runs git there next. So the daemon
looks at it only as files (``tampered``, ``unrecordable``), and the one git command that must
run in it — committing what the agent left — runs inside the task's own wall (``commit_left``).
"""

from __future__ import annotations

import os
import stat
from collections.abc import Sequence
from pathlib import Path

from conscious.delegate.base import tail
from conscious.delegate.sandbox import Cell
from conscious.errors import GitError
from conscious.system.git import BOOKKEEPING
from conscious.system.process import run_process

COMMIT_TIMEOUT = 300.0
KINDS = {stat.S_IFIFO: "a FIFO", stat.S_IFSOCK: "a socket", stat.S_IFCHR: "a device", stat.S_IFBLK: "a device"}

# `$0` is the message, the rest are paths git cannot record (left out by name, so that the
# rest of the work is still committed). The last line out is the new commit, if any.
_COMMIT = """set -e
git add -A -- . "$@"
if ! git diff --cached --quiet; then
  git {bookkeeping} commit --quiet --no-verify -m "$0"
  git rev-parse HEAD
fi
"""


def tampered(clone: Path) -> str | None:
    """Why ``clone`` is no longer the repository the daemon made (None: it is)."""
    git = clone / ".git"
    if git.is_symlink() or not git.is_dir():
        return ".git is no longer the folder made for the task (a link, or a file pointing elsewhere)"
    for name in ("objects", "refs"):
        if (git / name).is_symlink() or not (git / name).is_dir():
            return f".git/{name} was replaced"
    if (git / "commondir").exists():
        return ".git was made to share another repository's (a commondir file)"
    return None


def unrecordable(clone: Path) -> list[tuple[str, str]]:
    """(path, kind) of what is in the clone that git cannot record (FIFOs, sockets, devices)."""
    found: list[tuple[str, str]] = []
    stack = [clone]
    while stack:
        folder = stack.pop()
        try:
            entries = list(os.scandir(folder))
        except OSError:
            continue
        for entry in entries:
            if entry.name == ".git" and folder == clone:
                continue
            mode = entry.stat(follow_symlinks=False).st_mode
            if stat.S_ISDIR(mode):
                stack.append(Path(entry.path))
            elif (kind := KINDS.get(stat.S_IFMT(mode))) is not None:
                found.append((os.path.relpath(entry.path, clone), kind))
    return sorted(found)


async def commit_left(cell: Cell, clone: Path, message: str, odd: Sequence[tuple[str, str]] = ()) -> str | None:
    """Commit what the agent left uncommitted, in the task's cell; the new commit, or None."""
    script = _COMMIT.format(bookkeeping=" ".join(BOOKKEEPING))
    excluded = [f":(exclude,literal){path}" for path, _ in odd]
    result = await run_process(
        cell.wrap(["sh", "-c", script, message, *excluded]), cwd=clone, timeout=COMMIT_TIMEOUT, grace=5.0
    )
    if result.exit_code != 0:
        raise GitError(f"committing what the agent left failed: {tail(result.stderr or result.stdout, 300)}")
    lines = result.stdout.strip().splitlines()
    return lines[-1] if lines else None
