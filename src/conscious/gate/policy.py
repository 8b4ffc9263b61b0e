"""The gate: plain code between the model's proposal and any agent. The model proposes,
the gate disposes. Pure functions, no I/O."""

from __future__ import annotations

import posixpath
import re
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from typing import Literal

from conscious.gate.destructive import destroys
from conscious.model import NEVER_STARTED, ActionType, ApprovalMode, Decision, PastTask, Priority
from conscious.system.outside import SEPARATORS, leads_out

VerdictLabel = Literal[
    "accepted",
    "low-confidence",
    "below-threshold",
    "no-target",
    "no-command",
    "agent-not-allowed",
    "denied-command",
    "duplicate",
    "dry-run",
    "stopping",
    "recently-done",
    "retry-cap",
    "budget",
    "not-allowed-command",
    "quarantined",
    "outside-roots",
    "awaiting-approval",
    "approval-never",
]

DEFAULT_DENY: tuple[str, ...] = (
    r"\brm\s+-[a-z]*r[a-z]*f?\s+(/|~|\$HOME|\*)",  # recursive delete of root, home, everything
    r"\bmkfs\b",
    r"\bdd\s+if=",
    r":\(\)\s*\{",
    r"\bshutdown\b",
    r"\breboot\b",
    r"\b(curl|wget)\b[^|;&]*\|\s*(ba|z|fi)?sh\b",  # fetch-and-execute
    r"\bsudo\b",
    r"\bchmod\s+-R\s+777\b",
    r"git\s+push\s+.*--force",
    r"(~|\$HOME|/root|/home/[^/\s]+)/\.(ssh|aws|gnupg|netrc|config/gh)\b",  # credential stores
    r"\bid_(rsa|ed25519|ecdsa)\b",
    r"\b(printenv|env)\b.*\b(curl|wget|nc)\b",
    r"\b(curl|wget)\b.*(\s-d|--data[a-z-]*|\s-F|--form|\s-T|--upload-file|--post-file)\s*=?\s*@",  # upload a file
    r"\b(nc|ncat|netcat|socat|telnet)\b",  # raw connections out
    r"\b(scp|rsync|sftp)\b.*\S+@\S+:",  # copy to another machine
    r"\bbase64\b.*\|\s*(curl|wget|nc)\b",
    r"\.env\b.*\b(curl|wget|nc|scp)\b|\b(curl|wget|nc|scp)\b.*\.env\b",  # secrets and the network together
    r"\b(cat|less|more|head|tail|cp)\b[^|;&]*(/etc/shadow|\.pem\b|\.key\b|credentials\b|\.netrc\b)",
    r"\beval\b.*\$\(\s*(curl|wget)",
    r"--dangerously-skip-permissions",
    r"\bbypassPermissions\b",
)


FILESYSTEM_TOPS = frozenset(
    [
        "bin",
        "boot",
        "dev",
        "etc",
        "home",
        "lib",
        "lib32",
        "lib64",
        "libx32",
        "media",
        "mnt",
        "opt",
        "proc",
        "root",
        "run",
        "sbin",
        "srv",
        "sys",
        "tmp",
        "usr",
        "var",
        "nix",
        "snap",
        "gnu",
        "Users",
        "Volumes",
        "private",
        "Library",
        "System",
        "Applications",
    ]
)
"""The folders a file's absolute path begins with. ``/invoices`` or ``/healthz`` in a user's
words is a route of their API, not a file: the wall, not the gate, decides what the agent may
touch, and the request is not refused for naming it."""


def _paths(command: str, roots: Collection[str] = ()) -> list[str]:
    """Words of a command that could lead out of the working folder: ``~``, with ``..``, or
    absolute under a folder a filesystem has (or a watched folder's)."""
    tops = FILESYSTEM_TOPS | {r.strip("/").split("/")[0] for r in roots}
    return [
        word
        for word in SEPARATORS.split(command)
        if leads_out(word) and (not word.startswith("/") or word.strip("/").split("/")[0] in tops)
    ]


