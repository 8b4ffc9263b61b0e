"""The command as a user runs it: a real subprocess, real files, one clear line on bad input."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest

from conscious.journal import Journal
from conscious.model import Decision, DecisionRecord, Observation, Task, utcnow
from conscious.think.backends.embedded import free_port


def conscious(
    *args: str, home: Path, env: dict[str, str] | None = None, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("CONSCIOUS_")}
    full_env.update({"CONSCIOUS_HOME": str(home), "COLUMNS": "200", **(env or {})})
    return subprocess.run(
        [sys.executable, "-m", "conscious", *args], capture_output=True, text=True, env=full_env, timeout=timeout
    )


def one_clear_line(result: subprocess.CompletedProcess[str], needle: str) -> None:
    assert result.returncode != 0
    assert "Traceback" not in result.stderr + result.stdout
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert needle in lines[0]


def test_unreachable_llm_url(home: Path, watched: Path) -> None:
    url = f"http://127.0.0.1:{free_port()}/v1"
    one_clear_line(
        conscious("run", "--watch", str(watched), "--llm-url", url, "-q", home=home), "cannot reach LLM server"
    )


def test_watch_path_that_does_not_exist(home: Path, tmp_path: Path) -> None:
    one_clear_line(conscious("run", "--watch", str(tmp_path / "nope"), home=home), "watch path does not exist")


def test_missing_model_file(home: Path, watched: Path, tmp_path: Path) -> None:
    result = conscious("run", "--watch", str(watched), "--model-path", str(tmp_path / "missing.gguf"), home=home)
    one_clear_line(result, "model file not found")


def test_broken_config_file(home: Path, watched: Path) -> None:
    (home / "config.toml").write_text("temperature = [unclosed")
    one_clear_line(conscious("run", "--watch", str(watched), home=home), "not valid TOML")


def test_explicit_config_file_missing(home: Path, tmp_path: Path) -> None:
    one_clear_line(conscious("config", "--config", str(tmp_path / "nope.toml"), home=home), "config file not found")


def test_log_and_status_before_any_run(home: Path) -> None:
    one_clear_line(conscious("status", home=home), "no journal")


def test_config_prints_the_effective_configuration(home: Path, watched: Path) -> None:
    (home / "config.toml").write_text(f'max_tokens = 321\nwatch = ["{watched}"]\n')
    result = conscious("config", home=home, env={"CONSCIOUS_TEMPERATURE": "0.1"})
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["max_tokens"] == 321 and data["temperature"] == 0.1 and data["watch"] == [str(watched)]
    assert data["min_confidence_to_delegate"] == 0.7


def test_tell_log_status_through_the_journal(home: Path) -> None:
    told = conscious("tell", "please run the tests", home=home)
    assert told.returncode == 0 and "queued as observation #1" in told.stdout
    journal = Journal(home / "journal.db")
    [obs] = journal.pending()
    assert (obs.source, obs.event_type, obs.details["text"]) == ("user", "request", "please run the tests")
    decision = Decision(
        action_type="delegate",
        reasoning="user asked",
        target_agent="claude-code",
        command="run the tests",
        confidence=0.9,
        priority="medium",
    )
    task = Task(decision_id=0, agent="claude-code", command="run the tests")
    done = journal.record_decision(DecisionRecord.of(decision, [obs.id or 0], verdict="accepted", task=task))
    did, task = done.decision_id, done.task or task
    journal.update_task(task.id or 0, state="succeeded", result="all 12 tests pass", cost_usd=0.0123)
    journal.append(Observation(source="filesystem", event_type="modified", target="x.py"))

    log = conscious("log", home=home)
    assert log.returncode == 0, log.stderr
    assert f"#{did} delegate" in log.stdout and "run the tests" in log.stdout
    assert "the user asks: 'please run the tests'" in log.stdout  # what was asked, not "user/request inbox"
    assert "succeeded $0.0123" in log.stdout and "all 12 tests pass" in log.stdout
    assert "1 observation(s) pending" in log.stdout

    as_json = conscious("log", "--json", home=home)
    record = json.loads(as_json.stdout.splitlines()[0])
    assert record["task"]["state"] == "succeeded" and record["observations"][0]["source"] == "user"

    status = conscious("status", "--json", home=home)
    data = json.loads(status.stdout)
    assert data["running"] is False
    assert data["counts"]["pending"] == 1 and data["counts"]["delegations"] == 1


@pytest.mark.parametrize(
    "command", ["run", "stop", "tell", "log", "status", "config", "approve", "deny", "approvals", "eval"]
)
def test_help(command: str, home: Path) -> None:
    result = conscious(command, "--help", home=home)
    assert result.returncode == 0 and "--home" in result.stdout


def test_log_hides_routine_decisions_unless_asked(home: Path) -> None:
    journal = Journal(home / "journal.db")
    beat = journal.append(Observation(source="clock", event_type="heartbeat", target="orchestrator"))
    journal.record_decision(
        DecisionRecord.of(
            Decision(action_type="observe", reasoning="Routine only"), [beat], verdict="accepted", origin="rule"
        )
    )
    edit = journal.append(Observation(source="filesystem", event_type="modified", target="a.py"))
    journal.record_decision(
        DecisionRecord.of(Decision(action_type="observe", reasoning="small edit"), [edit], verdict="accepted")
    )
    default = conscious("log", home=home)
    assert "small edit" in default.stdout and "Routine only" not in default.stdout
    assert "Routine only" in conscious("log", "--all", home=home).stdout


@pytest.mark.parametrize("url", ["http://[::1", "http://localhost:99999/v1", "ftp://example/v1"])
def test_a_malformed_llm_url(home: Path, watched: Path, url: str) -> None:
    one_clear_line(conscious("run", "--watch", str(watched), "--llm-url", url, home=home), "not a valid LLM server URL")


def test_a_malformed_environment_setting(home: Path, watched: Path) -> None:
    result = conscious("run", "--watch", str(watched), home=home, env={"CONSCIOUS_WATCH": "not-json"})
    one_clear_line(result, "invalid setting")


def test_status_after_a_crash_says_stopped(home: Path) -> None:
    # A killed daemon leaves "running": true behind, with a pid that may be reused.
    Journal(home / "journal.db").set_identity(daemon={"running": True, "pid": os.getpid(), "health": "ok"})
    report = json.loads(conscious("status", "--json", home=home).stdout)
    assert report["running"] is False


def test_observations_export_in_the_shape_replay_reads(home: Path, tmp_path: Path) -> None:
    journal = Journal(home / "journal.db")
    journal.append(
        Observation(source="tests", event_type="failed", target="report.xml", severity="error", details={"n": 1})
    )
    journal.append(Observation(source="filesystem", event_type="modified", target="src/app.py"))
    result = conscious("log", "--observations", "--json", home=home)
    assert result.returncode == 0, result.stderr
    exported = tmp_path / "day.jsonl"
    exported.write_text(result.stdout)
    from conscious.eval.replay import read_observations

    records, ignored = read_observations(exported)
    assert not ignored
    assert [(r.observation.source, r.observation.severity, r.observation.details) for r in records] == [
        ("tests", "error", {"n": 1}),
        ("filesystem", "info", {}),
    ]
    assert all(r.timed for r in records)
    listed = conscious("log", "--observations", home=home)
    assert "tests/failed report.xml" in listed.stdout and "pending" in listed.stdout


def test_quarantined_items_are_shown_and_released(home: Path) -> None:
    journal = Journal(home / "journal.db")
    qid = journal.quarantine("claude-code", "fix the flaky test", "this command already failed 3 times today")
    status = conscious("status", home=home)
    assert f"#{qid} claude-code: fix the flaky test" in status.stdout and f"conscious release {qid}" in status.stdout
    assert json.loads(conscious("status", "--json", home=home).stdout)["quarantined"][0]["id"] == qid
    released = conscious("release", str(qid), home=home)
    assert released.returncode == 0 and "released" in released.stdout
    assert journal.quarantined() == []
    told = [o for o in journal.observations(10) if o.event_type == "released"]
    assert told and "fix the flaky test" in told[0].details["text"]  # the loop hears of it
    one_clear_line(conscious("release", str(qid), home=home), f"no quarantined item #{qid}")


def waiting_request(journal: Journal, command: str) -> Task:
    task = Task(decision_id=0, agent="claude-code", command=command, state="awaiting-approval")
    d = Decision(
        action_type="delegate",
        reasoning="r",
        target_agent="claude-code",
        command=command,
        priority="high",
        confidence=0.9,
    )
    made = journal.record_decision(
        DecisionRecord.of(d, [], verdict="awaiting-approval", task=task, approval_expires=utcnow() + timedelta(hours=1))
    ).task
    assert made is not None
    return made


def test_waiting_approvals_are_listed_answered_and_kept(home: Path) -> None:
    journal = Journal(home / "journal.db")
    first = waiting_request(journal, "deploy to staging")
    second = waiting_request(journal, "deploy to staging")
    status = conscious("status", home=home)
    assert f"#{first.approval_id} claude-code (high, 0.90): deploy to staging" in status.stdout
    assert "2 delegations this hour" in status.stdout  # waiting requests count: they may still run
    assert "2 delegation(s) waiting for your approval" in conscious("log", home=home).stdout
    listed = json.loads(conscious("approvals", "--json", home=home).stdout)
    assert [w["id"] for w in listed] == [first.approval_id, second.approval_id]

    approved = conscious("approve", str(first.approval_id), "--always", home=home)
    assert approved.returncode == 0, approved.stderr
    assert f"approved #{second.approval_id} too" in approved.stdout  # the rule answered it as well
    assert 'pattern = "^deploy\\\\ to\\\\ staging$"' in (home / "config.toml").read_text()
    assert conscious("approvals", home=home).stdout.strip() == "nothing waits for your approval"
    assert [t["state"] for t in journal.tasks()] == ["approved", "approved"]
    one_clear_line(conscious("deny", str(first.approval_id), home=home), "was already answered 20")
    one_clear_line(conscious("deny", str(first.approval_id), home=home), "(its delegation is approved;")
    one_clear_line(conscious("approve", "99", home=home), "no approval #99")


def test_deny_with_a_reason_tells_the_loop(home: Path) -> None:
    journal = Journal(home / "journal.db")
    task = waiting_request(journal, "rewrite the build")
    denied = conscious("deny", str(task.approval_id), "too risky today", home=home)
    assert denied.returncode == 0, denied.stderr
    [told] = [o for o in journal.observations(10) if (o.source, o.event_type) == ("user", "denied")]
    assert told.details["reason"] == "too risky today" and told.status == "pending"
    one_clear_line(
        conscious("deny", str(task.approval_id), "--pattern", "x", home=home), "--pattern goes with --always"
    )


def test_log_follow_prints_what_happens_as_it_happens(home: Path) -> None:
    import selectors
    import signal
    import time

    journal = Journal(home / "journal.db")
    old = journal.append(Observation(source="user", event_type="request", target="inbox", details={"text": "old"}))
    journal.record_decision(
        DecisionRecord.of(
            Decision(action_type="observe", reasoning="the old one", priority="low", confidence=0.9),
            [old],
            verdict="accepted",
        )
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("CONSCIOUS_")}
    env.update({"CONSCIOUS_HOME": str(home), "COLUMNS": "200", "PYTHONUNBUFFERED": "1"})
    follower = subprocess.Popen(
        [sys.executable, "-m", "conscious", "log", "-f"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        assert follower.stdout is not None
        assert "the old one" in "".join(follower.stdout.readline() for _ in range(3))  # the recent ones first
        time.sleep(0.5)
        new = journal.append(
            Observation(source="filesystem", event_type="modified", target="calc.py", details={"size": 10})
        )
        journal.record_decision(
            DecisionRecord.of(
                Decision(
                    action_type="delegate",
                    reasoning="calc.py changed under its tests",
                    target_agent="claude-code",
                    command="run the tests of calc.py",
                    priority="medium",
                    confidence=0.8,
                ),
                [new],
                verdict="dry-run",
            )
        )
        seen = ""
        deadline = time.monotonic() + 20
        with selectors.DefaultSelector() as ready:
            # Read what is there as it comes: what never comes fails at the deadline (a bare
            # readline() waited forever), and nothing sits unread in a buffer select cannot see.
            ready.register(follower.stdout.fileno(), selectors.EVENT_READ)
            while "calc.py changed under its tests" not in seen and (left := deadline - time.monotonic()) > 0:
                if not ready.select(left):
                    continue
                chunk = os.read(follower.stdout.fileno(), 65536)
                if not chunk:
                    break  # it ended
                seen += chunk.decode(errors="replace")
        assert f"◇ #{new} filesystem/modified" in seen, seen  # the observation, as it arrived
        assert "delegate" in seen and "→ claude-code: run the tests of calc.py" in seen, seen
    finally:
        follower.send_signal(signal.SIGINT)
        try:
            _, err = follower.communicate(timeout=20)
        except subprocess.TimeoutExpired:
            follower.kill()
            follower.communicate()
            raise AssertionError("`conscious log -f` did not end on Ctrl-C within 20 s") from None
    assert follower.returncode == 0 and "Traceback" not in err


def test_shell_completion_and_the_service_command(home: Path, tmp_path: Path) -> None:
    exe = str(Path(sys.executable).parent / "conscious")
    env = {**os.environ, "CONSCIOUS_HOME": str(home)}
    # Typer finds the shell from the process tree, as a user's terminal has it: run from bash
    # (the trailing `true` keeps bash from exec-ing the command in its place).
    shown = subprocess.run(
        ["bash", "-c", f'"{exe}" --show-completion bash; true'], capture_output=True, text=True, env=env, timeout=60
    )
    assert shown.returncode == 0 and "_CONSCIOUS_COMPLETE" in shown.stdout
    units = tmp_path / "units"
    printed = conscious("service", "install", "--print", "--dir", str(units), "--watch", str(tmp_path), home=home)
    assert printed.returncode == 0, printed.stderr
    assert "Type=notify" in printed.stdout and "WatchdogSec=" in printed.stdout
    assert not units.exists()  # --print writes nothing


def test_stop_stops_the_running_daemon_as_ctrl_c_would(home: Path, watched: Path) -> None:
    import time

    from tests.daemon_harness import SCRIPTED, Daemon

    assert conscious("stop", home=home).stdout.strip().startswith("no daemon is running on")
    daemon = Daemon(home, watched, SCRIPTED)
    daemon.start()
    try:
        deadline = time.monotonic() + 60
        while not daemon.ready():
            assert daemon.alive() and time.monotonic() < deadline, daemon.stderr()
            time.sleep(0.1)
        assert daemon.process is not None
        stopped = conscious("stop", home=home)
        assert stopped.returncode == 0, stopped.stderr
        assert stopped.stdout.strip() == f"stopped the daemon (pid {daemon.process.pid})"
        assert daemon.process.wait(10) == 0  # a clean stop
        assert json.loads(conscious("status", "--json", home=home).stdout)["running"] is False
        assert conscious("stop", home=home).returncode == 0  # nothing to stop is not an error
    finally:
        daemon.close()


def test_watch_runs_a_command_and_tells_the_loop_how_it_ended(home: Path) -> None:
    failing = "import sys; print('collected 3 items'); print('FAILED test_a - assert 1 == 2'); sys.exit(3)"
    done = conscious("watch", "--", sys.executable, "-c", failing, home=home)
    assert done.returncode == 3  # the command's own exit code, as if run without us
    assert "FAILED test_a - assert 1 == 2" in done.stdout  # its output, as usual
    assert "failed with exit code 3; told the loop (observation #1)" in done.stderr
    fine = conscious("watch", "--", sys.executable, "-c", "print('ok')", home=home)
    assert fine.returncode == 0 and "exited with exit code 0" in fine.stderr
    journal = Journal(home / "journal.db")
    first, second = journal.pending()
    assert (first.source, first.event_type, first.severity) == ("process", "failed", "error")
    assert first.details["exit_code"] == 3 and "assert 1 == 2" in first.details["tail"]
    assert (second.event_type, second.severity, second.details["exit_code"]) == ("exited", "info", 0)
    missing = conscious("watch", "--", "no-such-command-here", home=home)
    one_clear_line(missing, "cannot run no-such-command-here")


def test_tell_dash_reads_the_request_from_standard_input(home: Path) -> None:
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("CONSCIOUS_")} | {"CONSCIOUS_HOME": str(home)}
    told = subprocess.run(
        [sys.executable, "-m", "conscious", "tell", "-"],
        input="fix the flaky upload test\n",
        capture_output=True,
        text=True,
        env=full_env,
        timeout=60,
    )
    assert told.returncode == 0, told.stderr
    [obs] = Journal(home / "journal.db").observations()
    assert obs.details["text"] == "fix the flaky upload test"


def test_status_json_is_json_even_with_no_journal(home: Path) -> None:
    result = conscious("status", "--json", home=home)
    assert result.returncode == 1
    said = json.loads(result.stdout)
    assert said["running"] is False and "conscious run" in said["error"]


def test_config_never_prints_a_key(home: Path) -> None:
    result = conscious("config", home=home, env={"CONSCIOUS_API_KEY": "sk-very-secret-1234"})
    assert result.returncode == 0 and "sk-very-secret" not in result.stdout + result.stderr
    assert json.loads(result.stdout)["api_key"] == "(set, not shown)"


def test_a_reader_that_stops_early_ends_it_quietly(home: Path) -> None:
    journal = Journal(home / "journal.db")
    for n in range(3000):
        journal.append(Observation(source="filesystem", event_type="modified", target=f"src/file_{n}.py"))
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("CONSCIOUS_")} | {"CONSCIOUS_HOME": str(home)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "conscious", "log", "--observations"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=full_env,
    )
    assert proc.stdout is not None and proc.stderr is not None
    proc.stdout.readline()
    proc.stdout.close()  # as `head -1` does
    stderr = proc.stderr.read().decode()
    proc.stderr.close()
    assert proc.wait(60) in (-13, 141) and stderr == ""  # SIGPIPE, as any Unix tool
