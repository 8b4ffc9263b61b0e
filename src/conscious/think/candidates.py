"""Candidate actions, composed by code from the evidence; the model only chooses among them.

For each batch the catalogue below (the seed's DECISION PATTERNS) turns what was observed into
complete delegations that quote it — the failing tests with their messages, the process that
vanished, the user's own words verbatim, a failed task with its error — plus ``observe`` and
``reflect``, which are always there. Users add their own patterns in the config
(``[[candidates]]``). A small model's worst case is then a wrong choice among sane options,
never an invented command sent to a paid agent.

Delegations come first, most specific first; then observe, then reflect. Each candidate has a
one-letter id (A, B, …): one token for the model to write, and one whose probability the server
can report (``confidence.py``).
"""

from __future__ import annotations

import fnmatch
import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import PurePath
from typing import Any

from conscious.config import CandidatePattern
from conscious.model import (
    CLARIFY,
    PRIORITY_RANK,
    SEVERITY_RANK,
    ActionType,
    Decision,
    Observation,
    Priority,
)
from conscious.system.outside import WORD, leads_out, relative
from conscious.think import asks

BUILTIN = ("claude-code", "claude-flow", "memory")
IDS = "ABCDEFGH"
"""At most eight options: enough for a batch's distinct actions, few enough to read."""
GIST = 60
"""Characters of a delegation's command shown in its option."""
AGAIN = "offered before reflecting"
ANSWER = "a question the journal answers"
ASK_BACK = "too vague: ask what is meant"
ANSWERED_HERE = (ANSWER, ASK_BACK)
"""What the memory agent does for a user's words at no cost: nothing to judge (``Options.answered_here``)."""
COMMAND_LIMIT = 600
"""Characters of a composed command (the evidence quoted in it is cut to fit)."""

_HOPELESS = re.compile(
    r"(not logged in|log ?in|authenticat|api key|credential|permission denied|command not found|not installed)",
    re.IGNORECASE,
)
"""An agent failure that running it again cannot mend: the user must act."""


@dataclass(frozen=True)
class Candidate:
    id: str
    action_type: ActionType
    target_agent: str | None
    command: str | None
    priority: Priority
    basis: str
    """What it rests on, in a few words (shown to the model; kept in the decision's metadata)."""
    requested: bool = False
    """The user's own words, handed over verbatim: the user asked for exactly this."""
    continues: int | None = None
    """The task this one retries: it continues in that task's worktree and session."""

    def line(self) -> str:
        """How the option reads in the prompt: what it is and the start of its command — the
        evidence it quotes is in the observations above, and every token here is processed anew
        each turn (OPTIONS are never cached)."""
        if self.action_type == "delegate":
            gist = cut(self.command or "", GIST)
            return f"{self.id}) delegate to {self.target_agent} ({self.priority}), {self.basis}: {gist}"
        return f"{self.id}) {self.action_type}: {self.basis}"

    def decision(self, reasoning: str, confidence: float, **metadata: Any) -> Decision:
        return Decision(
            action_type=self.action_type,
            reasoning=reasoning or self.basis,
            target_agent=self.target_agent,
            command=self.command,
            priority=self.priority,
            confidence=confidence,
            metadata={
                "choice": self.id,
                "basis": self.basis,
                **({"continues": self.continues} if self.continues is not None else {}),
                **metadata,
            },
        )


@dataclass(frozen=True)
class _Proposal:
    action_type: ActionType
    agent: str | None
    command: str | None
    priority: Priority
    basis: str
    requested: bool = False
    continues: int | None = None