@dataclass(frozen=True)
class Verdict:
    action: ActionType
    """What actually happens: a refused delegation is recorded as ``observe``."""
    label: VerdictLabel
    reason: str

    @property
    def delegates(self) -> bool:
        return self.action == "delegate" and self.label == "accepted"

    @property
    def awaits(self) -> bool:
        """Accepted by every rule, waiting for the user's answer."""
        return self.action == "delegate" and self.label == "awaiting-approval"


@dataclass(frozen=True)
class History:
    """What the gate needs to know of earlier delegations (read from the journal)."""

    running: frozenset[tuple[str, str]] = frozenset()
    """(agent, command) of unfinished tasks."""
    recent: tuple[PastTask, ...] = ()
    """Delegations of the last day, any state."""
    quarantined: frozenset[tuple[str, str]] = frozenset()
    """(agent, command) of items quarantined until the user releases them."""
    released: Mapping[tuple[str, str], float] = field(default_factory=dict)
    """(agent, command) → seconds since the user released it: failures before that are forgiven."""
    awaiting: frozenset[tuple[str, str]] = frozenset()
    """(agent, command) of delegations waiting for the user's approval."""

    def spend(self, within_s: float, agent: str | None = None) -> float:
        return sum(t.cost_usd or 0.0 for t in self.recent if t.age_s <= within_s and agent in (None, t.agent))

    def delegations(self, within_s: float, agent: str | None = None) -> int:
        """Delegations decided within the window that were (or may still be) started. Of all
        agents (``agent`` None), the memory agent's are not counted: notes and answers cost
        nothing, and twenty questions in an hour must not hold back the work."""
        return sum(
            1
            for t in self.recent
            if t.age_s <= within_s
            and t.state not in NEVER_STARTED
            and (t.agent == agent if agent is not None else t.agent != FREE_AGENT)
        )


FREE_AGENT = "memory"
"""In-process, instant, paid by nobody: outside the budget of delegations (its own still applies)."""

_STRICTNESS: dict[ApprovalMode, int] = {"auto": 0, "ask": 1, "never": 2}


@dataclass(frozen=True)
class Approval:
    """Who answers for a delegation the rules accepted: nobody (``auto``), the user (``ask``), or
    it is refused (``never``). The strictest of the agent's and the priority's modes applies."""

    mode: ApprovalMode = "auto"
    """When neither the agent nor the priority has a mode of its own."""
    agents: Mapping[str, ApprovalMode] = field(default_factory=dict)
    priorities: Mapping[str, ApprovalMode] = field(default_factory=dict)
    always_allow: tuple[tuple[str, str], ...] = ()
    """(agent, pattern) answered once with ``approve --always``: asked no more."""
    destructive: ApprovalMode = "ask"
    """For instructions that ask to destroy (``destructive.py``), whatever the modes above say; a
    saved ``--always`` answer does not cover them."""

    def mode_for(self, agent: str, priority: str) -> ApprovalMode:
        modes = [m for m in (self.agents.get(agent), self.priorities.get(priority)) if m is not None]
        return max(modes, key=_STRICTNESS.__getitem__) if modes else self.mode

    def saved(self, agent: str, command: str) -> str | None:
        """The saved pattern that approves this request already, if any."""
        for who, pattern in self.always_allow:
            if who == agent and re.search(pattern, command, flags=re.IGNORECASE):
                return pattern
        return None


@dataclass(frozen=True)
class AgentLimits:
    """One agent's share (None: only the overall limit applies)."""

    delegations_per_hour: int | None = None
    max_concurrent: int | None = None
    max_spend_usd_per_day: float | None = None


DAY = 86_400.0


