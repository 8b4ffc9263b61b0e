"""A real repository's tree arriving in the watched folder while `conscious run` runs on the
bundled model: installed packages' source (pip's and pytest's, 500+ files) copied into a git
checkout.
It is decided in a bounded number of model calls, every observation is decided, and no
delegation carries a command that was not one of its turn's candidates."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import _pytest
import pip

from conscious.journal import Journal
from conscious.think.backends.embedded import EmbeddedServer
from tests.conftest import FAKES_BIN
from tests.daemon_harness import kill_tree, wait_for


def test_a_copied_source_tree_is_decided_in_few_calls(llama_server: EmbeddedServer, home: Path, watched: Path) -> None:
    subprocess.run(["git", "init", "-q", str(watched)], check=True)
    (watched / "README.md").write_text("# project\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith("CONSCIOUS_")}
    env.update(
        {
            "CONSCIOUS_HOME": str(home),
            "CONSCIOUS_PROBE_LMSTUDIO": "false",
            "CONSCIOUS_TEMPERATURE": "0",
            "CONSCIOUS_HEARTBEAT_INTERVAL": "3600",
            "CONSCIOUS_IDLE_REFLECTION_INTERVAL": "0",
            "CONSCIOUS_API": "false",
            "COLUMNS": "200",
            "PATH": f"{FAKES_BIN}{os.pathsep}{env['PATH']}",
        }
    )
    cli = [sys.executable, "-m", "conscious"]
    output = (home / "daemon.out").open("w")
    daemon = subprocess.Popen(
        [*cli, "run", "--watch", str(watched), "--llm-url", llama_server.url],
        env=env,
        stdout=output,  # a file: a pipe nobody reads would block the daemon's every print
        stderr=subprocess.STDOUT,
        text=True,
    )
    journal_path = home / "journal.db"
    try:
        wait_for(
            lambda: (
                journal_path.exists() and Journal(journal_path).identity().get("daemon", {}).get("activity") == "idle"
            ),
            120,
            "the daemon to be idle",
        )
        files = 0
        for package in (pip, _pytest):
            source = Path(package.__file__).parent
            copied = shutil.copytree(
                source, watched / "vendor" / source.name, ignore=shutil.ignore_patterns("__pycache__")
            )
            files += sum(1 for p in Path(copied).rglob("*") if p.is_file())
        assert files >= 500
        journal = Journal(journal_path)

        counts: list[int] = []

        def settled() -> bool:
            """Everything the watcher reported is decided and it has said nothing new for 5 s
            (inotify does not report every file of a folder created a moment before)."""
            assert daemon.poll() is None
            counts.append(sum(1 for o in journal.observations(5000) if o.source == "filesystem"))
            return len(counts) > 50 and counts[-1] == counts[-50] > 0 and journal.pending_count() == 0

        wait_for(settled, 240, "the copied tree to be observed and decided")
        decisions = journal.decisions(1000)
    finally:
        kill_tree(daemon)
        output.close()
    observations = [o for o in journal.observations(5000) if o.source == "filesystem"]
    assert len(observations) >= 300  # a real burst, whatever the watcher missed
    assert all(o.status == "decided" for o in observations)
    by_model = [d for d in decisions if d["origin"] == "llm"]
    assert len(by_model) <= 3, [d["reasoning"] for d in by_model]
    for d in decisions:
        if d["action_type"] == "delegate" and d["origin"] == "llm":
            options = json.loads(d["metadata"]).get("options", [])
            assert any(line.endswith(f": {d['command']}") for line in options), (d["command"], options)
    log = subprocess.run([*cli, "log", "--all"], env=env, capture_output=True, text=True, timeout=60)
    assert log.returncode == 0 and re.search(r"\d{3} files (created|changed) under vendor/", log.stdout), log.stdout
