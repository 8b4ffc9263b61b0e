"""What you do with a task's branch once it ended: see its diff, merge it into the branch
checked out in your repository, or discard it (and its clone).

All of it runs in your repository, never in the task's clone: the branch was fetched from
the clone into yours when the task ended, so no config, hook or attribute the agent planted
in its clone is read by any git the daemon or this command runs. A merge that brings what a
person must see first (``review.py``: links out of the repository, attributes, hooks, agent
settings, CI and build files) waits for ``--sensitive``. A merge is a fast-forward when it can be,
else a merge commit; one that would conflict, or that your uncommitted changes are in the
way of, is refused with one line and your tree untouched.

A task that began while you had uncommitted changes worked on a snapshot of them (its base
is not on your branch). Its own changes — and only those — are then applied to your working
tree, not committed: your work in progress and the agent's meet there, for you to review.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any, Protocol

from conscious.delegate.review import held
from conscious.errors import ConsciousError, GitError
from conscious.journal.worktrees import WorktreeState
from conscious.model import UNFINISHED
from conscious.system.git import Git


class BranchesJournal(Protocol):
    """The journal as a branch's commands use it: the task's worktree row."""

    def worktree(self, task_id: int) -> dict[str, Any] | None: ...

    def set_worktree(self, task_id: int, state: WorktreeState, note: str | None = None) -> None: ...


def _row(journal: BranchesJournal, task_id: int) -> dict[str, Any]:
    row = journal.worktree(task_id)
    if row is None:
        raise ConsciousError(f"task {task_id} has no worktree (it ran in place, or does not exist)")
    return row


def _ended(journal: BranchesJournal, task_id: int, *, ending: bool = False) -> dict[str, Any]:
    row = _row(journal, task_id)
    if row["task_state"] in UNFINISHED and not ending:
        raise ConsciousError(f"task {task_id} is still {row['task_state']}: wait until it ends")
    return row


def diff(journal: BranchesJournal, task_id: int) -> str:
    """The task's changes since it began (its branch against its base), what must be seen
    before a merge listed first."""
    row = _row(journal, task_id)
    if row["state"] in ("merged", "discarded", "pruned"):
        # Its branch is gone with it: git would say only "unknown revision".
        raise ConsciousError(f"task {task_id}'s branch was {row['state']}: nothing to diff (see `git log`)")
    repo = Git(Path(row["repo"]))
    text = repo.diff(row["base"], row["branch"])
    if found := held(repo, row["base"], row["branch"]):
        listed = "".join(f"#   {item}\n" for item in found)
        text = f"# conscious: look at these before you merge (merge waits for --sensitive):\n{listed}\n{text}"
    return text


def merge(journal: BranchesJournal, task_id: int, *, automatic: bool = False, sensitive: bool = False) -> str:
    """Merge the task's branch into the repository's checked-out branch; how it merged.
    ``automatic``: as the task ends, without you — a fast-forward into a clean tree, or nothing.
    ``sensitive``: a person saw what ``review.held`` lists and merges it anyway."""
    row = _ended(journal, task_id, ending=automatic)
    if row["state"] == "merged":
        raise ConsciousError(f"task {task_id} is merged already")
    if row["state"] not in ("ready", "pruned"):
        raise ConsciousError(f"task {task_id}'s workspace is {row['state']}: nothing to merge")
    repo, branch = Git(Path(row["repo"])), row["branch"]
    if (found := held(repo, row["base"], branch)) and (automatic or not sensitive):
        more = f" and {len(found) - 3} more" if len(found) > 3 else ""
        raise ConsciousError(
            f"task {task_id} changes what a person must see first: {'; '.join(found[:3])}{more}."
            f" Read `conscious diff {task_id}`, then `conscious merge {task_id} --sensitive`"
        )
    if not repo.is_merged(row["base"]):
        if automatic:
            raise ConsciousError("the task began on your uncommitted changes: not merged automatically")
        patch = repo.diff(row["base"], branch, binary=True)
        how = "nothing to apply (no changes)"
        if patch:
            repo.apply(patch)
            how = "applied to your working tree, not committed (it began on your uncommitted changes)"
    elif not repo.commits("HEAD", branch):
        how = "nothing to merge (no commits the branch has that yours has not)"
    else:
        if repo.dirty() and automatic:
            raise ConsciousError("your working tree has uncommitted changes: not merged automatically")
        if automatic and not repo.ok("merge-base", "--is-ancestor", "HEAD", branch):
            raise ConsciousError(f"{branch} is not a fast-forward of your branch: merge it yourself")
        how = repo.merge(branch, f"Merge {branch}: task {task_id} ({row['agent']})")
    remove(repo, Path(row["path"]), branch, keep_branch=False)
    journal.set_worktree(task_id, "merged", note=how)
    return how


def discard(journal: BranchesJournal, task_id: int) -> None:
    """Remove the task's workspace and branch (its changes are gone)."""
    row = _ended(journal, task_id)
    if row["state"] in ("merged", "discarded"):
        raise ConsciousError(f"task {task_id}'s workspace is {row['state']} already")
    remove(Git(Path(row["repo"])), Path(row["path"]), row["branch"], keep_branch=False)
    journal.set_worktree(task_id, "discarded")


def remove(repo: Git, path: Path, branch: str, *, keep_branch: bool) -> None:
    """Remove a task's workspace: its clone is only files to the daemon (never a repository
    to run git in); a linked worktree of an older version is removed by your git."""
    if repo.has_worktree(path):
        try:
            repo.worktree_remove(path)
        except GitError:
            if path.exists():
                raise
            repo.run("worktree", "prune")
    elif path.exists() or path.is_symlink():
        # rmtree never follows a link the agent left: it removes the link.
        shutil.rmtree(path) if path.is_dir() and not path.is_symlink() else path.unlink()
    if not keep_branch:
        repo.delete_branch(branch)