def candidates(
    batch: Sequence[Observation],
    *,
    agents: Sequence[str],
    roots: Sequence[str] = (),
    patterns: Sequence[CandidatePattern] = (),
) -> list[Candidate]:
    """The options for this batch, in order, with their ids."""
    proposals: list[_Proposal] = []
    own = [a for a in agents if a not in BUILTIN]
    for obs in batch:
        proposals += _from_patterns(obs, patterns, roots)
        proposals += _catalogue(obs, roots)
        if (
            obs.source == "user"
            and obs.event_type == "request"
            and (words := str(obs.details.get("text") or "").strip())
        ):
            # The agents the user defined are there to be asked for: each may take the request.
            basis = "the user's request, to an agent of your own"
            proposals += [_Proposal("delegate", a, words, "medium", basis, True) for a in own]
    proposals += _many_failing(batch, roots)
    allowed = [p for p in proposals if p.agent in agents]
    allowed.sort(key=lambda p: -PRIORITY_RANK[p.priority])  # stable: evidence order within a priority
    seen: set[tuple[str | None, str | None]] = set()
    options = []
    for p in allowed:
        if (p.agent, p.command) not in seen:
            seen.add((p.agent, p.command))
            options.append(p)
    del options[len(IDS) - 2 :]
    options.append(_Proposal("observe", None, None, "low", _observe_basis(batch, bool(options))))
    options.append(_Proposal("reflect", None, _subject(batch, roots), "medium", "recall what the journal knows first"))
    return [
        Candidate(IDS[i], p.action_type, p.agent, p.command, p.priority, p.basis, p.requested, p.continues)
        for i, p in enumerate(options)
    ]


def actionable(obs: Observation, *, roots: Sequence[str] = (), patterns: Sequence[CandidatePattern] = ()) -> bool:
    """Whether the evidence offers any delegation for this observation."""
    return bool(_from_patterns(obs, patterns, roots) or _catalogue(obs, roots))


def _observe_basis(batch: Sequence[Observation], alternatives: bool) -> str:
    worst = max((SEVERITY_RANK[o.severity] for o in batch), default=0)
    if alternatives or worst >= SEVERITY_RANK["error"]:
        return "do nothing now, keep watching"
    return "nothing needs doing; keep watching"


def _subject(batch: Sequence[Observation], roots: Sequence[str]) -> str:
    questions = [o.target for o in batch if o.key[:2] == ("self", "reflection")]
    if questions:
        return cut(questions[0], 200)  # the same question, not a question about it
    heads = [f"{o.source}/{o.event_type} {relative(o.target, roots)}" for o in batch[:3]]
    return cut("What do we know about: " + "; ".join(heads), 200)


def _again(basis: object) -> str:
    """The grounds of a delegation offered again after a reflection (or a chain of them)."""
    if not isinstance(basis, str) or not basis:
        return AGAIN
    return basis if basis.endswith(AGAIN) else f"{basis}, {AGAIN}"


def cut(text: str, limit: int = COMMAND_LIMIT) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _catalogue(obs: Observation, roots: Sequence[str]) -> list[_Proposal]:
    if obs.source == "user" and obs.event_type == "request":
        return _request(str(obs.details.get("text") or obs.target))  # the user's words, verbatim
    if obs.key[:2] == ("self", "reflection"):
        return _offered_again(obs)
    return _evidence(obs, roots)


def _quoted(text: str, roots: Sequence[str]) -> str:
    """Observed text in a command, its paths as the gate reads them: inside a watched folder,
    relative to it; outside, only their last part (``…/python3``). The gate refuses a command
    naming a path outside the watched folders, and the evidence is full of them — a traceback's
    ``/usr/lib/python3.11/…``, a process's ``/usr/bin/python3``, an error about conscious's own
    worktrees — so every such delegation was refused for what it quoted, not for what it asked."""

    def word(m: re.Match[str]) -> str:
        w = m.group(0)
        if not leads_out(w):
            return w
        inside = relative(w, roots)
        if inside != w and ".." not in inside.split("/"):
            return inside
        return "…/" + (w.rstrip("/").rsplit("/", 1)[-1] or "")

    return WORD.sub(word, text)


