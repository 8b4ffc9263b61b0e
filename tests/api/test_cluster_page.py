"""The live page's Cluster panel in a real headless Chromium: a brain (`conscious run --role
brain`, the scripted model, its API on a free port) and an observer process on a real
nats-server; the brain's page shows both hosts, the brain starred as the leader
(tests/artifacts/cluster-page.png)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from conscious.journal import Journal
from tests.api.test_live_page import ARTIFACTS, ROOT, browser_tools  # noqa: F401 (a fixture)
from tests.cluster.conftest import NatsServer, nats_server  # noqa: F401 (a fixture)
from tests.daemon_harness import kill_tree, wait_for


def role(kind: str, host: str, home: Path, watched: Path, broker: str, **settings: str) -> subprocess.Popen[bytes]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CONSCIOUS_")}
    env.update({"CONSCIOUS_HOME": str(home), **settings})
    argv = [sys.executable, "-m", "conscious", "run", "--role", kind, "--broker", broker, "--host", host]
    with (home.parent / f"{host}.out").open("ab") as out:
        return subprocess.Popen([*argv, "--watch", str(watched)], env=env, stdout=out, stderr=subprocess.STDOUT)


def api_url(home: Path) -> str | None:
    if not (home / "journal.db").exists():
        return None
    journal = Journal(home / "journal.db")
    try:
        return journal.identity().get("daemon", {}).get("api_url")
    finally:
        journal.close()


@pytest.mark.timeout(240)
def test_the_page_shows_the_cluster(
    browser_tools: None,  # noqa: F811
    nats_server: NatsServer,  # noqa: F811
    tmp_path: Path,
    watched: Path,
) -> None:
    brain_home, observer_home = tmp_path / "brain", tmp_path / "observer"
    brain_home.mkdir()
    observer_home.mkdir()
    scripted = {"CONSCIOUS_LLM_URL": "scripted://?delay=0.02", "CONSCIOUS_API_PORT": "0"}
    processes = [
        role("brain", "gpu-box", brain_home, watched, nats_server.url, **scripted),
        role("observer", "laptop", observer_home, watched, nats_server.url, CONSCIOUS_API="false"),
    ]
    try:
        wait_for(lambda: api_url(brain_home) is not None, 60, "the brain's API")
        url = f"{api_url(brain_home)}/#token={(brain_home / 'api-token').read_text().strip()}"
        ARTIFACTS.mkdir(exist_ok=True)
        browser = subprocess.run(
            [
                "node",
                str(ROOT / "tests" / "api" / "cluster_page.mjs"),
                url,
                "gpu-box",
                "laptop",
                str(ARTIFACTS / "cluster-page.png"),
            ],
            capture_output=True,
            text=True,
            timeout=150,
        )
        seen = json.loads(browser.stdout.strip().splitlines()[-1])
        assert browser.returncode == 0 and seen["ok"], seen
        panel = seen["panel"]
        assert not panel["hidden"] and "gpu-box leads" in panel["heading"]
        assert any(h.startswith("gpu-box") and "brain" in h for h in panel["hosts"])
        assert any(h.startswith("laptop") and "observer" in h for h in panel["hosts"])
    finally:
        for p in processes:
            p.send_signal(signal.SIGINT)
        for p in processes:
            try:
                p.wait(30)
            except subprocess.TimeoutExpired:
                kill_tree(p)
