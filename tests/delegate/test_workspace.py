"""A task in a worktree of its own, with real git and the stand-in `claude` as a real
subprocess that really edits and commits: the user's tree is untouched, the result says what
the branch holds, a retry continues in the same worktree and session, a crash while making one
is reported, and old ones are pruned."""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path

import pytest

from conscious.config import ClaudeCodeConfig, Config
from conscious.daemon.assemble import workspace_for
from conscious.delegate import branches
from conscious.delegate.base import Outcome
from conscious.delegate.claude_code import ClaudeCodeDelegate
from conscious.delegate.dispatch import RecordedEvents
from conscious.delegate.dispatcher import LocalDispatcher
from conscious.delegate.sandbox import Unwalled
from conscious.delegate.scripted import ScriptedDelegate
from conscious.delegate.workspace import Clones, InPlace
from conscious.errors import ConfigError, GitError
from conscious.journal import Journal
from conscious.model import Decision, DecisionRecord, Observation, Task
from conscious.paths import Paths
from conscious.system.git import Git
from tests.conftest import FAKES_BIN, git
from tests.delegate.test_dispatcher import delegation, settle

FIX = [
    {"name": "Write", "input": {"file_path": "calc.py", "content": "def add(a, b):\n    return a + b\n"}},
    {"name": "Bash", "input": {"command": "git add -A && git commit -q -m 'Fix add'"}},
]
PYTEST = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"]


def worktrees(journal: Journal, repo: Path, paths: Paths, **kwargs: object) -> Clones:
    return Clones(
        journal, repo, repo.resolve(), paths.state_dir / "worktrees", agents={"claude-code", "claude-flow"}, **kwargs
    )  # type: ignore[arg-type]


def dispatcher(
    journal: Journal, repo: Path, workspace: Clones, **delegates: object
) -> tuple[LocalDispatcher, list[Observation]]:
    seen: list[Observation] = []
    agents = {"claude-code": ClaudeCodeDelegate(ClaudeCodeConfig(binary=str(FAKES_BIN / "claude"))), **delegates}
    return LocalDispatcher(
        journal, agents, cwd=repo, workspace=workspace, events=RecordedEvents(observations=seen)
    ), seen  # type: ignore[arg-type]


