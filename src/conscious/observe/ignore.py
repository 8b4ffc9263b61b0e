"""What the file observer does not see: git's own ignore rules at every level, the configured
globs — except test reports, which are seen wherever projects write them.

Git reads ``.gitignore`` in every folder (a deeper file overrides a shallower one), then
``.git/info/exclude``, then the user's global excludes file; a folder that is ignored hides
everything under it. Reading only the top ``.gitignore`` saw files git ignores and missed
none of the ones it keeps, but it also hid every report: ``reports/``, ``build/``,
``target/surefire-reports/`` are ignored in almost every project, and that is where test
runners write. So a path matching a report glob skips git's rules (not the configured ones).
"""

from __future__ import annotations

import contextlib
import os
import subprocess
from collections.abc import Sequence
from pathlib import Path

import pathspec

from conscious.config import REPORT_GLOBS


def _spec(lines: Sequence[str]) -> pathspec.GitIgnoreSpec | None:
    lines = [line for line in lines if line.strip() and not line.lstrip().startswith("#")]
    return pathspec.GitIgnoreSpec.from_lines(lines) if lines else None


def _read(path: Path) -> list[str]:
    with contextlib.suppress(OSError, ValueError):
        if path.is_file():
            return path.read_text(encoding="utf-8", errors="replace").splitlines()
    return []


def global_excludes() -> Path | None:
    """The user's global excludes file: ``core.excludesFile``, else git's default location."""
    with contextlib.suppress(OSError, subprocess.SubprocessError):
        # --global only: the user's own file, never a repository's config.
        out = subprocess.run(
            ["git", "config", "--global", "--path", "--get", "core.excludesFile"],
            capture_output=True,
            text=True,
            timeout=5,
            check=False,
        ).stdout.strip()
        if out:
            return Path(out).expanduser()
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "git" / "ignore"


class IgnoreRules:
    """Git's ignore rules for each watched root, the configured globs, and the report globs."""

    def __init__(
        self,
        roots: Sequence[Path],
        globs: Sequence[str],
        reports: Sequence[str] = REPORT_GLOBS,
        excludes_file: Path | None = None,
    ) -> None:
        self.roots = list(roots)
        self.forced = _spec(list(globs))
        self.reports = _spec(list(reports))
        self.excludes_file = excludes_file
        self._folders: dict[Path, pathspec.GitIgnoreSpec | None] = {}
        """Each folder's own ``.gitignore``, read once (again when it changes)."""
        self._hidden: dict[Path, bool] = {}
        """Whether a folder is ignored (then so is everything under it)."""
        self._base: dict[Path, list[pathspec.GitIgnoreSpec]] = {}
        for root in self.roots:
            self.reload(root)

    def reload(self, folder: Path) -> None:
        """A ``.gitignore`` (or the exclude file) changed under ``folder``: read again."""
        self._folders.pop(folder, None)
        self._hidden.clear()
        if folder in self.roots:
            lowest = [_read(folder / ".git" / "info" / "exclude")]
            if self.excludes_file is not None:
                lowest.append(_read(self.excludes_file))
            self._base[folder] = [s for s in map(_spec, lowest) if s is not None]

    def root_of(self, path: Path) -> Path | None:
        for root in self.roots:
            if path == root or root in path.parents:
                return root
        return None

    def is_report(self, path: Path) -> bool:
        root = self.root_of(path)
        if root is None or path == root or self.reports is None:
            return False
        return self.reports.match_file(path.relative_to(root).as_posix())

    def ignored(self, path: Path) -> bool:
        root = self.root_of(path)
        if root is None:
            return True
        if path == root:
            return False
        rel = path.relative_to(root).as_posix()
        is_dir = path.is_dir()
        if self.forced is not None and self.forced.match_file(rel + "/" if is_dir else rel):
            return True
        if not is_dir and self.reports is not None and self.reports.match_file(rel):
            return False
        return self._folder_hidden(root, path.parent) or self._git(root, path, is_dir)

    def _folder_hidden(self, root: Path, folder: Path) -> bool:
        if folder == root or root not in folder.parents:
            return False
        hidden = self._hidden.get(folder)
        if hidden is None:
            hidden = self._folder_hidden(root, folder.parent) or self._git(root, folder, True)
            if len(self._hidden) > 100_000:
                self._hidden.clear()
            self._hidden[folder] = hidden
        return hidden

    def _git(self, root: Path, path: Path, is_dir: bool) -> bool:
        """Git's verdict on this path alone: the deepest ``.gitignore`` that says anything wins."""
        parts = path.relative_to(root).parts
        for depth in range(len(parts) - 1, -1, -1):
            spec = self._folder_spec(root.joinpath(*parts[:depth]))
            if spec is not None:
                rel = "/".join(parts[depth:]) + ("/" if is_dir else "")
                include = spec.check_file(rel).include
                if include is not None:
                    return include
        rel = "/".join(parts) + ("/" if is_dir else "")
        for spec in self._base.get(root, []):
            include = spec.check_file(rel).include
            if include is not None:
                return include
        return False

    def _folder_spec(self, folder: Path) -> pathspec.GitIgnoreSpec | None:
        if folder not in self._folders:
            if len(self._folders) > 100_000:
                self._folders.clear()
            self._folders[folder] = _spec(_read(folder / ".gitignore"))
        return self._folders[folder]
