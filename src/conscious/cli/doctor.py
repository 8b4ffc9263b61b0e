"""`conscious doctor`: what this machine has for the daemon, one line per check with the fix;
`conscious init`: a commented config file to start from."""

from __future__ import annotations

import getpass
import json
import os
import shutil
import socket
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

import httpx
import typer
from rich.markup import escape

from conscious.cli.client import DaemonClient
from conscious.cli.common import ConfigOpt, HomeOpt, app, friendly, out
from conscious.config import Config
from conscious.errors import ConsciousError, EmbeddedServerError
from conscious.paths import Paths

TIMEOUT = 20.0


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    detail: str
    fix: str = ""
    needed: bool = True
    """A needed check that fails makes the exit code non-zero; the others only warn."""


def _run(argv: list[str], timeout: float = TIMEOUT) -> subprocess.CompletedProcess[str] | None:
    try:
        return subprocess.run(argv, capture_output=True, text=True, timeout=timeout, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return None


def llm_server(config: Config) -> Check:
    urls = [config.llm_url] if config.llm_url else ([config.lmstudio_probe_url] if config.probe_lmstudio else [])
    for url in urls:
        if url.startswith("scripted://"):
            return Check("model server", True, f"{url} (scripted, for tests)")
        try:
            auth = {"Authorization": f"Bearer {config.api_key}"}
            r = httpx.get(f"{url.rstrip('/')}/models", timeout=3.0, headers=auth)
            models = [m.get("id") for m in r.json().get("data", [])] if r.is_success else []
        except (httpx.HTTPError, ValueError):
            if config.llm_url:
                return Check("model server", False, f"nothing answers at {url}", "start it, or fix llm_url")
            continue
        if not models:
            return Check("model server", False, f"{url} answers but serves no model", "load one (`lms load …`)")
        if config.model and config.model not in models:
            return Check("model server", False, f"{config.model} is not among {', '.join(models[:5])}", "load it")
        return Check("model server", True, f"{url}: {', '.join(models[:3])}")
    from conscious.think.backends.bundled import bundled_model, find_model, models_dir  # heavy: only here
    from conscious.think.backends.embedded import find_llama_server

    try:
        binary = find_llama_server()
        if find_model() is None and config.fetch_model and config.model_path is None:
            # Not a fault: `run` fetches it on first use, as the README says.
            detail = f"embedded: {binary.name}; the bundled model is fetched by the first `conscious run` (93 MB)"
            return Check("model server", False, detail, f"or now: conscious model fetch (into {models_dir()})", False)
        model = config.model_path or bundled_model()
    except (EmbeddedServerError, ConsciousError) as exc:
        return Check("model server", False, str(exc), "or start LM Studio, or set llm_url")
    return Check(
        "model server",
        True,
        f"embedded: {binary.name} with {model.name}, context {config.embedded_context_length} (no LM Studio found)",
    )


def claude_code(config: Config) -> Check:
    needed = "claude-code" in config.allowed_agents
    binary = shutil.which(config.claude_code.binary)
    if binary is None:
        fix = "npm install -g @anthropic-ai/claude-code"
        return Check("claude", False, f"{config.claude_code.binary} is not on PATH", fix, needed)
    version = _run([binary, "--version"])
    status = _run([binary, "auth", "status"])
    try:
        logged_in = status is not None and json.loads(status.stdout).get("loggedIn") is True
    except ValueError:
        logged_in = False
    said = (version.stdout.strip() if version else "") or "?"
    if not logged_in:
        return Check("claude", False, f"{said}, not logged in", "run `claude` once and log in", needed)
    return Check("claude", True, f"{said}, logged in", needed=needed)


def claude_flow(config: Config) -> Check:
    argv = config.claude_flow.argv
    probe = [argv[0], "--no-install", argv[1], "--version"] if argv[:1] == ["npx"] else [argv[0], "--version"]
    done = _run(probe, timeout=60)
    if done is None or done.returncode != 0:
        fix = "npm install -g claude-flow (or drop it from allowed_agents)"
        return Check("claude-flow", False, f"`{' '.join(probe)}` failed", fix, needed=False)
    said = done.stdout.strip().splitlines()[-1] if done.stdout.strip() else "found"
    return Check("claude-flow", True, said, needed=False)


def lms(config: Config) -> Check:
    found = shutil.which("lms")
    if found is None:
        return Check("lms", False, "LM Studio's `lms` is not on PATH: models are not loaded for you", "", needed=False)
    return Check("lms", True, found, needed=False)


def git_worktrees(config: Config) -> Check:
    done = _run(["git", "--version"])
    if done is None:
        return Check("git", config.workspace != "worktree", "git is not installed", "apt-get install git")
    version = tuple(int(p) for p in done.stdout.split()[-1].split(".")[:2] if p.isdigit())
    if version < (2, 38):
        return Check("git", False, f"{done.stdout.strip()}: merges need 2.38 or later", "upgrade git")
    from conscious.system.git import toplevel

    repo = toplevel(config.watch[0])
    if config.workspace == "in-place" or repo is None:
        where = "workspace = 'in-place'" if repo is not None else f"{config.watch[0]} is not in a git repository"
        return Check("git", config.workspace != "worktree", f"{done.stdout.strip()}; agents work in place ({where})")
    return Check("git", True, f"{done.stdout.strip()}; agents work in clones of {repo}")


def api_port(config: Config, paths: Paths) -> Check:
    if not config.api:
        return Check("control API", True, "off (api = false)", needed=False)
    if DaemonClient.find(paths) is not None:
        return Check("control API", True, "a daemon on this home serves it", needed=False)
    with socket.socket() as s:
        try:
            s.bind((config.api_host, config.api_port))
        except OSError:
            default = config.api_port == Config.model_fields["api_port"].default
            then = "a free port is used instead" if default else "set api_port, or 0 for any"
            return Check("control API", default, f"{config.api_host}:{config.api_port} is taken; {then}", needed=False)
    return Check("control API", True, f"{config.api_host}:{config.api_port} is free", needed=False)


def linger(config: Config) -> Check:
    done = _run(["loginctl", "show-user", getpass.getuser(), "--property=Linger"])
    if done is None or done.returncode != 0:
        return Check("systemd linger", False, "no systemd login manager here", "", needed=False)
    if done.stdout.strip().endswith("yes"):
        return Check("systemd linger", True, "on: a user service keeps running after you log out", needed=False)
    fix = f"loginctl enable-linger {getpass.getuser()}"
    return Check("systemd linger", False, "off: a user service stops when you log out", fix, needed=False)


def notifications(config: Config) -> Check:
    a = config.approval
    channels = [
        *(["desktop (notify-send)"] if a.notify_send and shutil.which("notify-send") else []),
        *(["command"] if a.notify_command else []),
        *(["webhook"] if a.webhook else []),
    ]
    if not channels:
        fix = "install notify-send (libnotify-bin), or set approval.notify_command / approval.webhook"
        return Check("notifications", False, "none: what waits for you reaches nobody", fix, needed=False)
    return Check("notifications", True, ", ".join(channels), needed=False)


def file_watches(config: Config, limit_file: Path = Path("/proc/sys/fs/inotify/max_user_watches")) -> Check:
    """The OS's limit on watched folders: one inotify watch per folder, and a tree past it is
    polled (slower) rather than watched."""
    try:
        limit = int(limit_file.read_text().strip())
    except (OSError, ValueError):
        return Check("file watches", True, "no inotify limit to read here", needed=False)
    folders = 0
    for root in config.watch:
        for _, dirs, _ in os.walk(root):
            dirs[:] = [d for d in dirs if d not in (".git", "node_modules", ".venv")]
            folders += 1
            if folders > limit:
                break
    many = f"more than {limit:,}" if folders > limit else f"{folders:,}"
    detail = f"{many} folders to watch, the limit is {limit:,}"
    if folders * 10 > limit * 9:
        fix = f"sudo sysctl fs.inotify.max_user_watches={max(524288, folders * 2)}"
        return Check("file watches", False, detail + ": the tree will be polled, not watched", fix, needed=False)
    return Check("file watches", True, detail, needed=False)


def sandbox(config: Config) -> Check:
    """The wall around agents: without it no task starts (unless it is switched off)."""
    from conscious.delegate.sandbox import sandbox_for

    wall = sandbox_for(config.sandbox)
    if not wall.walled:
        return Check("sandbox", False, wall.describe(), "set sandbox.mode = 'bwrap' (needs bubblewrap)", needed=False)
    if (why := wall.unavailable()) is not None:
        return Check("sandbox", False, why, "", needed=True)
    return Check("sandbox", True, wall.describe())


def units(config: Config) -> Check:
    """The systemd units to watch, read as the daemon reads them."""
    from conscious.observe.units import UnitObserver

    if not config.units:
        return Check("systemd units", True, "none watched (`units` in the config)", needed=False)
    said = UnitObserver(config.units).poll()
    if problems := [f"{o.target}: {o.details['error']}" for o in said if o.event_type == "unreadable"]:
        return Check("systemd units", False, "; ".join(problems), "fix `units` in the config", needed=False)
    states = ", ".join(f"{o.target} {o.event_type}" for o in said) or "none failed"
    return Check("systemd units", True, f"{len(config.units)} watched ({states})", needed=False)


CHECKS: list[Callable[[Config], Check]] = [
    llm_server,
    claude_code,
    claude_flow,
    lms,
    git_worktrees,
    sandbox,
    file_watches,
    linger,
    notifications,
    units,
]


@app.command()
@friendly
def doctor(home: HomeOpt = None, config_file: ConfigOpt = None) -> None:
    """Check what the daemon needs, one line each with the fix; exit 1 when something needed is missing."""
    paths = Paths.resolve(home)
    config = Config.load(paths, config_file)
    source = config_file or paths.config_file
    out.print(f"[green]✓[/] config: {source if source.is_file() else 'defaults (no config file: `conscious init`)'}")
    results = [check(config) for check in CHECKS[:7]] + [api_port(config, paths)] + [c(config) for c in CHECKS[7:]]
    for r in results:
        mark = "[green]✓[/]" if r.ok else "[red]✗[/]" if r.needed else "[yellow]![/]"
        fix = f" [dim]— {escape(r.fix)}[/]" if r.fix and not r.ok else ""
        out.print(f"{mark} {r.name}: {escape(r.detail)}{fix}")
    if any(r.needed and not r.ok for r in results):
        raise typer.Exit(1)


TEMPLATE = """\
# conscious: its configuration. Every setting is optional; `conscious config` prints them all
# with their values, and CONSCIOUS_<NAME> in the environment overrides any of them.

# The model server. Unset: LM Studio if it runs, else the embedded llama-server.
# llm_url = "http://localhost:1234/v1"
# model = "qwen2.5-7b-instruct"

# What to watch (default: the folder `conscious run` is started in).
# watch = ["~/src/my-project"]

# Agents, and the money they may spend.
# allowed_agents = ["claude-code", "claude-flow", "memory"]
# delegations_per_hour = 20
# max_spend_usd_per_day = 5.0

# Where agents work: a clone and branch per task (in a repository), or the folder itself.
# workspace = "auto"          # "worktree" | "in-place"
# auto_merge = "never"        # "when-clean": fast-forward a task that succeeded and whose checks passed
# checks = [["pytest", "-q"]] # run in a task's clone (in its sandbox) when it ends

# The wall around every agent: bubblewrap; writes only in the task's folder, your credentials
# and the daemon's state unseen, network only to the hosts listed.
# [sandbox]
# mode = "bwrap"              # "off": agents run as you, with only the word gate
# network = "allowlist"       # "none" | "open"
# allow_hosts = ["api.anthropic.com", "registry.npmjs.org", "pypi.org", "files.pythonhosted.org"]
# hidden = ["~/.ssh", "~/.aws"]   # (the default list is longer: `conscious config`)

# Your own rules for the agents' tool calls (regular expressions on "Tool: input").
# [tool_gate]
# deny = ['^Bash: docker ']

# Delegations that wait for you: "auto", "ask" or "never", by agent and by priority.
# [approval]
# mode = "auto"
# agents = { claude-code = "ask" }
# destructive = "ask"         # delete, wipe, reset, force, skip hooks, rewrite history: always asked
# webhook = "https://example.com/hook"
"""


@app.command()
@friendly
def init(
    home: HomeOpt = None,
    force: Annotated[bool, typer.Option("--force", help="Replace an existing config file.")] = False,
) -> None:
    """Write a commented config file to start from."""
    path = Paths.resolve(home).config_file
    if path.exists() and not force:
        raise ConsciousError(f"{path} exists already (`--force` replaces it)")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(TEMPLATE, encoding="utf-8")
    Config.load(Paths.resolve(home))  # what was written must load
    out.print(f"wrote {path}: every setting in it is commented out; `conscious doctor` checks the machine")
