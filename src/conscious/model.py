"""The vocabulary shared by every part of the loop: observations, decisions, tasks."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field

from conscious.errors import BadRequest

ActionType = Literal["delegate", "observe", "reflect"]
AgentName = str
"""claude-code, claude-flow, memory, or a user-defined command agent; the gate checks it."""
Priority = Literal["low", "medium", "high", "critical"]
Severity = Literal["debug", "info", "warning", "error", "critical"]
ObservationStatus = Literal["pending", "decided", "attributed", "forwarded"]
"""``attributed``: a change made by one of the loop's own tasks (never decided; see ``loop/attribution.py``);
``forwarded``: sent to the cluster's brain, which decides it (``cluster/outbox.py``)."""
TaskState = Literal[
    "pending",
    "running",
    "succeeded",
    "failed",
    "timeout",
    "interrupted",
    "refused",
    "awaiting-approval",
    "approved",
    "denied",
    "expired",
]
UNFINISHED: tuple[TaskState, ...] = ("pending", "awaiting-approval", "approved", "running")
"""A task in one of these states has not ended (it may still start, or is running)."""
ApprovalMode = Literal["auto", "ask", "never"]
"""A delegation the gate accepted starts at once, waits for the user, or is refused."""
NEVER_STARTED: frozenset[str] = frozenset({"refused", "denied", "expired"})
"""Task states of delegations that never ran: they count against no budget."""

SEVERITY_RANK: dict[str, int] = {"debug": 0, "info": 1, "warning": 2, "error": 3, "critical": 4}
PRIORITY_RANK: dict[str, int] = {"low": 0, "medium": 1, "high": 2, "critical": 3}


def utcnow() -> datetime:
    return datetime.now(UTC)


class Observation(BaseModel):
    """Something that happened, in the seed's shape, plus how often it happened."""

    source: str
    """Where it came from: filesystem, process, user, agent, system, tests, clock."""
    event_type: str
    """What happened: created, modified, deleted, started, stopped, request, result, ..."""
    target: str
    """What was affected: a path, a process name, a task id."""
    details: dict[str, Any] = Field(default_factory=dict)
    severity: Severity = "info"
    timestamp: datetime = Field(default_factory=utcnow)
    id: int | None = None
    """Journal row id, once journaled."""
    count: int = 1
    """How many identical events this stands for (coalesced repeats)."""
    last_ts: datetime | None = None
    status: ObservationStatus = "pending"
    decision_id: int | None = None

    @property
    def key(self) -> tuple[str, str, str]:
        """Observations with the same key are repeats of one another. Requests from the user
        never are: each one is distinct, whatever its wording."""
        target = f"{self.target}#{self.id}" if self.source == "user" else self.target
        return (self.source, self.event_type, target)


class DecisionMetadata(BaseModel):
    alternatives_considered: list[str] = Field(default_factory=list)
    expected_outcome: str | None = None


class Decision(BaseModel):
    """One structured decision from the model, in the seed's shape."""

    action_type: ActionType
    reasoning: str
    target_agent: AgentName | None = None
    command: str | None = None
    priority: Priority = "medium"
    confidence: float = Field(default=0.5, ge=0.0, le=1.0)
    metadata: dict[str, Any] = Field(default_factory=dict)


class Task(BaseModel):
    """A delegation: one decision handed to one agent, started at most once."""

    id: int | None = None
    decision_id: int
    agent: str
    command: str
    state: TaskState = "pending"
    pgid: int | None = None
    started: datetime | None = None
    ended: datetime | None = None
    exit_code: int | None = None
    result: str | None = None
    cost_usd: float | None = None
    num_turns: int | None = None
    session_id: str | None = None
    approval_id: int | None = None
    """Set when the task waits (or waited) for the user's approval."""


@dataclass(frozen=True)
class RunningTask:
    """A delegation not finished, and the folder it works in (a clone of its own, or the watched one)."""

    task: Task
    folder: Path


@dataclass(frozen=True)
class PastTask:
    """An earlier delegation, as the gate sees it."""

    agent: str
    command: str
    state: str
    age_s: float
    """Seconds since it was decided."""
    cost_usd: float | None = None
    task_id: int | None = None
    started: bool = True
    """False: it failed before any process of its agent ran (not installed, no wall)."""


QUESTION = re.compile(
    r"\?\s*$|^\s*(what|when|why|how|which|who|where|did|do|does|have|has|had|is|are|was|were)\b", re.IGNORECASE
)
"""A request that asks rather than tells."""
CLARIFY = "clarify:"
"""What the memory agent is told when a request is too vague to hand to a paid agent: it asks back."""

REQUEST_LIMIT = 20_000
"""Characters a request may hold (``tell``, the API's inbox, MCP's tell)."""


def clean_text(text: str) -> str:
    """Text as text: bytes that were not UTF-8 (a shell's ``$'\\xff'``, which Python's argv keeps
    as surrogate escapes) and lone surrogates (JSON may carry ``\\ud800``) become U+FFFD. Left as
    they were, they could not be written to the journal or sent as JSON: an internal error and
    a 500 with two tracebacks."""
    try:
        return text.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
    except UnicodeEncodeError:  # a surrogate that is no escaped byte
        return "".join("\ufffd" if "\ud800" <= c <= "\udfff" else c for c in text)


def request(text: str) -> Observation:
    """A request from the user, as every way of telling makes it; ``BadRequest`` (one line) when
    it is empty or over ``REQUEST_LIMIT`` — never a dump of the text back at its author."""
    text = clean_text(text)
    if not text.strip():
        raise BadRequest('a request needs some words: conscious tell "what you want done or known"')
    if len(text) > REQUEST_LIMIT:
        raise BadRequest(f"a request is at most {REQUEST_LIMIT:,} characters; this one has {len(text):,}")
    return Observation(source="user", event_type="request", target="inbox", details={"text": text})


@dataclass(frozen=True, kw_only=True)
class DecisionRecord:
    """A decision as it is made final: made once by the loop's step and handed whole to the
    cluster's log (``DecisionLog``), the journal and whoever watches (``Reporter``)."""

    decision: Decision
    covers: Sequence[int]
    """The observations it decides (this journal's ids)."""
    action: ActionType
    """What happens: a delegation the gate refused is observed, one held as unsure reflected."""
    verdict: str
    verdict_reason: str | None
    origin: str
    """``rule`` or ``code`` (no model call), ``llm``, ``fallback``, ``cluster``."""
    task: Task | None = None
    approval_expires: datetime | None = None
    raw_reply: str | None = None
    latency_ms: float | None = None
    first_token_ms: float | None = None
    prompt_tokens: int | None = None
    """What the server processed for it (cached tokens aside, where it says)."""
    cached_tokens: int | None = None
    turn: int | None = None

    @classmethod
    def of(cls, decision: Decision, covers: Sequence[int] = (), **fields: Any) -> DecisionRecord:
        """The decision as made, accepted (``fields`` say otherwise where it was not)."""
        made: dict[str, Any] = {"action": decision.action_type, "verdict": "accepted", "verdict_reason": None}
        return cls(decision=decision, covers=covers, **{"origin": "llm", **made, **fields})
