"""The config's sections: the agents, model profiles, budgets, approvals, candidate patterns."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

from conscious.config.ranges import Amount, Count, Fraction, Money, Quantity, Seconds, Temperature
from conscious.model import ApprovalMode, Priority, Severity

PermissionMode = Literal["default", "acceptEdits", "plan", "dontAsk", "bypassPermissions"]
DecideMode = Literal["choose", "compose"]
SchemaDialect = Literal["auto", "json_schema", "json_object", "none"]
WorkspaceMode = Literal["auto", "worktree", "in-place"]
Role = Literal["observer", "brain", "worker"]
AlertKind = Literal["failed", "stalled", "health"]
ALERT_KINDS: tuple[AlertKind, ...] = ("failed", "stalled", "health")


class ToolGateConfig(BaseModel):
    """Your own rules for the tool calls agents make, on top of the built-in ones. A rule is a
    regular expression (case-insensitive) on ``Tool: input``, e.g. ``Bash: docker `` or
    ``Write: .*\\.lock$``."""

    deny: list[str] = Field(default_factory=list)
    allow: list[str] = Field(default_factory=list)
    """A call matching one of these passes whatever the built-in rules say (never a denied one of yours)."""
    paths: list[str] = Field(default_factory=list)
    """Folders outside the task's worktree its tools may read and write too."""


SandboxMode = Literal["bwrap", "off"]
NetworkMode = Literal["allowlist", "none", "open"]


class SandboxConfig(BaseModel):
    """The wall around every agent process (``delegate/sandbox.py``). It does not listen to
    words: whatever the agent runs, it writes only in its task's folder, reads none of the
    ``hidden`` paths nor the daemon's state, reaches only ``allow_hosts``, and ends with the task."""

    mode: SandboxMode = "bwrap"
    """``bwrap``: bubblewrap (Linux; a task does not start without it). ``off``: agents run as
    you, with only the word gate — said loudly by ``status`` and the page."""
    network: NetworkMode = "allowlist"
    """``allowlist``: only ``allow_hosts``, through the daemon's proxy; ``none``: no network;
    ``open``: the machine's network as it is."""
    allow_hosts: list[str] = Field(
        default_factory=lambda: [
            "api.anthropic.com",
            "statsig.anthropic.com",
            "*.sentry.io",
            "registry.npmjs.org",
            "pypi.org",
            "files.pythonhosted.org",
        ]
    )
    """Hosts an agent may reach (``*.example.com`` for its subdomains): its model's API and the
    package registries you use."""
    hidden: list[str] = Field(
        default_factory=lambda: [
            "~/.ssh",
            "~/.gnupg",
            "~/.aws",
            "~/.azure",
            "~/.config/gcloud",
            "~/.config/gh",
            "~/.kube",
            "~/.docker",
            "~/.netrc",
            "~/.git-credentials",
            "~/.pypirc",
            "~/.npmrc",
            "~/.password-store",
            "~/.local/share/keyrings",
            "~/.bash_history",
            "~/.zsh_history",
            "~/.python_history",
            "/var/run/docker.sock",
        ]
    )
    """Paths an agent cannot read (besides the daemon's own state, your checkout and other
    tasks' folders, always hidden)."""
    private: list[str] = Field(default_factory=lambda: ["~/.claude", "~/.claude.json", "~/.cache", "~/.npm"])
    """Paths in your home an agent may write to, each as its task's own copy: what it writes
    there never reaches yours (Claude Code keeps its login and sessions in the first two)."""
    writable: list[str] = Field(default_factory=list)
    """Paths outside the task's folder an agent may write to, shared with you (a build cache, a
    log of your own): what it writes there stays. Each must exist; ``~/`` is your home."""
    processes: Quantity = 512
    """At most this many processes of yours at once while a task runs (0: no limit; not
    enforced when the daemon runs as root)."""
    memory_mb: Quantity = 4096
    """Memory (MiB) each process of a task may use (0: no limit)."""