def _evidence(obs: Observation, roots: Sequence[str]) -> list[_Proposal]:
    kind = (obs.source, obs.event_type)
    d = obs.details
    target = relative(obs.target, roots)
    if kind == ("tests", "failed"):
        failed = int(d.get("failures", 0)) + int(d.get("errors", 0))
        firsts = "; ".join(
            f"{f.get('test')}: {f.get('message')}" if f.get("message") else str(f.get("test"))
            for f in d.get("first_failures", [])
            if isinstance(f, dict)
        )
        evidence = f"{failed} of {d.get('tests', '?')} tests fail in {target}"
        if firsts:
            evidence += f" (first: {_quoted(firsts, roots)})"
        command = f"{cut(evidence, COMMAND_LIMIT - 80)}. Find the cause, fix it, and re-run the failing tests."
        return [_Proposal("delegate", "claude-code", command, "high", "the failing tests")]
    if kind == ("process", "failed") and isinstance(d.get("exit_code"), int):
        tail = _quoted(_short(str(d.get("tail") or "").strip()[-400:], 400), roots)
        said = f"; its output ended with: {tail}" if tail else ""
        command = f"`{target}` exited with code {d['exit_code']}{said}. Find the cause and fix it."
        return [_Proposal("delegate", "claude-code", cut(command), "high", "the command that failed")]
    if obs.source == "process" and obs.event_type == "vanished":
        cmd = f" ({_quoted(str(d['cmdline']), roots)})" if d.get("cmdline") else ""
        command = (
            f"The process {target}{cmd} stopped unexpectedly. Find out why from its logs and recent changes, "
            "and fix the cause."
        )
        return [_Proposal("delegate", "claude-code", cut(command), "medium", "the process that stopped")]
    if obs.source == "system" and obs.event_type in ("observer-failed", "crashed", "build-failed", "lint-failed"):
        error = d.get("error") or d.get("errors") or ""
        command = f"{obs.source}/{obs.event_type} {target}: {_quoted(_short(error), roots)}. Find the cause and fix it."
        return [_Proposal("delegate", "claude-code", cut(command), "high", f"the {obs.event_type} error")]
    if obs.source == "agent" and obs.event_type in ("failed", "timeout", "loop", "stalled", "interrupted"):
        return _retry(obs, roots)
    return _unknown_trouble(obs, roots)


LOOP_OWN = frozenset({"agent", "self", "policy", "clock", "user"})
"""Sources whose troubles the loop handles itself (retries, refusals, outages), or that are not
trouble to investigate (the user's words have their own options)."""
LOOP_OWN_SYSTEM = frozenset({"health", "notify-failed", "config-invalid", "parse-failure"})


def _unknown_trouble(obs: Observation, roots: Sequence[str]) -> list[_Proposal]:
    """An error or critical of a kind the catalogue does not know — an OOM kill, a crash loop, a
    build failure in another shape, anything a user's own observer reports — still offers an
    investigation quoting it: severe evidence with only observe and reflect to choose from was
    never acted on."""
    if SEVERITY_RANK[obs.severity] < SEVERITY_RANK["error"] or obs.source in LOOP_OWN:
        return []
    if obs.source == "system" and (
        obs.event_type in LOOP_OWN_SYSTEM or obs.event_type.startswith(("llm-", "journal-"))
    ):
        return []
    target = relative(obs.target, roots)
    shown = {k: v for k, v in obs.details.items() if k not in ("relative", "pid")}
    evidence = f": {_quoted(_short(shown), roots)}" if shown else ""
    command = f"{obs.source}/{obs.event_type} {target}{evidence}. Find out why this happened and fix the cause."
    priority: Priority = "critical" if obs.severity == "critical" else "high"
    return [_Proposal("delegate", "claude-code", cut(command), priority, f"the {obs.severity} {obs.event_type}")]


def _offered_again(obs: Observation) -> list[_Proposal]:
    """Written by the loop itself: what the evidence offered before the reflection."""
    d = obs.details
    return [
        _Proposal(
            "delegate", p["agent"], p["command"], p["priority"], _again(p.get("basis")), p.get("requested", False)
        )
        for p in d.get("proposals", [])
        if isinstance(p, dict)
        and isinstance(p.get("agent"), str)
        and isinstance(p.get("command"), str)
        and p.get("priority") in PRIORITY_RANK
    ]


def _short(value: Any, limit: int = 300) -> str:
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, default=str)
    return cut(text, limit)


