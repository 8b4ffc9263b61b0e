"""Where a task works: the watched folder itself (``InPlace``), or a clone of its own on a new
branch ``conscious/task-<id>``, made from HEAD in the state directory and never inside the
watched tree (``Clones``). What a cloned task did comes back with its result: the branch, its
commits, a diffstat and whether its checks passed; you merge or discard it (``branches.py``).
A retry of the same item continues in the same clone and session.

A clone, not a linked worktree: a worktree shares refs, stash, config and hooks with your
repository, so an agent could delete your branches or plant a command your own ``git status``
runs. The clone's are its own; your repository is hidden from its cell but for the objects it
borrows, read-only. From the moment the agent starts, the clone is the agent's: the daemon
runs no git in it. What the agent left uncommitted is committed inside the task's cell; the
branch is then fetched into your repository (``Git.fetch_task``), and everything after —
diffstat, checks' verdicts, ``diff``, ``merge``, ``discard``, the next task's clone — works
from there. Tasks begun in a linked worktree by an older version still finish and merge.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Collection, Sequence
from dataclasses import dataclass, replace
from datetime import timedelta
from pathlib import Path
from typing import Any, Literal, Protocol

from conscious.delegate.base import Outcome, tail
from conscious.delegate.branches import BranchesJournal, merge, remove
from conscious.delegate.clone import commit_left, tampered, unrecordable
from conscious.delegate.review import held
from conscious.delegate.sandbox import Cell
from conscious.errors import CommandNotFound, ConsciousError, GitError
from conscious.journal.worktrees import LIVE, WorktreeState
from conscious.model import Decision, Observation, Task, utcnow
from conscious.system.git import Git
from conscious.system.process import run_process

log = logging.getLogger("conscious")

COMMITS_SHOWN = 10


@dataclass(frozen=True)
class Place:
    cwd: Path
    """Where the agent starts."""
    root: Path
    """What its tools may touch: the worktree, or the watched folder."""
    resume: str | None = None
    """The session to continue (a retry in the same worktree)."""
    hidden: tuple[Path, ...] = ()
    """What its cell must not see (your checkout, beside its clone)."""
    readable: tuple[Path, ...] = ()
    """Inside ``hidden``, what its cell may read (the objects its clone borrows)."""
    continues: int | None = None
    """The earlier task whose clone (and cell: the agent's session is there) this one takes over."""


RESUMABLE = ("failed", "timeout", "interrupted")
"""A task that ended so may be continued by a retry, in its clone and its agent's session."""


class Workspace(Protocol):
    def describe(self) -> str:
        """One line for ``status``."""

    async def prepare(self, task: Task) -> Place: ...

    async def finish(self, task: Task, outcome: Outcome, cell: Cell) -> dict[str, object]: ...

    def recover(self) -> list[Observation]: ...

    async def prune(self) -> list[str]:
        """Remove what is old enough to go (run now and then); one line per thing removed."""


class InPlace:
    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def describe(self) -> str:
        return f"in place: agents work in {self.folder} itself (not a git repository, or workspace = 'in-place')"

    async def prepare(self, task: Task) -> Place:
        return Place(self.folder, self.folder)

    async def finish(self, task: Task, outcome: Outcome, cell: Cell) -> dict[str, object]:
        return {}

    def recover(self) -> list[Observation]:
        return []

    async def prune(self) -> list[str]:
        return []


class WorkspaceJournal(BranchesJournal, Protocol):
    """The journal as the clones use it: each task's worktree, and what its decision said."""

    def decision(self, decision_id: int) -> Decision | None: ...

    def add_worktree(self, task_id: int, repo: str, path: str, branch: str, base: str) -> None: ...

    def continued_worktree(self, agent: str, command: str, task_id: int | None = None) -> dict[str, Any] | None: ...

    def worktrees(self, states: tuple[WorktreeState, ...] = LIVE) -> list[dict[str, Any]]: ...


class Clones:
    def __init__(
        self,
        journal: WorkspaceJournal,
        watched: Path,
        repo: Path,
        folder: Path,
        *,
        agents: Collection[str],
        checks: Sequence[Sequence[str]] = (),
        auto_merge: Literal["never", "when-clean"] = "never",
        keep_days: float = 7.0,
        check_timeout: float = 900.0,
    ) -> None:
        self.journal = journal
        self.watched = watched
        self.repo = repo
        self.folder = folder
        """Where worktrees are made (the state directory's ``worktrees/``)."""
        self.agents = set(agents)
        self.checks = [list(c) for c in checks]
        self.auto_merge = auto_merge
        self.keep_days = keep_days
        self.check_timeout = check_timeout
        self.inplace = InPlace(watched)

    def describe(self) -> str:
        merging = "merged when clean" if self.auto_merge == "when-clean" else "merged by you"
        return f"clones: a clone and branch per task of {', '.join(sorted(self.agents))} in {self.folder} ({merging})"

    def _cwd(self, worktree: Path) -> Path:
        return worktree / self.watched.relative_to(self.repo)

    async def prepare(self, task: Task) -> Place:
        # The journal on the loop's thread; git, which may take a while, on another.
        assert task.id is not None
        if task.agent not in self.agents:
            return await self.inplace.prepare(task)
        decision = self.journal.decision(task.decision_id)
        continues = decision.metadata.get("continues") if decision is not None else None
        earlier = self.journal.continued_worktree(
            task.agent, task.command, continues if isinstance(continues, int) else None
        )
        if earlier is not None and Path(earlier["path"]).is_dir():
            self.journal.add_worktree(task.id, str(self.repo), earlier["path"], earlier["branch"], earlier["base"])
            self.journal.set_worktree(task.id, "ready", note=f"continues task {earlier['task_id']}")
            self.journal.set_worktree(earlier["task_id"], "continued", note=f"continued by task {task.id}")
            path = Path(earlier["path"])
            return replace(self._place(path, resume=earlier.get("session_id")), continues=earlier["task_id"])
        git = Git(self.repo)
        if not await asyncio.to_thread(git.has_commits):
            raise ConsciousError(f"{self.repo} has no commit yet: a worktree needs one (or set workspace = 'in-place')")
        path, branch = self.folder / f"task-{task.id}", await asyncio.to_thread(_free_branch, git, task.id)
        # The task sees the tree as the user has it, uncommitted work included: the evidence it
        # was given (a failing run) came from that tree, not from HEAD.
        wip = f"conscious: your uncommitted changes when task {task.id} began"
        snapshot: str | None = await asyncio.to_thread(git.snapshot, wip)
        base: str = snapshot if snapshot is not None else await asyncio.to_thread(git.head)
        # The row first: a crash during the clone is found by recover() and reported.
        self.journal.add_worktree(task.id, str(self.repo), str(path), branch, base)
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            await asyncio.to_thread(git.clone_for_task, path, branch, base)
        except GitError as exc:
            self.journal.set_worktree(task.id, "failed", note=str(exc))
            raise
        self.journal.set_worktree(task.id, "ready")
        return self._place(path)

    def _place(self, path: Path, resume: str | None = None) -> Place:
        objects = Path(Git(self.repo).run("rev-parse", "--path-format=absolute", "--git-common-dir").strip())
        return Place(self._cwd(path), path, resume, hidden=(self.repo,), readable=(objects / "objects",))

    async def finish(self, task: Task, outcome: Outcome, cell: Cell) -> dict[str, object]:
        assert task.id is not None
        row = self.journal.worktree(task.id)
        if row is None or row["state"] != "ready":
            return {}
        path, branch = Path(row["path"]), str(row["branch"])
        details: dict[str, object] = {"worktree": str(path), "branch": branch}
        try:
            if await asyncio.to_thread(Git(self.repo).has_worktree, path):
                details.update(await asyncio.to_thread(self._describe_worktree, task, row))
            else:
                details.update(await self._collect(task, row, cell))
        except GitError as exc:
            return {**details, "worktree_error": str(exc)}
        if "tampered" in details:
            return details
        resumable = outcome.state in RESUMABLE and outcome.session_id is not None
        if not details["commits"] and not resumable:
            # Nothing to merge and no session a retry could resume (it never started, died at
            # once, or ended having changed nothing): an empty branch "to merge" is only a trap.
            await asyncio.to_thread(remove, Git(self.repo), path, branch, keep_branch=False)
            self.journal.set_worktree(task.id, "discarded", note=f"{outcome.state} with no commits: removed")
            return {**details, "workspace": "removed (no commits)"}
        cwd = self._cwd(path)
        details["checks"] = await self._checks(cwd, cell) if details["commits"] else "nothing to check"
        if (
            self.auto_merge == "when-clean"
            and outcome.state == "succeeded"
            and details["checks"] == "passed"
            and Git(self.repo).ok("merge-base", "--is-ancestor", str(row["base"]), "HEAD")
            and Git(self.repo).ok("merge-base", "--is-ancestor", "HEAD", branch)
        ):
            try:
                details["merged"] = merge(self.journal, task.id, automatic=True)
            except ConsciousError as exc:
                details["merge_refused"] = str(exc)
        return details

    async def _collect(self, task: Task, row: dict[str, object], cell: Cell) -> dict[str, object]:
        """The clone's branch, brought into your repository: what the agent left uncommitted is
        committed first, in the task's cell; the clone is checked to be the one made for it."""
        assert task.id is not None
        path, branch, base = Path(str(row["path"])), str(row["branch"]), str(row["base"])
        if (why := tampered(path)) is not None:
            self.journal.set_worktree(task.id, "tampered", note=why)
            return {"tampered": why, "commits": []}
        odd = unrecordable(path)
        left = await commit_left(cell, path, f"conscious: changes {task.agent} left uncommitted in task {task.id}", odd)
        repo = Git(self.repo)
        await asyncio.to_thread(repo.fetch_task, path, branch)
        commits = await asyncio.to_thread(repo.commits, base, branch)
        stat = await asyncio.to_thread(repo.diffstat, base, branch)
        details: dict[str, object] = {
            "commits": commits[-COMMITS_SHOWN:],
            "diffstat": stat.splitlines()[-1].strip() if stat else "no changes",
        }
        if left:
            details["committed_for_agent"] = left[:12]
        if odd:
            details["not_recorded"] = [f"{p} ({kind}: git cannot record it)" for p, kind in odd[:COMMITS_SHOWN]]
        if found := await asyncio.to_thread(held, repo, base, branch):
            details["held_for_review"] = found[:COMMITS_SHOWN]
        return details

    def _describe_worktree(self, task: Task, row: dict[str, object]) -> dict[str, object]:
        """A task an older version began in a linked worktree, finished as it was then."""
        path, branch, base = Path(str(row["path"])), str(row["branch"]), str(row["base"])
        work = Git(path)
        left = work.commit_all(f"conscious: changes {task.agent} left uncommitted in task {task.id}")
        commits = work.commits(base, branch)
        stat = work.diffstat(base, branch)
        details: dict[str, object] = {
            "commits": commits[-COMMITS_SHOWN:],
            "diffstat": stat.splitlines()[-1].strip() if stat else "no changes",
        }
        if left:
            details["committed_for_agent"] = left[:12]
        return details

    async def _checks(self, cwd: Path, cell: Cell) -> str:
        """``passed``, ``failed: …`` or ``none configured``. Run in the task's cell: they run
        the agent's code."""
        if not self.checks:
            return "none configured"
        for argv in self.checks:
            try:
                result = await run_process(cell.wrap(argv), cwd=cwd, timeout=self.check_timeout, grace=5.0)
            except CommandNotFound as exc:
                return f"failed: {exc}"
            if result.timed_out or result.exit_code != 0:
                said = tail(result.stdout + result.stderr, 300)
                return f"failed: `{' '.join(argv)}` exited {result.exit_code}: {said}"
        return "passed"

    def recover(self) -> list[Observation]:
        """Worktrees a crash left half made are removed and reported (old ones: ``prune``, which
        housekeeping runs at start-up and then on its schedule)."""
        found = []
        for row in self.journal.worktrees(("making",)):
            try:
                remove(Git(Path(row["repo"])), Path(row["path"]), row["branch"], keep_branch=False)
                note = "a crash interrupted its making; removed"
            except GitError as exc:
                note = f"a crash interrupted its making; could not remove it: {exc}"
            self.journal.set_worktree(row["task_id"], "failed", note=note)
            found.append(
                Observation(
                    source="agent",
                    event_type="worktree-abandoned",
                    target=f"{row['agent']}#{row['task_id']}",
                    severity="warning",
                    details={"task_id": row["task_id"], "worktree": row["path"], "note": note},
                )
            )
        return found

    async def prune(self) -> list[str]:
        """Unmerged clones older than ``keep_days`` removed, and their branches with them when
        they hold no commit (one that does is yours to merge or discard): the journal on the
        loop's thread, the removal (a whole checkout) on another."""
        said = []
        for row in self._old():
            git, age = Git(Path(row["repo"])), f"older than {self.keep_days:g} days"
            try:
                empty = not await asyncio.to_thread(_commits, git, row["base"], row["branch"])
                await asyncio.to_thread(remove, git, Path(row["path"]), row["branch"], keep_branch=not empty)
            except GitError as exc:
                log.warning("could not prune the workspace of task %s: %s", row["task_id"], exc)
                continue
            if empty:
                self.journal.set_worktree(row["task_id"], "discarded", note=f"{age}, no commits")
                said.append(f"task {row['task_id']}'s workspace and empty branch removed: {age}")
            else:
                self.journal.set_worktree(row["task_id"], "pruned", note=age)
                said.append(f"task {row['task_id']}'s workspace removed: {age} (branch {row['branch']} kept)")
        return said

    def _old(self) -> list[dict[str, Any]]:
        cutoff = (utcnow() - timedelta(days=self.keep_days)).isoformat()
        busy = ("running", "pending", "approved")
        return [r for r in self.journal.worktrees(("ready",)) if r["updated"] < cutoff and r["task_state"] not in busy]


def _commits(git: Git, base: str, branch: str) -> list[str]:
    """The branch's commits since its base; none when the branch is gone already."""
    if not git.ok("rev-parse", "--verify", "--quiet", f"refs/heads/{branch}"):
        return []
    return git.commits(base, branch)


def _free_branch(git: Git, task_id: int) -> str:
    """``conscious/task-<id>``, or with a suffix when that name is taken (a journal started
    afresh numbers its tasks from 1 again; an old branch is never reused or overwritten)."""
    name, n = f"conscious/task-{task_id}", 1
    while git.ok("rev-parse", "--verify", "--quiet", f"refs/heads/{name}"):
        n += 1
        name = f"conscious/task-{task_id}-{n}"
    return name
