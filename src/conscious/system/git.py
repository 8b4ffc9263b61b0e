"""Git as the user's own git: subprocesses, their words in our errors, nothing cached.

Every call runs with the user's configuration (their identity signs a merge) except hooks
and signing of our own bookkeeping commits, which say so in their message.
"""

from __future__ import annotations

import os
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from conscious.errors import GitError, MergeConflict

TIMEOUT = 60.0
BOOKKEEPING = ("-c", "user.name=conscious", "-c", "user.email=conscious@localhost", "-c", "commit.gpgsign=false")
"""Who signs the commits conscious makes itself (an agent's leftover changes)."""
PLAIN_DIFF = ("--no-ext-diff", "--no-textconv")
"""A task's diff is read as text: no program a diff driver names runs on the agent's files."""


def toplevel(folder: Path) -> Path | None:
    """The work tree ``folder`` is in, or None (not a repository, or git missing)."""
    try:
        found = Git(folder).run("rev-parse", "--show-toplevel").strip()
    except GitError:
        return None
    return Path(found) if found else None


@dataclass(frozen=True)
class Git:
    """One work tree (the user's checkout, or one of our worktrees)."""

    root: Path

    def run(self, *args: str, check: bool = True, stdin: str | None = None, env: dict[str, str] | None = None) -> str:
        try:
            out = subprocess.run(
                ["git", "-C", str(self.root), *args],
                capture_output=True,
                text=True,
                timeout=TIMEOUT,
                check=False,
                input=stdin,
                env={**os.environ, **env} if env else None,
            )
        except FileNotFoundError:
            raise GitError("git is not installed") from None
        except OSError as exc:
            raise GitError(f"git could not run in {self.root}: {exc.strerror or exc}") from None
        except subprocess.TimeoutExpired:
            raise GitError(f"git {args[0]} took longer than {TIMEOUT:.0f}s in {self.root}") from None
        if check and out.returncode != 0:
            words = (out.stderr.strip() or out.stdout.strip() or f"exit code {out.returncode}").splitlines()
            said = next((w for w in words if w.startswith(("error:", "fatal:"))), words[0])
            said = said.removeprefix("error: ").removeprefix("fatal: ")
            if listed := [w.strip() for w in words if w.startswith("\t")]:
                said += " " + ", ".join(listed[:5])  # the files git names on the lines after
            raise GitError(f"git {args[0]}: {said}")
        return out.stdout

    def ok(self, *args: str) -> bool:
        try:
            self.run(*args)
        except GitError:
            return False
        return True

    def head(self) -> str:
        return self.run("rev-parse", "HEAD").strip()

    def current_branch(self) -> str | None:
        name = self.run("symbolic-ref", "--quiet", "--short", "HEAD", check=False).strip()
        return name or None

    def has_commits(self) -> bool:
        return self.ok("rev-parse", "--verify", "--quiet", "HEAD")

    def dirty(self) -> list[str]:
        """Paths with changes not committed (tracked or not, ignored files aside)."""
        return [line[3:] for line in self.run("status", "--porcelain", "--untracked-files=all").splitlines() if line]

    def commit_all(self, message: str) -> str | None:
        """Commit every change as conscious (hooks off: this is bookkeeping, not the agent's
        commit); the new commit, or None when there was nothing to commit."""
        if not self.dirty():
            return None
        self.run("add", "-A")
        self.run(*BOOKKEEPING, "commit", "--quiet", "--no-verify", "-m", message)
        return self.head()

    def snapshot(self, message: str) -> str | None:
        """A commit of the work tree as it is now — uncommitted and untracked (not ignored) files
        included — on top of HEAD, made with a private index: the user's index, tree and branch
        are not touched. None when there is nothing uncommitted."""
        if not self.dirty():
            return None
        with tempfile.TemporaryDirectory(prefix="conscious-index-") as tmp:
            index = {"GIT_INDEX_FILE": str(Path(tmp) / "index")}
            self.run("read-tree", "HEAD", env=index)
            self.run("add", "-A", env=index)
            tree = self.run("write-tree", env=index).strip()
        return self.run(*BOOKKEEPING, "commit-tree", tree, "-p", "HEAD", "-m", message).strip()

    def apply(self, patch: str) -> None:
        """Apply ``patch`` to the work tree (not committed); refused whole, touching nothing,
        when any part of it does not apply."""
        self.run("apply", "--check", "-", stdin=patch)
        self.run("apply", "-", stdin=patch)

    def commits(self, base: str, tip: str) -> list[str]:
        """``<short sha> <subject>`` of the commits on ``tip`` since ``base``, oldest first."""
        return self.run("log", "--reverse", "--format=%h %s", f"{base}..{tip}").splitlines()

    def diffstat(self, base: str, tip: str) -> str:
        return self.run("diff", *PLAIN_DIFF, "--stat", f"{base}...{tip}").rstrip()

    def diff(self, base: str, tip: str, *, binary: bool = False) -> str:
        return self.run("diff", *PLAIN_DIFF, *(["--binary"] if binary else []), f"{base}...{tip}")

    def conflicts(self, tip: str) -> list[str]:
        """Paths that would conflict if ``tip`` were merged into HEAD (nothing is touched)."""
        out = subprocess.run(
            ["git", "-C", str(self.root), "merge-tree", "--write-tree", "--name-only", "--no-messages", "HEAD", tip],
            capture_output=True,
            text=True,
            timeout=TIMEOUT,
            check=False,
        )
        if out.returncode == 0:
            return []
        if out.returncode == 1:
            return [line for line in out.stdout.splitlines()[1:] if line.strip()]
        raise GitError(f"git merge-tree: {out.stderr.strip() or out.returncode}")

    def merge(self, tip: str, message: str) -> str:
        """Merge ``tip`` into the checked-out branch: fast-forward when possible, else a merge
        commit. Refused, with the tree untouched, when it would conflict or when the user's own
        uncommitted changes are in the way. Returns how it merged."""
        if (paths := self.conflicts(tip)) != []:
            raise MergeConflict(f"{tip} conflicts with {self.current_branch() or 'HEAD'} in {', '.join(paths[:5])}")
        if self.ok("merge-base", "--is-ancestor", "HEAD", tip):
            self.run("merge", "--ff-only", "--quiet", tip)
            return "fast-forward"
        self.run("merge", "--no-ff", "--no-edit", "--quiet", "-m", message, tip)
        return "merge commit"

    def is_merged(self, tip: str) -> bool:
        return self.ok("merge-base", "--is-ancestor", tip, "HEAD")

    def clone_for_task(self, path: Path, branch: str, base: str) -> None:
        """A clone of this repository at ``path`` on a new ``branch`` made at ``base``, borrowing
        its objects (``--shared``: seconds even for a large repository, nothing copied). The
        branch is made here first: it keeps ``base`` from being collected, and it is where the
        task's work is fetched back to."""
        self.run("branch", "--quiet", branch, base)
        self.run("clone", "--quiet", "--shared", "--single-branch", "--no-tags", "--branch", branch, ".", str(path))
        # Nothing of the clone points back here: this repository is out of the agent's reach.
        Git(path).run("remote", "remove", "origin")

    def fetch_task(self, clone: Path, branch: str) -> None:
        """Bring ``branch`` from a task's clone into this repository. The only git run against
        the clone is upload-pack, which git keeps safe in an untrusted repository (no hooks, and
        none of its config that runs commands); lazy fetches are refused as well."""
        self.run(
            "fetch",
            "--quiet",
            "--no-tags",
            "--no-recurse-submodules",
            "--no-write-fetch-head",
            str(clone),
            f"+refs/heads/{branch}:refs/heads/{branch}",
            env={"GIT_NO_LAZY_FETCH": "1", "GIT_TERMINAL_PROMPT": "0"},
        )

    def worktree_add(self, path: Path, branch: str, base: str) -> None:
        if not path.exists() and self.has_worktree(path):
            # The folder of an earlier worktree at this path was deleted (a conscious home
            # removed, or a new one laid out as the old): git still holds the path and would
            # refuse it, after making the branch. Let it forget worktrees whose folders are gone
            # (never a locked one) first.
            self.run("worktree", "prune")
        self.run("worktree", "add", "--quiet", "-b", branch, str(path), base)

    def has_worktree(self, path: Path) -> bool:
        """Whether ``path`` is a linked worktree of this repository (as this repository says)."""
        listed = self.run("worktree", "list", "--porcelain").splitlines()
        return any(line.removeprefix("worktree ") in (str(path), os.path.realpath(path)) for line in listed)

    def worktree_remove(self, path: Path) -> None:
        if path.exists():
            self.run("worktree", "remove", "--force", str(path))
        self.run("worktree", "prune")

    def delete_branch(self, branch: str) -> None:
        if self.ok("rev-parse", "--verify", "--quiet", f"refs/heads/{branch}"):
            self.run("branch", "-D", branch)
