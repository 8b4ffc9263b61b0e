"""Filesystem changes from watchfiles, honouring .gitignore and ignore globs, debounced.

A JUnit XML report written in the watched folder becomes a test-run observation instead of
a file change.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import AsyncIterator, Sequence
from pathlib import Path

from watchfiles import Change, DefaultFilter, awatch

from conscious.config import REPORT_GLOBS
from conscious.model import Observation, Severity
from conscious.observe import snapshot
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
        self._known: dict[str, snapshot.State] = {}
        self.polling = False
        """Polling instead of events (after the OS's watch limit was reached)."""
        self._told: set[str] = set()
        self.debounce_ms = debounce_ms

    def _filter(self, change: Change, path: str) -> bool:
        """What the watcher reports: not ours, not ignored, and not watchfiles' own noise —
        which hides .pytest_cache and the like, where a report is still a report."""
        p = Path(path)
        if any(path.startswith(str(e)) for e in self.exclude) or self.rules.ignored(p):
            return False
        return self._default(change, path) or self.rules.is_report(p)

    def _skip(self, path: Path, is_dir: bool) -> bool:
        """What a look at the tree passes over: the same as the watcher (a folder is entered unless
        ours or ignored, whatever watchfiles thinks of its files)."""
        if is_dir:
            raw = str(path)
            return any(raw.startswith(str(e)) for e in self.exclude) or self.rules.ignored(path)
        return not self._filter(Change.modified, str(path))

    async def observe(self) -> AsyncIterator[Observation]:
        # A look at the tree to compare with when events fail (``snapshot.py``).
        self._known = await asyncio.to_thread(snapshot.look, self.roots, self._skip)
        while True:
            try:
                async for changes in awatch(
                    *self.roots,
                    watch_filter=self._filter,
                    debounce=self.debounce_ms,
                    step=50,
                    recursive=True,
                    force_polling=True if self.polling else None,
                ):
                    # All of a batch, then yielded in one go: the loop sees a tree copied in as one
                    # burst, not a few files per folder as each folder's look lets it run.
                    found: list[Observation] = []
                    walked: set[str] = set()
                    for change, raw in sorted(changes, key=lambda c: c[1]):
                        if change == Change.added and raw in walked:
                            continue  # found by the look into its new folder already
                        self._note(raw, deleted=change == Change.deleted)
                        found.append(await self._observed(_EVENTS[change], Path(raw)))
                        if change == Change.added and os.path.isdir(raw):
                            found += await self._inside(raw, walked)
                    for obs in found:
                        yield obs
                return
            except Exception as exc:
                trouble = _trouble(exc)
                if trouble is None:
                    raise
                if trouble.startswith("limit") and not self.polling:
                    self.polling = True  # blind is worse than slow
                    yield _note_of("watch-limit", "; ".join(map(str, _leaves(exc)))[:300], "warning", WATCH_LIMIT_FIX)
                elif trouble.startswith("decode") and trouble not in self._told:
                    self._told.add(trouble)
                    yield _note_of("undecodable-path", trouble.removeprefix("decode "), "info", DECODE_NOTE)
            # What the failed events would have said: a look at the tree, compared with the last.
            after = await asyncio.to_thread(snapshot.look, self.roots, self._skip)
            before, self._known = self._known, after
            for event, raw in snapshot.changes(before, after):
                yield await self._observed(event, Path(raw))

    async def _inside(self, folder: str, walked: set[str]) -> list[Observation]:
        """What a new folder already holds: the watcher adds its watch only once it sees the folder,
        and whatever was written in it before that (a tree unpacked, ``mkdir -p a/b/c && touch``)
        has no event of its own — a burst lost its first files, a deep file was never seen."""
        found = await asyncio.to_thread(snapshot.look, [Path(folder)], self._skip)
        out = []
        for raw in sorted(found.keys() - self._known.keys()):
            self._known[raw] = found[raw]
            walked.add(raw)
            out.append(await self._observed("created", Path(raw)))
        return out

    def _note(self, raw: str, *, deleted: bool) -> None:
        if deleted:
            self._known.pop(raw, None)
            return
        with contextlib.suppress(OSError):
            st = os.stat(raw, follow_symlinks=False)
            self._known[raw] = (st.st_mtime_ns, st.st_size)

    async def _observed(self, event: str, path: Path) -> Observation:
        root = self.rules.root_of(path)
        if path.name == ".gitignore" and root is not None:
            self.rules.reload(path.parent)
        if event != "deleted" and path.suffix == ".xml" and path.is_file():
            report = await asyncio.to_thread(parse_junit, path)  # may be megabytes of XML
            if report is not None:
                return report
        return self.describe(event, path, root)

    @staticmethod
    def describe(event: str, path: Path, root: Path | None) -> Observation:
        details: dict[str, object] = {}
        if root is not None:
            details["relative"] = snapshot.shown(path.relative_to(root).as_posix())
        if event != "deleted":
            with contextlib.suppress(OSError):
                details["size"] = path.stat().st_size
        return Observation(source="filesystem", event_type=event, target=snapshot.shown(str(path)), details=details)


WATCH_LIMIT_FIX = (
    "the OS's limit on watched folders (inotify max_user_watches) is reached: this tree is polled instead "
    "(slower); raise it with `sudo sysctl fs.inotify.max_user_watches=524288`"
)
DECODE_NOTE = "a file name that is not valid UTF-8: its changes are found by looking at the tree"


def _leaves(exc: BaseException) -> list[BaseException]:
    if isinstance(exc, BaseExceptionGroup):
        return [leaf for inner in exc.exceptions for leaf in _leaves(inner)]
    return [exc]


def _trouble(exc: BaseException) -> str | None:
    """What went wrong in the watcher, if it is something it can go on after: a path it could not
    decode (``decode <path>``) or the OS's watch limit (``limit``); None for anything else."""
    for leaf in _leaves(exc):
        text = str(leaf)
        if "Unable to decode path" in text:
            return "decode " + text.split('"')[1] if text.count('"') >= 2 else "decode ?"
        if isinstance(leaf, OSError | RuntimeError) and ("watch limit" in text.lower() or "inotify" in text.lower()):
            return "limit"
    return None


def _note_of(event: str, target: str, severity: Severity, note: str) -> Observation:
    return Observation(source="system", event_type=event, target=target, severity=severity, details={"note": note})
