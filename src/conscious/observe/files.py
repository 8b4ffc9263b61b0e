"""Filesystem changes from watchfiles, honouring .gitignore and ignore globs, debounced.

A JUnit XML report written in the watched folder becomes a test-run observation instead of
a file change.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Sequence
from pathlib import Path

import pathspec
from watchfiles import Change, DefaultFilter, awatch

from conscious.model import Observation
from conscious.observe.junit import parse_junit

_EVENTS = {Change.added: "created", Change.modified: "modified", Change.deleted: "deleted"}

SCRATCH: tuple[str, ...] = (
    "sed[A-Za-z0-9][A-Za-z0-9][A-Za-z0-9][A-Za-z0-9][A-Za-z0-9][A-Za-z0-9]",  # sed -i
    "*.sw[a-p]",  # vim swap files
    "4913",  # vim's probe that a folder is writable
    "*~",
    ".#*",
    "#*#",  # emacs
    ".goutputstream-*",  # GLib's safe save (gedit, …)
    "*___jb_tmp___",
    "*___jb_old___",  # JetBrains' safe write
    ".~lock.*#",  # LibreOffice
)
"""Editor and tool temp files, always ignored: how a file gets saved is not news."""


class IgnoreRules:
    """Git-style ignore rules per watched root: its .gitignore plus configured globs."""

    def __init__(self, roots: Sequence[Path], globs: Sequence[str]) -> None:
        self.globs = list(globs)
        self.specs: dict[Path, pathspec.GitIgnoreSpec] = {}
        for root in roots:
            self.reload(root)

    def reload(self, root: Path) -> None:
        lines = list(self.globs)
        gitignore = root / ".gitignore"
        if gitignore.is_file():
            with contextlib.suppress(OSError):
                lines += gitignore.read_text(encoding="utf-8", errors="replace").splitlines()
        self.specs[root] = pathspec.GitIgnoreSpec.from_lines(lines)

    def root_of(self, path: Path) -> Path | None:
        for root in self.specs:
            if path == root or root in path.parents:
                return root
        return None

    def ignored(self, path: Path) -> bool:
        root = self.root_of(path)
        if root is None:
            return True
        rel = path.relative_to(root).as_posix()
        spec = self.specs[root]
        return spec.match_file(rel) or (path.is_dir() and spec.match_file(rel + "/"))


class FileObserver:
    name = "files"

    def __init__(
        self, roots: Sequence[Path], ignore: Sequence[str], debounce_ms: int = 500, exclude: Sequence[Path] = ()
    ) -> None:
        self.roots = [r.resolve() for r in roots]
        self.exclude = [p.resolve() for p in exclude]
        """Our own files (journal and its -wal/-shm, lock, logs): a home inside a watched folder
        must not observe its own writes. Matched as path prefixes."""
        self.rules = IgnoreRules(self.roots, [*SCRATCH, *ignore])
        self.debounce_ms = debounce_ms

    def _filter(self, change: Change, path: str) -> bool:
        p = Path(path)
        if any(path.startswith(str(e)) for e in self.exclude):
            return False
        return DefaultFilter()(change, path) and not self.rules.ignored(p)

    async def observe(self) -> AsyncIterator[Observation]:
        async for changes in awatch(
            *self.roots, watch_filter=self._filter, debounce=self.debounce_ms, step=50, recursive=True
        ):
            for change, raw in sorted(changes, key=lambda c: c[1]):
                path = Path(raw)
                root = self.rules.root_of(path)
                if path.name == ".gitignore" and root is not None:
                    self.rules.reload(root)
                if change != Change.deleted and path.suffix == ".xml" and path.is_file():
                    report = await asyncio.to_thread(parse_junit, path)  # may be megabytes of XML
                    if report is not None:
                        yield report
                        continue
                yield self.describe(change, path, root)

    @staticmethod
    def describe(change: Change, path: Path, root: Path | None) -> Observation:
        details: dict[str, object] = {}
        if root is not None:
            details["relative"] = path.relative_to(root).as_posix()
        if change != Change.deleted:
            with contextlib.suppress(OSError):
                details["size"] = path.stat().st_size
        return Observation(source="filesystem", event_type=_EVENTS[change], target=str(path), details=details)
