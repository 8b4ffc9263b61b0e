"""The live page's branches panel and charts in a real headless Chromium: a task of the real
daemon (the stand-in `claude` fixing a bug on its branch) shows up with its diff and is merged
with the page's Merge button; the user's file changes, the branch leaves the panel. The charts
are drawn from the daemon's data (tests/artifacts/worktree-page.png)."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from conscious.paths import Paths
from tests.api.test_live_page import ARTIFACTS, ROOT, browser_tools  # noqa: F401 (a fixture)
from tests.test_agents_in_worktrees import asked_and_done, running, tools


@pytest.mark.timeout(300)
async def test_a_branch_is_diffed_and_merged_from_the_page(
    browser_tools: None,  # noqa: F811
    repo: Path,
    paths: Paths,
    fake_agents: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("CONSCIOUS_FAKE_TOOLS", json.dumps(tools(repo)[:2]))
    async with running(paths, repo) as journal:
        task_id = (await asked_and_done(journal)).details["task_id"]
        url = journal.identity()["daemon"]["api_url"]
        token = (paths.state_dir / "api-token").read_text().strip()
        ARTIFACTS.mkdir(exist_ok=True)
        browser = await asyncio.create_subprocess_exec(
            "node",
            str(ROOT / "tests" / "api" / "worktree_page.mjs"),
            f"{url}/#token={token}",
            str(task_id),
            str(ARTIFACTS / "worktree-page.png"),
            stdout=asyncio.subprocess.PIPE,
        )
        out, _ = await asyncio.wait_for(browser.communicate(), 200)
        seen = json.loads(out.decode().strip().splitlines()[-1])
        assert browser.returncode == 0 and seen["ok"], seen
        assert "+    return a + b" in seen["diff"] and "merged: fast-forward" in seen["note"]
        charts = seen["charts"]  # drawn from the daemon's own data: its one decision, its one task
        # The scripted brain reports prompt tokens but no cache: one line of tokens, not two.
        assert charts["chart-latency"]["series"] == 1 and charts["chart-tokens"]["series"] == 1
        assert charts["chart-spend"]["points"] == 1 and charts["spend_summary"].startswith("1 delegation, $0.000")
        assert (repo / "calc.py").read_text().endswith("a + b\n")
        assert journal.worktree(task_id)["state"] == "merged"  # type: ignore[index]
