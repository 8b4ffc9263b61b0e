"""The daemon as a user runs it: `conscious run` on the embedded default model, a real file
edit, `conscious tell` from another process, `status`, then Ctrl-C."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil

from conscious.journal import Journal
from conscious.think.backends.embedded import EmbeddedServer
from tests.conftest import FAKES_BIN
from tests.daemon_harness import wait_for


def test_run_observe_decide_tell_status_and_stop(home: Path, watched: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CONSCIOUS_")}
    env.update(
        {
            "CONSCIOUS_HOME": str(home),
            "CONSCIOUS_PROBE_LMSTUDIO": "false",
            "CONSCIOUS_EMBEDDED_CONTEXT_LENGTH": "4096",
            "CONSCIOUS_TEMPERATURE": "0",
            "CONSCIOUS_HEARTBEAT_INTERVAL": "1",
            "CONSCIOUS_IDLE_REFLECTION_INTERVAL": "0",
            "PATH": f"{FAKES_BIN}{os.pathsep}{env['PATH']}",
            "COLUMNS": "200",
        }
    )
    cli = [sys.executable, "-m", "conscious"]
    daemon = subprocess.Popen(
        [*cli, "run", "--watch", str(watched)], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    journal_path = home / "journal.db"
    try:

        def ready() -> bool:
            assert daemon.poll() is None, daemon.stdout.read() if daemon.stdout else ""
            return journal_path.exists() and Journal(journal_path).identity().get("daemon", {}).get("running", False)

        wait_for(ready, 180, "the daemon to start")
        children = psutil.Process(daemon.pid).children(recursive=True)
        assert any("llama-server" in " ".join(c.cmdline()) for c in children)

        second = subprocess.run(
            [*cli, "run", "--watch", str(watched)], env=env, capture_output=True, text=True, timeout=60
        )
        assert second.returncode == 1 and "already running" in second.stderr

        (watched / "calc.py").write_text("def add(a, b):\n    return a - b\n")
        told = subprocess.run(
            [*cli, "tell", "add a unit test for calc.add"], env=env, capture_output=True, text=True, timeout=60
        )
        assert told.returncode == 0

        journal = Journal(journal_path)

        def decided(source: str) -> bool:
            return any(o.source == source and o.decision_id for o in journal.observations(500))

        wait_for(lambda: decided("filesystem") and decided("user"), 120, "decisions on the edit and the request")
        decisions = journal.decisions(100)
        llm = [d for d in decisions if d["origin"] in ("llm", "fallback")]
        assert llm and all(d["action_type"] in ("delegate", "observe", "reflect") for d in llm)
        assert all(d["latency_ms"] is not None for d in llm)

        status = subprocess.run([*cli, "status", "--json"], env=env, capture_output=True, text=True, timeout=60)
        report = json.loads(status.stdout)
        assert report["running"] is True and report["health"] == "ok"
        assert report["model"] == "SmolLM2-135M-Instruct.Q4_1" and report["context_length"] == 4096
        assert 0 < report["context_used"] < report["context_budget"]
        assert report["exact_tokens"] is True

        log = subprocess.run([*cli, "log"], env=env, capture_output=True, text=True, timeout=60)
        assert "the user asks: 'add a unit test for calc.add'" in log.stdout  # what was asked, verbatim
        # The edit needed no judgement (decided by rule): `log --all` lists those decisions too.
        every = subprocess.run([*cli, "log", "--all"], env=env, capture_output=True, text=True, timeout=60)
        assert "filesystem/" in every.stdout and "calc.py" in every.stdout
    finally:
        daemon.send_signal(signal.SIGINT)
        try:
            output, _ = daemon.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            daemon.kill()
            output, _ = daemon.communicate()
    assert daemon.returncode == 0, output
    assert "◇ filesystem/" in output and "◆ #" in output and "stopped" in output
    assert "Traceback" not in output
    time.sleep(0.5)
    assert not [c for c in children if c.is_running() and c.status() != psutil.STATUS_ZOMBIE]
    assert Journal(journal_path).identity()["daemon"]["running"] is False


def test_after_kill_9_the_next_run_resumes_and_says_so(llama_server: EmbeddedServer, home: Path, watched: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CONSCIOUS_")}
    env.update(
        {
            "CONSCIOUS_HOME": str(home),
            "CONSCIOUS_LLM_URL": llama_server.url,
            "CONSCIOUS_TEMPERATURE": "0",
            "CONSCIOUS_MAX_TOKENS": "200",
            "CONSCIOUS_HEARTBEAT_INTERVAL": "0",
            "CONSCIOUS_IDLE_REFLECTION_INTERVAL": "0",
            "CONSCIOUS_REFLECTION_DEPTH": "0",
            "CONSCIOUS_DRY_RUN": "true",
            "COLUMNS": "200",
        }
    )
    cli = [sys.executable, "-m", "conscious"]
    journal_path = home / "journal.db"

    def start() -> subprocess.Popen[str]:
        return subprocess.Popen(
            [*cli, "run", "--watch", str(watched)], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
        )

    def tell_and_wait(daemon: subprocess.Popen[str], text: str) -> None:
        told = subprocess.run([*cli, "tell", text], env=env, capture_output=True, text=True, timeout=60)
        obs_id = int(told.stdout.split("#")[1])
        journal = Journal(journal_path)

        def decided() -> bool:
            assert daemon.poll() is None, daemon.stdout.read() if daemon.stdout else ""
            return any(o.id == obs_id and o.decision_id for o in journal.observations(200))

        wait_for(decided, 120, f"a decision on {text!r}")

    first = start()
    try:
        tell_and_wait(first, "remember that the staging database is read-only")
    finally:
        first.kill()  # kill -9: no clean shutdown
        first.communicate()
    second = start()
    try:
        tell_and_wait(second, "what did I ask you before?")
    finally:
        second.send_signal(signal.SIGINT)
        output, _ = second.communicate(timeout=60)
    assert second.returncode == 0, output
    assert "resumed: session 2 after a crash" in output
    journal = Journal(journal_path)
    [resumed] = [o for o in journal.observations(200) if o.key[:2] == ("self", "resumed")]
    assert resumed.details["start"] == "crash" and resumed.details["restored_turns"] >= 2
    turns = journal.db.execute("SELECT role, content FROM turns ORDER BY id").fetchall()
    later = [t["content"] for t in turns if t["role"] == "user" and "what did I ask you before?" in t["content"]]
    assert later and "after a crash" in later[0]  # the first thought of the new run says it resumed
    assert journal.identity()["sessions"] == 2
