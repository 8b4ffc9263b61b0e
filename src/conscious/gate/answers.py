"""The user's answers to delegations that wait for approval (``conscious approve`` / ``deny``).

An answer given ``--always`` becomes a rule kept in the config file — an allow pattern for
that agent, or a deny pattern — and answers the other waiting requests it matches, so the
same kind of request is not asked again (a running daemon re-reads the file)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from conscious.config import save_pattern
from conscious.errors import ConsciousError
from conscious.gate.approvals import Answer, Approvals, ApprovalsJournal


@dataclass
class Answered:
    request: dict[str, Any]
    pattern: str | None = None
    """The rule saved, with ``--always``."""
    also: list[dict[str, Any]] = field(default_factory=list)
    """Other waiting requests the saved rule answered."""
    kept_in: Path | None = None
    """The config file the rule was saved in."""


def exact(command: str) -> str:
    """The pattern that matches this one command and nothing else."""
    return f"^{re.escape(command)}$"


def answer(
    journal: ApprovalsJournal,
    approval_id: int,
    given: Answer,
    *,
    reason: str | None = None,
    always: Path | None = None,
    pattern: str | None = None,
) -> Answered:
    """Answer request ``approval_id``; with ``always`` (the config file), keep the answer as a rule."""
    approvals = Approvals(journal)
    if pattern is not None:
        try:
            re.compile(pattern)
        except re.error as exc:
            raise ConsciousError(f"invalid pattern {pattern!r}: {exc}") from None
    request = approvals.answer(approval_id, given, reason)
    if request is None:
        known = approvals.get(approval_id)
        waiting = ", ".join(str(w["id"]) for w in approvals.waiting()) or "none"
        if known is None:
            raise ConsciousError(f"no approval #{approval_id} (waiting now: {waiting})")
        when = f"answered {known['answered'][:19]}" if known.get("answered") else "not waiting"
        raise ConsciousError(
            f"approval #{approval_id} was already {when} (its delegation is {known['state']}; waiting now: {waiting})"
        )
    done = Answered(request)
    if always is None:
        return done
    done.pattern, done.kept_in = pattern or exact(request["command"]), always
    save_pattern(always, request["agent"], done.pattern, allow=given == "approved")
    for other in approvals.waiting():
        if given == "approved" and other["agent"] != request["agent"]:
            continue  # an allow rule is for one agent; a deny rule is for all
        if re.search(done.pattern, other["command"], flags=re.IGNORECASE):
            why = f"{given} always ({done.pattern!r}, with #{approval_id})"
            if (also := approvals.answer(other["id"], given, why)) is not None:
                done.also.append(also)
    return done