class ClaudeCodeConfig(BaseModel):
    binary: str = "claude"
    permission_mode: PermissionMode = "acceptEdits"
    """Never ``bypassPermissions`` unless the user sets it."""
    allowed_tools: list[str] = Field(default_factory=lambda: ["Read", "Grep", "Glob", "Edit", "Write"])
    disallowed_tools: list[str] = Field(default_factory=lambda: ["WebFetch", "WebSearch"])
    max_turns: Count = 20
    max_budget_usd: Money | None = 1.0
    """Claude Code's own per-task cap (``--max-budget-usd``); our daily budget is enforced as well."""
    extra_args: list[str] = Field(default_factory=list)
    loop_repeats: Quantity = 5
    """A task that makes the same tool call with the same input this many times is stopped as
    a loop (read from ``--output-format stream-json``); 0: never."""


class ClaudeFlowConfig(BaseModel):
    argv: list[str] = Field(
        default_factory=lambda: [
            "npx",
            "claude-flow",
            "hive-mind",
            "spawn",
            "--claude",
            "--non-interactive",
            "--no-auto-permissions",
            "-o",
            "{command}",
        ]
    )
    """The command line; ``{command}`` is replaced by the decision's command."""
    init_argv: list[str] = Field(default_factory=lambda: ["npx", "claude-flow", "hive-mind", "init"])
    """Run once in the working folder before the first spawn (spawn refuses an uninitialised folder)."""
    init_marker: str = ".claude-flow/hive-mind/state.json"


class Profile(BaseModel):
    """Sampling and behaviour for a family of models (``conscious.think.profiles`` ships some).
    A setting left unset here, or set by the user in the config, is not touched."""

    match: list[str] = Field(default_factory=list)
    """Regular expressions (case-insensitive) on the loaded model's id that select this profile."""
    temperature: Temperature | None = None
    top_p: Fraction | None = None
    top_k: Quantity | None = None
    repeat_penalty: Amount | None = None
    max_tokens: Count | None = None
    strip_think: bool = True
    """Drop ``<think>…</think>`` reasoning before reading the decision (reasoning models)."""
    honours_schema: bool = True
    decide: DecideMode | None = None
    """``compose`` lets a capable model write its own commands; the default is ``choose``."""
    """Whether the server honours a JSON schema for this model; False: ask for JSON in words and
    parse the reply (lets a reasoning model think before it answers)."""
    context_length: Count | None = None
    """The context to load this family with (``lms load --context-length``) when the config sets
    none; a model already loaded keeps the context it was loaded with."""
    min_confidence_to_delegate: Fraction | None = None
    """The delegation threshold this family's confidence supports, as ``conscious eval`` measures
    it ("threshold it supports"); the reflection threshold is lowered with it. Unset: the config's."""


class AgentBudget(BaseModel):
    """Limits for one agent, on top of the overall ones (unset: only the overall limit applies)."""

    delegations_per_hour: Quantity | None = None
    max_concurrent: Count | None = None
    max_spend_usd_per_day: Money | None = None
    task_timeout: Seconds | None = None
    """Wall time (seconds) a task of this agent may run before it is stopped."""


class SavedPattern(BaseModel):
    """An answer given with ``--always``: requests to ``agent`` whose command matches ``pattern``
    (a regular expression, case-insensitive) are approved without asking."""

    agent: str
    pattern: str