@dataclass(frozen=True)
class Policy:
    delegate_threshold: float = 0.7
    reflect_threshold: float = 0.5
    allowed_agents: Collection[str] = ("claude-code", "claude-flow", "memory")
    deny_patterns: tuple[str, ...] = DEFAULT_DENY
    allow_patterns: tuple[str, ...] = ()
    """When set, a command must match one of them."""
    roots: tuple[str, ...] = ()
    """The watched folders: a command may name no path outside them (empty: not checked)."""
    dry_run: bool = False
    dedup_window_s: float = 600.0
    """The same command for the same agent is not delegated again within this window."""
    retry_cap: int = 3
    """After this many failures of the same command in a day, it is not tried again."""
    delegations_per_hour: int = 20
    max_spend_usd_per_day: float | None = 5.0
    """From the agents' own reported costs; enforced even if an agent overran its own cap."""
    agent_limits: Mapping[str, AgentLimits] = field(default_factory=dict)
    approval: Approval = Approval()

    def denied_by(self, command: str) -> str | None:
        for pattern in self.deny_patterns:
            if re.search(pattern, command, flags=re.IGNORECASE):
                return pattern
        return None

    def outside_roots(self, command: str) -> str | None:
        """A path in the command that leads out of every watched folder, if any."""
        if not self.roots:
            return None
        for path in _paths(command, self.roots):
            if path.startswith("~"):
                return path  # a home directory is never a watched project
            for root in self.roots:
                resolved = posixpath.normpath(posixpath.join(root, path))
                if resolved == root or resolved.startswith(root.rstrip("/") + "/"):
                    break
            else:
                return path
        return None

    def judge(
        self,
        decision: Decision,
        history: History = History(),
        *,
        approved: bool = False,
        requested: bool = False,
        evident: bool = False,
    ) -> Verdict:
        """Decide what may happen, given earlier delegations. ``approved``: the user said yes
        (every rule but the approval itself still applies when the task is about to start).
        ``requested``: the decision hands over the user's own words verbatim (a candidate code
        composed, which the model chose): the user asked, so the model's confidence is not what
        authorises it; every other rule, approval included, still applies. ``evident``: the
        evidence is a failure at error or above and this was the one delegation it offered, the
        model chose it: a small model's measured confidence held plain failing tests back as
        unsure (9 failures in one module, below 0.7), and nothing happened."""
        if decision.action_type == "observe":
            return Verdict("observe", "accepted", "observing")
        authorised = requested or approved or evident  # by the user or the evidence, not the confidence
        if decision.confidence < self.reflect_threshold and not authorised:
            return Verdict(
                "reflect",
                "low-confidence",
                f"confidence {decision.confidence:.2f} < {self.reflect_threshold}: reflect first",
            )
        if decision.action_type == "reflect":
            return Verdict("reflect", "accepted", "reflecting")
        agent, command = decision.target_agent, (decision.command or "").strip()
        if agent is None:
            return Verdict("observe", "no-target", "delegation without a target agent")
        refused = (
            self._unfit(agent, command, decision.confidence, authorised)
            or self._again(agent, command, history, approved=approved, asked=requested or approved)
            or self._spent(agent, history)
        )
        if refused is not None:
            return refused
        if self.dry_run:
            return Verdict("observe", "dry-run", "dry run: delegation not started")
        waits = None if approved else self._approval_of(agent, command, decision.priority)
        return waits or Verdict("delegate", "accepted", f"delegating to {agent}")

    def _unfit(self, agent: str, command: str, confidence: float, authorised: bool) -> Verdict | None:
        """What refuses the delegation itself: its agent, its confidence, its command's words."""
        if agent not in self.allowed_agents:
            return Verdict("observe", "agent-not-allowed", f"agent {agent} is not allowed")
        if not command:
            return Verdict("observe", "no-command", "delegation without a command")
        if confidence < self.delegate_threshold and not authorised:
            return Verdict("observe", "below-threshold", f"confidence {confidence:.2f} < {self.delegate_threshold}")
        if command.startswith("-"):
            return Verdict("observe", "denied-command", "a command may not start with '-' (it would read as a flag)")
        if (pattern := self.denied_by(command)) is not None:
            return Verdict("observe", "denied-command", f"command matches deny rule {pattern!r}")
        if self.allow_patterns and not any(re.search(p, command, flags=re.IGNORECASE) for p in self.allow_patterns):
            return Verdict("observe", "not-allowed-command", "command matches none of the allow rules")
        if (path := self.outside_roots(command)) is not None:
            return Verdict("observe", "outside-roots", f"command names a path outside the watched folders: {path}")
        return None

    def _again(self, agent: str, command: str, history: History, *, approved: bool, asked: bool) -> Verdict | None:
        """What refuses it as done already: running, waiting, recently done, quarantined, failed
        too often. ``asked``: the user acting (a request, an approval)."""
        if (agent, command) in history.running:
            return Verdict("observe", "duplicate", "the same command is already running for this agent")
        if not approved and (agent, command) in history.awaiting:
            return Verdict("observe", "duplicate", "the same command is already waiting for approval")
        same = [t for t in history.recent if (t.agent, t.command) == (agent, command)]
        if asked:
            # An attempt that failed before its agent ran (not installed, no wall) cannot be
            # mended by running it again, only by the user: asking again is the user acting.
            same = [t for t in same if t.started]
        if any(t.age_s <= self.dedup_window_s for t in same):
            return Verdict(
                "observe", "recently-done", f"the same command went to {agent} less than {self.dedup_window_s:.0f}s ago"
            )
        if (agent, command) in history.quarantined:
            return Verdict("observe", "quarantined", "this item is quarantined until released (`conscious release`)")
        forgiven = history.released.get((agent, command), float("inf"))
        failures = sum(1 for t in same if t.state in ("failed", "timeout") and t.age_s < forgiven)
        if failures >= self.retry_cap:
            return Verdict("observe", "retry-cap", f"this command already failed {self.retry_cap} times today")
        return None

    def _spent(self, agent: str, history: History) -> Verdict | None:
        stop = self.over_budget(agent, history)
        return Verdict("observe", "budget", stop) if stop is not None else None

    def _approval_of(self, agent: str, command: str, priority: Priority) -> Verdict | None:
        """Whether a person must say yes first (or never will); None: no one needs to."""
        mode = self.approval.mode_for(agent, priority)
        harm = destroys(command) if agent != "memory" else None
        if harm is not None and _STRICTNESS[self.approval.destructive] >= _STRICTNESS[mode]:
            if self.approval.destructive == "never":
                return Verdict("observe", "approval-never", f"the instruction {harm}: never approved")
            if self.approval.destructive == "ask":
                return Verdict("delegate", "awaiting-approval", f"the instruction {harm}: a person decides")
        if mode == "never":
            return Verdict("observe", "approval-never", f"delegations to {agent} at {priority} are never approved")
        if mode == "ask":
            if (pattern := self.approval.saved(agent, command)) is not None:
                return Verdict("delegate", "accepted", f"delegating to {agent} (approved always: {pattern!r})")
            return Verdict("delegate", "awaiting-approval", f"{agent} at {priority}: waiting for the user's approval")
        return None

    def over_budget(self, agent: str, history: History) -> str | None:
        """Why a new delegation to ``agent`` would exceed a budget, if it would."""
        if history.delegations(3600) >= self.delegations_per_hour:
            return f"{self.delegations_per_hour} delegations in the last hour"
        if self.max_spend_usd_per_day is not None and history.spend(DAY) >= self.max_spend_usd_per_day:
            return f"agents spent ${history.spend(DAY):.2f} today (cap ${self.max_spend_usd_per_day:.2f})"
        limits = self.agent_limits.get(agent)
        if limits is None:
            return None
        if limits.delegations_per_hour is not None and history.delegations(3600, agent) >= limits.delegations_per_hour:
            return f"{limits.delegations_per_hour} delegations to {agent} in the last hour"
        if (
            limits.max_concurrent is not None
            and sum(1 for a, _ in history.running if a == agent) >= limits.max_concurrent
        ):
            return f"{limits.max_concurrent} tasks of {agent} already running"
        spent = history.spend(DAY, agent)
        if limits.max_spend_usd_per_day is not None and spent >= limits.max_spend_usd_per_day:
            return f"{agent} spent ${spent:.2f} today (cap ${limits.max_spend_usd_per_day:.2f})"
        return None
