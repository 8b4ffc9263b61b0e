"""What you do with a task's worktree once it ended: see its diff, merge it into the branch
checked out in your repository, or discard it. A merge is a fast-forward when it can be,
else a merge commit; one that would conflict, or that your uncommitted changes are in the
way of, is refused with one line and your tree untouched.

A task that began while you had uncommitted changes worked on a snapshot of them (its base
is not on your branch). Its own changes — and only those — are then applied to your working
tree, not committed: your work in progress and the agent's meet there, for you to review.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from conscious.errors import ConsciousError, GitError
from conscious.journal import Journal
from conscious.system.git import Git

UNFINISHED = ("pending", "awaiting-approval", "approved", "running")


def _row(journal: Journal, task_id: int) -> dict[str, Any]:
    row = journal.worktree(task_id)
    if row is None:
        raise ConsciousError(f"task {task_id} has no worktree (it ran in place, or does not exist)")
    return row


def _ended(journal: Journal, task_id: int, *, ending: bool = False) -> dict[str, Any]:
    row = _row(journal, task_id)
    if row["task_state"] in UNFINISHED and not ending:
        raise ConsciousError(f"task {task_id} is still {row['task_state']}: wait until it ends")
    return row


def diff(journal: Journal, task_id: int) -> str:
    """The task's changes since it began (its branch against its base)."""
    row = _row(journal, task_id)
    return Git(Path(row["repo"])).diff(row["base"], row["branch"])


def merge(journal: Journal, task_id: int, *, automatic: bool = False) -> str:
    """Merge the task's branch into the repository's checked-out branch; how it merged.
    ``automatic``: as the task ends, without you — a fast-forward into a clean tree, or nothing."""
    row = _ended(journal, task_id, ending=automatic)
    if row["state"] == "merged":
        raise ConsciousError(f"task {task_id} is merged already")
    if row["state"] not in ("ready", "pruned"):
        raise ConsciousError(f"task {task_id}'s worktree is {row['state']}: nothing to merge")
    repo, branch = Git(Path(row["repo"])), row["branch"]
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


def discard(journal: Journal, task_id: int) -> None:
    """Remove the task's worktree and branch (its changes are gone)."""
    row = _ended(journal, task_id)
    if row["state"] in ("merged", "discarded"):
        raise ConsciousError(f"task {task_id}'s worktree is {row['state']} already")
    remove(Git(Path(row["repo"])), Path(row["path"]), row["branch"], keep_branch=False)
    journal.set_worktree(task_id, "discarded")


def remove(repo: Git, path: Path, branch: str, *, keep_branch: bool) -> None:
    try:
        repo.worktree_remove(path)
    except GitError:
        if path.exists():
            raise
        repo.run("worktree", "prune")
    if not keep_branch:
        repo.delete_branch(branch)