def _request(text: str) -> list[_Proposal]:
    words = text.strip()
    kind = asks.kind(words)
    if kind == "nothing":
        return []
    if kind == "vague":
        # Nothing a paid agent could act on: the orchestrator's own voice asks what is meant.
        return [_Proposal("delegate", "memory", f"{CLARIFY} {words}", "medium", ASK_BACK, True)]
    code = _Proposal("delegate", "claude-code", words, "medium", "the user's request", True)
    flow = _Proposal("delegate", "claude-flow", words, "medium", "the user's request, as a multi-agent task", True)
    memory = _Proposal("delegate", "memory", words, "medium", "the user asks to remember or recall", True)
    if kind == "question":
        # A question about what was decided, known or running is answered from the journal:
        # no paid agent is offered it.
        return [_Proposal("delegate", "memory", words, "medium", ANSWER, True)]
    if kind == "memory":
        return [memory, code]
    if kind == "large":
        return [code, flow]
    return [code]


RETRY_NOTE = " (the last attempt "


def _retry(obs: Observation, roots: Sequence[str]) -> list[_Proposal]:
    d = obs.details
    agent, command = d.get("agent"), d.get("command")
    result = str(d.get("result") or "")
    if not isinstance(agent, str) or not isinstance(command, str) or _HOPELESS.search(result):
        return []
    why = {"timeout": "ran out of time", "loop": "went round in a loop", "stalled": "went silent"}.get(
        obs.event_type, obs.event_type
    )
    # A retry of a retry asks for the task as first given, with only the latest failure: nested
    # notes made every retry a new command, which neither the retry cap nor the dedup window
    # recognised (four in a row on a real checkout, each note inside the last). The command went
    # once already (the gate judged it); what is quoted of its failure is evidence.
    original = command.split(RETRY_NOTE, 1)[0]
    retry = f"{original}{RETRY_NOTE}{why}: {_quoted(_short(result, 200), roots)}; take another approach)"
    earlier = d.get("task_id") if isinstance(d.get("task_id"), int) else None
    return [_Proposal("delegate", agent, cut(retry), "high", f"a retry of the task that {why}", continues=earlier)]


def _many_failing(batch: Sequence[Observation], roots: Sequence[str]) -> list[_Proposal]:
    """Failures spread over several modules, or too many for one fix: one coordinated effort. A
    report lists only its first failures, so a report of ten or more counts as spread too."""
    modules: set[str] = set()
    reports: list[str] = []
    failing = big = 0
    for obs in batch:
        if (obs.source, obs.event_type) == ("tests", "failed"):
            for f in obs.details.get("first_failures", []):
                if isinstance(f, dict) and f.get("test"):
                    modules.add(str(f["test"]).rsplit(".", 1)[0])
            count = int(obs.details.get("failures", 0)) + int(obs.details.get("errors", 0))
            failing += count
            big += count >= 10
            reports.append(relative(obs.target, roots))
    if len(modules) + big < 3:
        return []
    where = f"in {', '.join(reports[:3])}" + (f" (the first in {', '.join(sorted(modules)[:5])})" if modules else "")
    command = f"{failing} tests fail {where}. Coordinate the fixes across modules and re-run the whole suite."
    return [_Proposal("delegate", "claude-flow", cut(command), "high", "failures across many modules")]


def _from_patterns(obs: Observation, patterns: Iterable[CandidatePattern], roots: Sequence[str]) -> list[_Proposal]:
    out = []
    path = relative(obs.target, roots)
    for p in patterns:
        if p.source not in (None, obs.source) or p.event not in (None, obs.event_type):
            continue
        if p.severity is not None and SEVERITY_RANK[obs.severity] < SEVERITY_RANK[p.severity]:
            continue
        if p.path is not None and not (fnmatch.fnmatch(path, p.path) or PurePath(path).match(p.path)):
            continue
        fields = {"path": path, "target": obs.target, "event": obs.event_type, "source": obs.source}
        fields["details"] = _short(obs.details)
        command = p.command.format_map(_Missing(fields))
        out.append(_Proposal("delegate", p.agent, cut(command), p.priority, f"your pattern {p.name!r}"))
    return out


class _Missing(dict[str, str]):
    def __missing__(self, key: str) -> str:
        return "{" + key + "}"
