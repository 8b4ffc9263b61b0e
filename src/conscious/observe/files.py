"""Filesystem changes from watchfiles, honouring .gitignore and ignore globs, debounced.

A JUnit XML report written in the watched folder becomes a test-run observation instead of
a file change.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Sequence
from pathlib import Path

from watchfiles import Change, DefaultFilter, awatch

from conscious.config import REPORT_GLOBS
from conscious.model import Observation
from conscious.observe.ignore import IgnoreRules, global_excludes
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


class FileObserver:
    name = "files"

    def __init__(
        self,
        roots: Sequence[Path],
        ignore: Sequence[str],
        debounce_ms: int = 500,
        exclude: Sequence[Path] = (),
        reports: Sequence[str] = REPORT_GLOBS,
    ) -> None:
        self.roots = [r.resolve() for r in roots]
        self.exclude = [p.resolve() for p in exclude]
        """Our own files (journal and its -wal/-shm, lock, logs): a home inside a watched folder
        must not observe its own writes. Matched as path prefixes."""
        self.rules = IgnoreRules(self.roots, [*SCRATCH, *ignore], reports, excludes_file=global_excludes())
        self._default = DefaultFilter()
        self.debounce_ms = debounce_ms

    def _filter(self, change: Change, path: str) -> bool:
        p = Path(path)
        if any(path.startswith(str(e)) for e in self.exclude):
            return False
        if self.rules.ignored(p):
            return False
        # watchfiles' own list hides .pytest_cache and the like; a report there is still a report.
        return self._default(change, path) or self.rules.is_report(p)

    async def observe(self) -> AsyncIterator[Observation]:
        async for changes in awatch(
            *self.roots, watch_filter=self._filter, debounce=self.debounce_ms, step=50, recursive=True
        ):
            for change, raw in sorted(changes, key=lambda c: c[1]):
                path = Path(raw)
                root = self.rules.root_of(path)
                if path.name == ".gitignore" and root is not None:
                    self.rules.reload(path.parent)
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
