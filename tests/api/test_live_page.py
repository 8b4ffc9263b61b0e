"""The live page in a real browser (headless Chromium through playwright-core), against a real
daemon on the embedded model: the header fills in, a thought streams in token by token and
ends in a decision, and a waiting delegation is approved with its button.

Why two runs of the daemon. The thinking the page shows must be the embedded model's own
(real tokens streamed by llama-server, a real decision), but a waiting approval needs a
delegation the approval policy asks about, and the bundled 135M model does not reliably
propose one. So the approval is made first, honestly and deterministically, by the real loop
with the scripted brain (``--llm-url scripted://delegate?agent=helper``): a request told to
the daemon becomes a delegation to the stand-in command agent ``helper``, which the real gate
accepts and the ``[approval]`` policy (``helper = "ask"``) holds for the user. That daemon
stops; requests wait in the journal and survive restarts (README, Approvals). The second run
is the daemon as a user runs it, on the embedded model (no ``--llm-url``), with the API on a
free port (``api_port = 0``). The page is opened at the address ``conscious page`` prints;
a request is told through the page's own tell box so that the model thinks while the page
watches; the page must show the tokens live and the decision that ends the thought; then the
old request is approved on the page, and the daemon must actually run the approved
delegation (the stand-in writes a file).

Needs node, Chromium at /usr/bin/chromium and playwright-core in .tools/playwright
(``make tools``). Without them the test fails, unless CONSCIOUS_ALLOW_SKIP is set.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from conscious.api.token import read_token
from conscious.journal import Journal
from tests.daemon_harness import kill_tree, wait_for

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = Path(__file__).with_name("live_page.mjs")
PLAYWRIGHT = ROOT / ".tools" / "playwright"
CHROMIUM = Path(os.environ.get("CHROMIUM", "/usr/bin/chromium"))
ARTIFACTS = ROOT / "tests" / "artifacts"
CLI = [sys.executable, "-m", "conscious"]


def _missing() -> str | None:
    if shutil.which("node") is None:
        return "node is not installed"
    if not CHROMIUM.exists():
        return f"no Chromium at {CHROMIUM} (apt-get install chromium)"
    if not (PLAYWRIGHT / "node_modules" / "playwright-core").is_dir():
        return f"playwright-core is not installed in {PLAYWRIGHT} (make tools)"
    return None


@pytest.fixture
def browser_tools() -> None:
    if (why := _missing()) is not None:
        if os.environ.get("CONSCIOUS_ALLOW_SKIP"):
            pytest.skip(why)
        pytest.fail(f"{why}; set CONSCIOUS_ALLOW_SKIP=1 to skip this test instead")


class Run:
    """One `conscious run` subprocess; whatever happens, nothing is left running."""

    def __init__(self, env: dict[str, str], home: Path, watched: Path, *extra: str) -> None:
        self.home = home
        self.log = home / f"daemon-{int(time.monotonic() * 1000)}.out"
        with open(self.log, "wb") as out:
            self.process = subprocess.Popen(
                [*CLI, "run", "--watch", str(watched), *extra], env=env, stdout=out, stderr=subprocess.STDOUT
            )

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def ready(self) -> bool:
        assert self.process.poll() is None, f"the daemon exited:\n{self.output()}"
        journal = home_journal(self.home)
        if journal is None:
            return False
        try:
            daemon = journal.identity().get("daemon", {})
        finally:
            journal.close()
        return bool(daemon.get("running")) and daemon.get("pid") == self.process.pid and bool(daemon.get("api_url"))

    def stop(self) -> int:
        self.process.send_signal(signal.SIGINT)
        try:
            return self.process.wait(60)
        except subprocess.TimeoutExpired:
            self.kill()
            raise AssertionError(f"the daemon did not stop on SIGINT:\n{self.output()}") from None

    def kill(self) -> None:
        kill_tree(self.process)


def home_journal(home: Path) -> Journal | None:
    path = home / "journal.db"
    return Journal(path) if path.exists() else None


def cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    done = subprocess.run([*CLI, *args], env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, f"conscious {' '.join(args)}: {done.stderr or done.stdout}"
    return done


@pytest.fixture
def runs() -> Iterator[list[Run]]:
    made: list[Run] = []
    yield made
    for run in made:
        run.kill()


# Two daemon starts, the embedded server's start and a 135M model's thought: about a minute on
# two idle cores, three under load (the browser gets 240 s of it).
@pytest.mark.timeout(600)
def test_the_live_page_shows_the_model_thinking_and_answers_an_approval(
    browser_tools: None, home: Path, watched: Path, tmp_path: Path, runs: list[Run]
) -> None:
    began = time.monotonic()
    done_file = tmp_path / "helper-ran.txt"
    done_file.touch()  # outside the helper's folder: shared with it through the sandbox, on purpose
    helper = [sys.executable, "-c", "import sys; open(sys.argv[1], 'a').write(sys.argv[2] + '\\n'); print('done')"]
    (home / "config.toml").write_text(
        "api_port = 0\n"
        f"command_agents = {{ helper = {json.dumps([*helper, str(done_file), '{command}'])} }}\n"
        "[approval]\n"
        'agents = { helper = "ask" }\n'
        "notify_send = false\n"
        "[sandbox]\n"
        f"writable = [{json.dumps(str(done_file))}]\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("CONSCIOUS_")}
    env.update(
        {
            "CONSCIOUS_HOME": str(home),
            "CONSCIOUS_PROBE_LMSTUDIO": "false",
            "CONSCIOUS_HEARTBEAT_INTERVAL": "0",
            "CONSCIOUS_IDLE_REFLECTION_INTERVAL": "0",
            "CONSCIOUS_REFLECTION_DEPTH": "0",
            "CONSCIOUS_EMBEDDED_CONTEXT_LENGTH": "4096",
            "CONSCIOUS_TEMPERATURE": "0",
            "CONSCIOUS_MAX_TOKENS": "200",
            "COLUMNS": "200",
        }
    )

    # 1. The real loop with a scripted brain leaves a delegation waiting for approval.
    first = Run(env, home, watched, "--quiet", "--llm-url", "scripted://delegate?agent=helper")
    runs.append(first)
    wait_for(first.ready, 60, "the scripted daemon to start")
    cli(env, "tell", "please run the tests of calc")

    def waiting() -> list[dict[str, Any]]:
        listed: list[dict[str, Any]] = json.loads(cli(env, "approvals", "--json").stdout)
        return listed

    wait_for(lambda: bool(waiting()), 30, "a delegation waiting for approval")
    request = waiting()[0]
    assert request["agent"] == "helper", request
    assert first.stop() == 0, first.output()

    # 2. The daemon as a user runs it, on the embedded model, its API on a free port.
    second = Run(env, home, watched)
    runs.append(second)
    wait_for(second.ready, 180, "the daemon on the embedded model to start")
    status = json.loads(cli(env, "status", "--json").stdout)
    token = read_token(home)
    assert token and (home / "api-token").stat().st_mode & 0o777 == 0o600
    url = cli(env, "page").stdout.strip()
    assert url == f"{status['api_url']}/#token={token}", (url, status.get("api_url"))
    assert [a["id"] for a in status["approvals"]] == [request["id"]]

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    shot = ARTIFACTS / "live-page.png"
    browser = subprocess.run(
        ["node", str(SCRIPT), url, str(request["id"]), str(shot), "Please add a unit test for calc.add"],
        env={**env, "PLAYWRIGHT_CORE_DIR": str(PLAYWRIGHT), "CHROMIUM": str(CHROMIUM), "LIVE_PAGE_TIMEOUT_S": "240"},
        capture_output=True,
        text=True,
        timeout=300,
    )
    lines = browser.stdout.strip().splitlines()
    assert lines, f"the browser script printed nothing: {browser.stderr}"
    seen = json.loads(lines[-1])
    assert browser.returncode == 0 and seen["ok"], json.dumps(seen, indent=1) + "\n" + second.output()[-3000:]

    # What the page showed is the daemon's own state.
    assert seen["header"]["model"] == status["model"]
    assert seen["header"]["health"] in ("ok", "degraded")
    assert seen["kinds"].get("decision", 0) >= 1 and seen["thoughts_streamed"] >= 1 and seen["tokens"] > 1
    assert shot.stat().st_size > 10_000

    # The click reached the daemon: the request is answered and the delegation actually runs.
    with httpx.Client(base_url=status["api_url"], headers={"Authorization": f"Bearer {token}"}, trust_env=False) as api:
        # (The model may have asked for another delegation meanwhile: only the answered one must be gone.)
        assert request["id"] not in [a["id"] for a in api.get("/api/approvals").json()["items"]]

        def ran() -> bool:
            tasks = api.get("/api/tasks", params={"agent": "helper"}).json()["items"]
            return any(t["id"] == request["task_id"] and t["state"] == "succeeded" for t in tasks)

        wait_for(ran, 60, "the approved delegation to run")
    assert done_file.read_text().strip() == request["command"]

    assert second.stop() == 0, second.output()
    assert "Traceback" not in first.output() + second.output()
    print(f"live page: {seen['kinds']}, {seen['tokens']} tokens; {time.monotonic() - began:.0f} s")