@pytest.fixture
def agent_log(fake_agents: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("GIT_AUTHOR_NAME", "agent")
    monkeypatch.setenv("GIT_AUTHOR_EMAIL", "agent@example.com")
    monkeypatch.setenv("GIT_COMMITTER_NAME", "agent")
    monkeypatch.setenv("GIT_COMMITTER_EMAIL", "agent@example.com")
    return fake_agents


def invocations(log: Path) -> list[dict[str, object]]:
    return [json.loads(line) for line in log.read_text().splitlines()]


async def test_a_task_works_on_its_own_branch_and_the_user_s_tree_is_untouched(
    repo: Path, paths: Paths, agent_log: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CONSCIOUS_FAKE_TOOLS", json.dumps(FIX))
    journal = Journal(paths.journal)
    d, seen = dispatcher(journal, repo, worktrees(journal, repo, paths, checks=[PYTEST]))
    task = delegation(journal, "claude-code", "fix add in calc.py")
    d.start(task)
    await settle(d)
    [obs] = seen
    wt = paths.state_dir / "worktrees" / f"task-{task.id}"
    assert obs.event_type == "succeeded"
    assert obs.details["branch"] == f"conscious/task-{task.id}" and obs.details["worktree"] == str(wt)
    assert [c.split(" ", 1)[1] for c in obs.details["commits"]] == ["Fix add"]  # type: ignore[union-attr]
    assert obs.details["diffstat"] == "1 file changed, 1 insertion(+), 1 deletion(-)"
    assert obs.details["checks"] == "passed"  # the repository's own tests, run in the worktree
    [run] = invocations(agent_log)
    assert run["cwd"] == str(wt) and repo not in wt.parents
    assert (repo / "calc.py").read_text().endswith("a - b\n") and Git(repo).dirty() == []
    assert journal.worktree(task.id or 0)["state"] == "ready"  # type: ignore[index]


async def test_what_the_agent_left_uncommitted_is_committed_for_it_and_failing_checks_are_said(
    repo: Path, paths: Paths, agent_log: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CONSCIOUS_FAKE_EDIT", "notes.txt")
    journal = Journal(paths.journal)
    d, seen = dispatcher(journal, repo, worktrees(journal, repo, paths, checks=[PYTEST]))
    task = delegation(journal, "claude-code", "write notes")
    d.start(task)
    await settle(d)
    [obs] = seen
    [commit] = obs.details["commits"]  # type: ignore[misc]
    assert f"left uncommitted in task {task.id}" in commit and "committed_for_agent" in obs.details
    assert str(obs.details["checks"]).startswith("failed: `") and "exited 1" in str(obs.details["checks"])


async def test_when_clean_a_succeeded_task_with_passing_checks_is_fast_forwarded(
    repo: Path, paths: Paths, agent_log: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CONSCIOUS_FAKE_TOOLS", json.dumps(FIX))
    journal = Journal(paths.journal)
    d, seen = dispatcher(journal, repo, worktrees(journal, repo, paths, checks=[PYTEST], auto_merge="when-clean"))
    task = delegation(journal, "claude-code", "fix add in calc.py")
    d.start(task)
    await settle(d)
    assert seen[0].details["merged"] == "fast-forward"
    assert (repo / "calc.py").read_text().endswith("a + b\n")
    assert not (paths.state_dir / "worktrees" / f"task-{task.id}").exists()
    assert journal.worktree(task.id or 0)["state"] == "merged"  # type: ignore[index]


async def a_failed_task(
    repo: Path, paths: Paths, monkeypatch: pytest.MonkeyPatch
) -> tuple[Journal, LocalDispatcher, Task]:
    """A task that failed in its worktree; the stand-in succeeds from now on."""
    journal = Journal(paths.journal)
    d, _ = dispatcher(journal, repo, worktrees(journal, repo, paths))
    monkeypatch.setenv("CONSCIOUS_FAKE_MODE", "error")
    first = delegation(journal, "claude-code", "fix add in calc.py")
    d.start(first)
    await settle(d)
    monkeypatch.setenv("CONSCIOUS_FAKE_MODE", "success")
    return journal, d, first


async def test_a_retry_of_the_same_item_continues_in_the_same_worktree_and_session(
    repo: Path, paths: Paths, agent_log: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    journal, d, first = await a_failed_task(repo, paths, monkeypatch)
    second = delegation(journal, "claude-code", "fix add in calc.py")
    d.start(second)
    await settle(d)
    one, two = invocations(agent_log)
    assert one["cwd"] == two["cwd"] == str(paths.state_dir / "worktrees" / f"task-{first.id}")
    session = journal.worktree(first.id or 0)["session_id"]  # type: ignore[index]
    assert session and two["argv"][two["argv"].index("--resume") + 1] == session  # type: ignore[union-attr,index]
    assert journal.worktree(first.id or 0)["state"] == "continued"  # type: ignore[index]
    assert journal.worktree(second.id or 0)["branch"] == f"conscious/task-{first.id}"  # type: ignore[index]


async def test_claude_flow_s_success_is_what_its_worktree_shows(repo: Path, paths: Paths) -> None:
    journal = Journal(paths.journal)
    flow = ScriptedDelegate("claude-flow", Outcome("succeeded", "All 5 agents completed successfully"))
    d, seen = dispatcher(journal, repo, worktrees(journal, repo, paths), **{"claude-flow": flow})
    d.start(delegation(journal, "claude-flow", "refactor the parser"))
    await settle(d)
    assert seen[0].event_type == "failed"
    assert "changed nothing in its worktree" in str(seen[0].details["result"])


async def test_a_crash_while_making_a_worktree_is_reported_and_cleaned_up_on_the_next_start(
    repo: Path, paths: Paths
) -> None:
    journal = Journal(paths.journal)
    task = delegation(journal, "claude-code", "fix add")
    assert task.id is not None
    wt = paths.state_dir / "worktrees" / f"task-{task.id}"
    # What a kill -9 between the row and the end of `git worktree add` leaves behind.
    journal.add_worktree(task.id, str(repo), str(wt), f"conscious/task-{task.id}", Git(repo).head())
    Git(repo).worktree_add(wt, f"conscious/task-{task.id}", Git(repo).head())
    journal.close()

    journal = Journal(paths.journal)  # the daemon starts again
    [obs] = worktrees(journal, repo, paths).recover()
    assert (obs.event_type, obs.details["task_id"]) == ("worktree-abandoned", task.id)
    assert not wt.exists() and "conscious/task-" not in git(repo, "branch")
    assert journal.worktree(task.id)["state"] == "failed"  # type: ignore[index]


async def test_old_clones_are_pruned_and_only_branches_with_commits_kept(
    repo: Path, paths: Paths, agent_log: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    journal = Journal(paths.journal)
    space = worktrees(journal, repo, paths, keep_days=0)
    d, _ = dispatcher(journal, repo, space)
    monkeypatch.setenv("CONSCIOUS_FAKE_MODE", "error")  # fails with a session a retry may resume; no commits
    said = delegation(journal, "claude-code", "say hi")
    d.start(said)
    await settle(d)
    assert (paths.state_dir / "worktrees" / f"task-{said.id}").is_dir()
    monkeypatch.setenv("CONSCIOUS_FAKE_MODE", "success")
    monkeypatch.setenv("CONSCIOUS_FAKE_TOOLS", json.dumps(FIX))
    fixed = delegation(journal, "claude-code", "fix add in calc.py")
    d.start(fixed)
    await settle(d)
    notes = await space.prune()
    assert len(notes) == 2 and await space.prune() == []
    for task in (said, fixed):
        assert not (paths.state_dir / "worktrees" / f"task-{task.id}").exists()
    branches_now = git(repo, "branch")
    assert f"conscious/task-{said.id}\n" not in branches_now + "\n" and f"conscious/task-{fixed.id}" in branches_now
    assert journal.worktree(said.id or 0)["state"] == "discarded"  # type: ignore[index]
    assert journal.worktree(fixed.id or 0)["state"] == "pruned"  # type: ignore[index]
    assert branches.merge(journal, fixed.id or 0) == "fast-forward"  # what it holds is still yours to merge


async def test_a_task_that_ended_with_nothing_to_merge_or_resume_leaves_no_clone_and_no_branch(
    repo: Path, paths: Paths, agent_log: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    journal = Journal(paths.journal)
    d, seen = dispatcher(journal, repo, worktrees(journal, repo, paths))
    monkeypatch.setenv("CONSCIOUS_FAKE_MODE", "crash")
    task = delegation(journal, "claude-code", "fix add in calc.py")
    d.start(task)
    await settle(d)
    [obs] = seen
    assert obs.details["state"] == "failed" and obs.details["workspace"] == "removed (no commits)"
    assert not (paths.state_dir / "worktrees" / f"task-{task.id}").exists()
    assert "conscious/task-" not in git(repo, "branch")
    assert journal.worktree(task.id or 0)["state"] == "discarded"  # type: ignore[index]
    assert journal.worktrees() == []  # nothing listed to merge
    monkeypatch.setenv("CONSCIOUS_FAKE_MODE", "success")
    said = delegation(journal, "claude-code", "say hi")  # succeeds having changed nothing
    d.start(said)
    await settle(d)
    assert seen[-1].details["workspace"] == "removed (no commits)" and journal.worktrees() == []


def test_the_workspace_is_a_worktree_in_a_repository_and_in_place_elsewhere(
    paths: Paths, watched: Path, tmp_path: Path
) -> None:
    journal = Journal(paths.journal)
    assert isinstance(workspace_for(Config.load(paths, watch=[watched], probe_lmstudio=False), paths, journal), InPlace)
    with pytest.raises(ConfigError, match="not in a git repository"):
        workspace_for(Config.load(paths, watch=[watched], workspace="worktree", probe_lmstudio=False), paths, journal)
    git(watched, "init", "-q")
    assert isinstance(workspace_for(Config.load(paths, watch=[watched], probe_lmstudio=False), paths, journal), Clones)
    config = Config.load(paths, watch=[watched], workspace="in-place", probe_lmstudio=False)
    assert isinstance(workspace_for(config, paths, journal), InPlace)


def test_worktrees_are_never_made_inside_the_watched_tree(repo: Path) -> None:
    inside = Paths.resolve(repo / ".conscious")
    journal = Journal(repo.parent / "journal.db")
    with pytest.raises(ConfigError, match="inside the watched folder"):
        workspace_for(Config.load(inside, watch=[repo], probe_lmstudio=False), inside, journal)


async def test_a_retry_the_candidates_composed_names_the_task_it_continues(
    repo: Path, paths: Paths, agent_log: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    journal, d, first = await a_failed_task(repo, paths, monkeypatch)
    retry = "fix add in calc.py (the last attempt failed: simulated error; take another approach)"
    decision = Decision(
        action_type="delegate",
        reasoning="r",
        target_agent="claude-code",
        command=retry,
        priority="high",
        confidence=0.9,
        metadata={"continues": first.id},
    )
    second = Task(decision_id=0, agent="claude-code", command=retry, state="pending")
    second = journal.record_decision(DecisionRecord.of(decision, [], verdict="accepted", task=second)).task or second
    d.start(second)
    await settle(d)
    one, two = invocations(agent_log)
    assert one["cwd"] == two["cwd"] and "--resume" in two["argv"]  # type: ignore[operator]


async def fixed_on_uncommitted_work(
    repo: Path, paths: Paths, monkeypatch: pytest.MonkeyPatch
) -> tuple[Journal, Task, list[Observation]]:
    """The user's own edit, not committed, broke the tests; the agent fixed them and committed."""
    (repo / "calc.py").write_text("def add(a, b):\n    return a - b  # tweaked\n")
    (repo / "notes.md").write_text("my notes\n")
    fix = [{"name": "Bash", "input": {"command": "sed -i 's/a - b/a + b/' calc.py && git commit -qam 'Fix add'"}}]
    monkeypatch.setenv("CONSCIOUS_FAKE_TOOLS", json.dumps(fix))
    journal = Journal(paths.journal)
    d, seen = dispatcher(journal, repo, worktrees(journal, repo, paths))
    task = delegation(journal, "claude-code", "fix add in calc.py")
    d.start(task)
    await settle(d)
    return journal, task, seen


async def test_a_task_begun_on_uncommitted_work_sees_it_and_lands_in_the_working_tree(
    repo: Path, paths: Paths, agent_log: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    journal, task, [obs] = await fixed_on_uncommitted_work(repo, paths, monkeypatch)
    assert [c.split(" ", 1)[1] for c in obs.details["commits"]] == ["Fix add"]  # type: ignore[union-attr]
    wt = paths.state_dir / "worktrees" / f"task-{task.id}"
    assert (wt / "notes.md").read_text() == "my notes\n"  # it saw what the user had
    how = branches.merge(journal, task.id or 0)
    assert how.startswith("applied to your working tree")
    assert (repo / "calc.py").read_text().endswith("a + b  # tweaked\n")  # the agent's change only
    assert (repo / "notes.md").read_text() == "my notes\n"
    assert git(repo, "log", "--format=%s") == "init\n"  # nothing committed behind the user's back


async def test_a_patch_that_no_longer_applies_is_refused_and_touches_nothing(
    repo: Path, paths: Paths, agent_log: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    journal, task, _ = await fixed_on_uncommitted_work(repo, paths, monkeypatch)
    (repo / "calc.py").write_text("def add(x, y):\n    return x + y\n")  # meanwhile, the user rewrote it
    with pytest.raises(GitError, match=r"calc\.py"):
        branches.merge(journal, task.id or 0)
    assert (repo / "calc.py").read_text() == "def add(x, y):\n    return x + y\n"
    assert journal.worktree(task.id or 0)["state"] == "ready"  # type: ignore[index]


async def test_an_old_branch_of_the_same_name_is_never_reused(repo: Path, paths: Paths, agent_log: Path) -> None:
    git(repo, "branch", "conscious/task-1")  # left by a journal that was started afresh
    journal = Journal(paths.journal)
    d, seen = dispatcher(journal, repo, worktrees(journal, repo, paths))
    d.start(delegation(journal, "claude-code", "say hi"))
    await settle(d)
    assert seen[0].details["branch"] == "conscious/task-1-2"


async def gone(path: Path) -> bool:
    """Removed off the loop's thread: soon, not at once."""
    for _ in range(100):
        if not path.exists():
            return True
        await asyncio.sleep(0.05)
    return False


class DrawnWall(Unwalled):
    """A wall in name only: the dispatcher makes each task's cell folder as for a real one."""

    walled = True


async def test_a_task_s_own_folder_goes_with_it_and_a_retry_takes_over_its_cell(
    repo: Path, paths: Paths, agent_log: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    journal, scratch = Journal(paths.journal), paths.state_dir / "tasks"
    agents = {"claude-code": ClaudeCodeDelegate(ClaudeCodeConfig(binary=str(FAKES_BIN / "claude")))}
    d = LocalDispatcher(
        journal, agents, cwd=repo, workspace=worktrees(journal, repo, paths), sandbox=DrawnWall(), scratch=scratch
    )
    monkeypatch.setenv("CONSCIOUS_FAKE_MODE", "error")  # fails, with a session a retry resumes
    first = delegation(journal, "claude-code", "fix add in calc.py")
    d.start(first)
    await settle(d)
    (scratch / f"task-{first.id}" / "cell" / "tmp").mkdir(parents=True)
    (scratch / f"task-{first.id}" / "cell" / "tmp" / "planted").write_text("left by the first attempt")
    second = delegation(journal, "claude-code", "fix add in calc.py")
    d.start(second)
    await settle(d)
    assert await gone(scratch / f"task-{first.id}")
    assert (scratch / f"task-{second.id}" / "cell" / "tmp" / "planted").read_text() == "left by the first attempt"
    (scratch / "task-999").mkdir()  # another run's, or one a kill -9 left
    (scratch / "task-x").mkdir()  # not ours to judge
    assert await d.sweep() == ["1 task folder(s) no task needs removed"]
    assert sorted(p.name for p in scratch.iterdir()) == [f"task-{second.id}", "task-x"]  # a retry may still resume it
    monkeypatch.setenv("CONSCIOUS_FAKE_MODE", "success")
    third = delegation(journal, "claude-code", "fix add in calc.py")
    d.start(third)
    await settle(d)
    assert await gone(scratch / f"task-{third.id}")
    assert sorted(p.name for p in scratch.iterdir()) == ["task-x"]
