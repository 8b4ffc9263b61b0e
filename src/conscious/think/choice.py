"""A turn's options as the model sees and answers them, in the default ``choose`` mode.

The model writes ``{"choice": letter, "reasoning": why, "confidence": n}`` under a schema whose
enum is this turn's letters: a short reply, and never a command of its own. The decision is the
chosen candidate's. Its confidence, where the server reports log-probabilities
(``confidence.py``), is the probability with which the model chose that kind of action: the
shares of every option of the chosen action type, summed — the threshold gates delegating at
all, and two delegations the model hesitates between are still a confident delegation. The
chosen option's own share is kept beside it. Without log-probabilities, what the model said.

What stays in the context window of the exchange is a compact fact ("→ delegated to …"), not
the reply itself: a small model shown its own last answer copies it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from conscious.errors import DecisionParseError
from conscious.model import Decision
from conscious.think.backends.base import Usage
from conscious.think.candidates import ANSWERED_HERE, Candidate
from conscious.think.confidence import option_shares
from conscious.think.decision import reply_object
from conscious.think.prompt import render_options

REASONING_LIMIT = 80
"""One short clause: the reply is the latency of a choice, and a small model's why is rarely more."""
CONFIDENCE_STEPS = [round(i / 10, 1) for i in range(11)]
"""The self-reported confidence as one of eleven values, not any number: a free number let the
bundled model write ``0.152783496e-12`` (a fifth of a reply's tokens); the measured one comes
from log-probabilities anyway."""
TOP_LOGPROBS = 20
"""Alternatives asked for at each token: enough for every option's letter to show up."""


def choice_schema(ids: Sequence[str]) -> dict[str, Any]:
    return {
        "type": "object",
        "properties": {
            "choice": {"type": "string", "enum": list(ids)},
            "reasoning": {"type": "string", "minLength": 1, "maxLength": REASONING_LIMIT},
            "confidence": {"enum": CONFIDENCE_STEPS},
        },
        "required": ["choice", "reasoning", "confidence"],
        "additionalProperties": False,
    }


@dataclass(frozen=True)
class Options:
    candidates: Sequence[Candidate]
    facts: str = ""
    """The facts of this moment, asked with the options and, like them, not kept in the window:
    they would be stale in every later turn, and they made the window grow a third faster."""

    @property
    def ids(self) -> list[str]:
        return [c.id for c in self.candidates]

    def schema(self) -> dict[str, Any]:
        return choice_schema(self.ids)

    def evident(self, chosen: Candidate) -> bool:
        """Whether ``chosen`` is the only delegation offered, composed from evidence at error or
        above (its priority says so: high or critical), not from the user's words or a retry.
        Then choosing it is not a judgement between sensible options, and a low measured
        confidence (the model hesitating between it and observing) must not hold it back."""
        delegations = [c for c in self.candidates if c.action_type == "delegate"]
        return (
            delegations == [chosen]
            and chosen.priority in ("high", "critical")
            and not chosen.requested
            and chosen.continues is None
        )

    def answered_here(self) -> Candidate | None:
        """The one delegation offered when it is the memory agent answering the user's question
        from the journal, or asking back what an unclear ask means: free, instant, no process
        started, nothing else to do — nothing for the model to judge (the 135M model observed
        two of six such questions)."""
        delegations = [c for c in self.candidates if c.action_type == "delegate"]
        if len(delegations) == 1 and delegations[0].target_agent == "memory" and delegations[0].requested:
            return delegations[0] if delegations[0].basis in ANSWERED_HERE else None
        return None

    def lines(self) -> list[str]:
        return [c.line() for c in self.candidates]

    def block(self) -> str:
        return "\n".join([*([self.facts] if self.facts else []), render_options(self.lines())])

    def read(
        self, text: str, usage: Usage, *, think: bool = True, temperature: float = 1.0
    ) -> tuple[Candidate, Decision]:
        """The chosen candidate, and it as a decision; ``DecisionParseError`` when the reply names none."""
        data = reply_object(text, think=think)
        letter = str(data.get("choice", "")).strip().strip("()").upper()[:1]
        chosen = next((c for c in self.candidates if c.id == letter), None)
        if chosen is None:
            raise DecisionParseError(f"choice {data.get('choice')!r} is not one of {', '.join(self.ids)}", raw=text)
        said = data.get("confidence")
        reported = None
        if isinstance(said, int | float) and not isinstance(said, bool):
            reported = min(1.0, max(0.0, float(said)))
        shares = option_shares(usage.logprobs, self.ids, temperature=temperature) if usage.logprobs else None
        measured = None
        if shares is not None and chosen.id in shares:
            measured = sum(shares.get(c.id, 0.0) for c in self.candidates if c.action_type == chosen.action_type)
        reasoning = " ".join(str(data.get("reasoning") or "").split())[:REASONING_LIMIT]
        confidence = measured if measured is not None else reported if reported is not None else 0.5
        return chosen, chosen.decision(
            reasoning,
            round(confidence, 4),
            self_reported=reported,
            confidence_from="logprobs" if measured is not None else "self-report",
            choice_probability=round(shares[chosen.id], 4) if measured is not None and shares else None,
            options=self.lines(),
        )


def recap(decision: Decision) -> str:
    """The exchange as the window keeps it: what was done and on what grounds, as a fact. Not
    the command: it quotes the evidence, which is in the turn just above, and every token kept
    here is paid again at each compaction."""
    if decision.action_type == "delegate":
        basis = decision.metadata.get("basis")
        grounds = basis if isinstance(basis, str) and basis else (decision.command or "")[:60]
        return f"→ delegated to {decision.target_agent}: {grounds}"
    if decision.action_type == "reflect":
        return "→ reflected: recalled what the journal knows"
    return "→ observed: nothing to do"
