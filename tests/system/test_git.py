"""Git as real git: the calls the worktrees are made of, on a real repository."""

from __future__ import annotations

from pathlib import Path

import pytest

from conscious.errors import GitError, MergeConflict
from conscious.system.git import Git, toplevel
from tests.conftest import git


def test_toplevel_finds_the_repository_from_a_subfolder(repo: Path, tmp_path: Path) -> None:
    assert toplevel(repo / "tests") == repo.resolve()
    outside = tmp_path / "plain"
    outside.mkdir()
    assert toplevel(outside) is None


def test_a_worktree_on_its_own_branch_and_what_it_committed(repo: Path, tmp_path: Path) -> None:
    g = Git(repo)
    base = g.head()
    g.worktree_add(tmp_path / "wt", "conscious/task-1", base)
    work = Git(tmp_path / "wt")
    (tmp_path / "wt" / "calc.py").write_text("def add(a, b):\n    return a + b\n")
    sha = work.commit_all("fix add")
    assert sha is not None and work.commit_all("again") is None  # nothing left to commit
    assert [c.split(" ", 1)[1] for c in g.commits(base, "conscious/task-1")] == ["fix add"]
    assert "1 file changed" in g.diffstat(base, "conscious/task-1")
    assert "+    return a + b" in g.diff(base, "conscious/task-1")
    assert (repo / "calc.py").read_text().endswith("a - b\n")  # the user's tree untouched


def test_merge_fast_forwards_when_it_can_and_makes_a_merge_commit_otherwise(repo: Path, tmp_path: Path) -> None:
    g = Git(repo)
    g.worktree_add(tmp_path / "wt", "t1", g.head())
    (tmp_path / "wt" / "new.py").write_text("x = 1\n")
    Git(tmp_path / "wt").commit_all("add new")
    assert g.merge("t1", "merge t1") == "fast-forward"
    g.worktree_add(tmp_path / "wt2", "t2", g.head())
    (tmp_path / "wt2" / "other.py").write_text("y = 2\n")
    Git(tmp_path / "wt2").commit_all("add other")
    (repo / "mine.py").write_text("z = 3\n")
    git(repo, "add", "mine.py")
    git(repo, "commit", "-q", "-m", "the user's own work")
    assert g.merge("t2", "merge t2") == "merge commit"
    assert (repo / "other.py").exists() and (repo / "mine.py").exists()
    assert g.is_merged("t2")


def test_a_conflict_is_refused_and_the_tree_is_untouched(repo: Path, tmp_path: Path) -> None:
    g = Git(repo)
    g.worktree_add(tmp_path / "wt", "t1", g.head())
    (tmp_path / "wt" / "calc.py").write_text("def add(a, b):\n    return a + b  # agent\n")
    Git(tmp_path / "wt").commit_all("agent's fix")
    (repo / "calc.py").write_text("def add(a, b):\n    return b + a  # user\n")
    git(repo, "commit", "-q", "-am", "user's fix")
    before = g.head()
    with pytest.raises(MergeConflict, match=r"calc\.py"):
        g.merge("t1", "merge t1")
    assert g.head() == before and g.dirty() == []
    assert (repo / "calc.py").read_text().endswith("# user\n")


def test_uncommitted_changes_in_the_way_are_one_line_naming_the_file(repo: Path, tmp_path: Path) -> None:
    g = Git(repo)
    g.worktree_add(tmp_path / "wt", "t1", g.head())
    (tmp_path / "wt" / "calc.py").write_text("agent\n")
    Git(tmp_path / "wt").commit_all("agent")
    (repo / "calc.py").write_text("the user's unsaved work\n")
    with pytest.raises(GitError) as caught:
        g.merge("t1", "merge t1")
    assert "\n" not in str(caught.value) and "calc.py" in str(caught.value)
    assert (repo / "calc.py").read_text() == "the user's unsaved work\n"


def test_errors_are_git_errors_with_git_s_words(tmp_path: Path) -> None:
    with pytest.raises(GitError, match="not a git repository"):
        Git(tmp_path).head()


def test_a_snapshot_holds_the_uncommitted_work_and_touches_nothing(repo: Path) -> None:
    g = Git(repo)
    assert g.snapshot("nothing") is None  # a clean tree: no snapshot
    head = g.head()
    (repo / "calc.py").write_text("def add(a, b):\n    return a * b\n")
    (repo / "notes.md").write_text("untracked\n")
    git(repo, "add", "notes.md")
    (repo / "scratch.txt").write_text("new, never added\n")
    status = git(repo, "status", "--porcelain")
    sha = g.snapshot("your uncommitted changes")
    assert sha is not None and g.head() == head and git(repo, "status", "--porcelain") == status
    assert git(repo, "show", f"{sha}:calc.py").endswith("a * b\n")
    assert git(repo, "show", f"{sha}:scratch.txt") == "new, never added\n"
    assert git(repo, "log", "-1", "--format=%P %an", sha).split() == [head, "conscious"]


def test_a_worktree_whose_folder_was_deleted_does_not_block_a_new_one_at_its_path(repo: Path, tmp_path: Path) -> None:
    import shutil

    g = Git(repo)
    g.worktree_add(tmp_path / "home" / "task-1", "conscious/task-1", g.head())
    g.worktree_add(tmp_path / "locked", "kept", g.head())
    git(repo, "worktree", "lock", str(tmp_path / "locked"))
    shutil.rmtree(tmp_path / "home")  # the user removed conscious's home; the repository remembers
    shutil.rmtree(tmp_path / "locked")
    (tmp_path / "home").mkdir()  # a new home, laid out as the old one
    g.worktree_add(tmp_path / "home" / "task-1", "conscious/task-1-2", g.head())
    assert (tmp_path / "home" / "task-1" / "calc.py").is_file()
    listed = git(repo, "worktree", "list", "--porcelain")
    assert str(tmp_path / "locked") in listed  # a locked worktree is never forgotten
    branches = git(repo, "branch", "--list", "--format=%(refname:short)", "conscious/*").split()
    assert branches == ["conscious/task-1", "conscious/task-1-2"]
    with pytest.raises(GitError, match="already exists"):  # any other refusal is still an error
        g.worktree_add(tmp_path / "home" / "task-1", "conscious/task-1-3", g.head())