class ApprovalConfig(BaseModel):
    """Whether a delegation the gate accepted starts at once (``auto``), waits for
    ``conscious approve`` (``ask``), or is refused (``never``). The strictest of the agent's and
    the priority's modes applies; ``mode`` when neither is set."""

    mode: ApprovalMode = "auto"
    agents: dict[str, ApprovalMode] = Field(default_factory=dict)
    priorities: dict[Priority, ApprovalMode] = Field(default_factory=dict)
    always_allow: list[SavedPattern] = Field(default_factory=list)
    destructive: ApprovalMode = "ask"
    """For instructions that ask to delete, wipe, drop, reset, force, skip verification or
    hooks, or rewrite history — whatever ``mode`` says (``auto`` only if you mean it)."""
    expire_after: Seconds = 3600.0
    """Seconds a request waits for an answer before it expires (the model is told)."""
    notify_send: bool = True
    """A desktop notification (``notify-send``, where it exists) when a request waits."""
    notify_command: list[str] = Field(default_factory=list)
    """A command run when a request waits; it gets the request as JSON on stdin."""
    webhook: str | None = None
    """A URL the request is POSTed to (JSON) when it waits."""
    alert_on: list[AlertKind] = Field(default_factory=lambda: list(ALERT_KINDS))
    """What else is sent on these channels: a task that failed or timed out, one that went
    silent, a change of the daemon's health."""
    alert_every: Seconds = 300.0
    """At most one such message in this many seconds: what happens meanwhile goes in the next."""


class CandidatePattern(BaseModel):
    """A delegation to offer the model when an observation matches (``[[candidates]]``): the
    command template's ``{path}``, ``{target}``, ``{event}``, ``{source}`` and ``{details}`` are
    filled in from the observation."""

    name: str
    source: str | None = None
    event: str | None = None
    severity: Severity | None = None
    """At least this severe."""
    path: str | None = None
    """A glob on the path relative to the watched folder."""
    agent: str
    priority: Priority = "medium"
    command: str


class ClusterConfig(BaseModel):
    """Roles on several machines over NATS JetStream (``docs/cluster.md``). Empty ``broker``:
    one machine, no broker, exactly as ``conscious run`` has always been."""

    broker: list[str] = Field(default_factory=list)
    """NATS server URLs, e.g. ``["nats://broker.lan:4222"]`` (several: a JetStream cluster)."""
    roles: list[Role] = Field(default_factory=list)
    """What this process is: ``observer`` (watch, publish), ``brain`` (decide; one leads at a
    time), ``worker`` (run agents). Several may be combined."""
    host: str = ""
    """This machine's name in the cluster (default: its hostname). Unique per process."""
    project: str = "default"
    """Which checkout this host's observations and agents belong to: tasks go to workers of the same project."""
    agents: list[str] = Field(default_factory=lambda: ["claude-code", "claude-flow", "memory"])
    """The agents a worker runs."""
    credentials: str | None = None
    """A NATS ``.creds`` file (user JWT and seed)."""
    token: str | None = None
    tls_ca: str | None = None
    """CA bundle to verify the broker's TLS certificate (``tls://`` URLs)."""
    tls_cert: str | None = None
    tls_key: str | None = None
    lease_s: Seconds = 10.0
    """Seconds a brain's leadership lasts without renewal: a dead leader is replaced after about this long."""
    ack_wait_s: Seconds = 30.0
    """Seconds a worker may go silent on a task before the broker hands it to another worker."""
    replicas: Count = 1
    """Copies of each stream (3 on a three-node JetStream cluster)."""


REPORT_GLOBS: tuple[str, ...] = (
    "**/junit*.xml",  # pytest --junitxml=junit.xml, jest-junit, vitest, cargo-nextest
    "**/*-junit.xml",
    "**/TEST-*.xml",  # Maven surefire/failsafe, Gradle, Ant
    "**/test-results/**/*.xml",  # Gradle, gotestsum in CI setups
    "**/test-reports/**/*.xml",
    "**/surefire-reports/*.xml",
    "**/failsafe-reports/*.xml",
    "**/nextest/**/*.xml",
    "**/reports/**/*.xml",
    "**/report*.xml",
    "**/.pytest_cache/**/*.xml",
)
"""Where test runners write JUnit XML by default or by common convention (``report_globs``)."""
