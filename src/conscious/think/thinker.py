"""One thought: add the newest turn to the window, stream a schema-constrained reply, cut
it when the JSON object closes, and parse it into a Decision.

An unusable reply never escapes as an exception: it becomes a safe ``observe`` decision and
the error is returned for the caller to journal. Outages (``LLMUnavailable``) do escape, with
the window restored, so the batch stays pending and is decided when the server returns.
"""

from __future__ import annotations

import json
import time
from contextlib import aclosing
from dataclasses import dataclass, field
from typing import Any

from conscious.errors import DecisionParseError, LLMError
from conscious.model import Decision
from conscious.think.backends.base import Limits, LLMBackend, Usage
from conscious.think.context import ContextWindow, Turn
from conscious.think.decision import DECISION_SCHEMA, ObjectCutter, parse_decision

TRAILING_CHUNKS = 4
"""Whitespace chunks tolerated after the object closes while waiting for the final usage."""


@dataclass
class Thought:
    decision: Decision
    raw: str
    latency_ms: float
    usage: Usage = field(default_factory=Usage)
    error: str | None = None
    """Why the reply was unusable, when ``decision`` is the safe fallback."""
    evicted: list[Turn] = field(default_factory=list)


def fallback(reason: str) -> Decision:
    return Decision(
        action_type="observe",
        reasoning=f"No usable decision from the model ({reason}); observing.",
        priority="low",
        confidence=0.0,
        metadata={"fallback": True},
    )


class Thinker:
    def __init__(
        self,
        backend: LLMBackend,
        window: ContextWindow,
        limits: Limits,
        schema: dict[str, Any] | None = DECISION_SCHEMA,
    ) -> None:
        self.backend = backend
        self.window = window
        self.limits = limits
        self.schema = schema

    async def think(self, prompt: str) -> Thought:
        tokens = await self.backend.tokenize(prompt)
        evicted = self.window.add(Turn("user", prompt, tokens))
        started = time.perf_counter()
        cutter = ObjectCutter()
        usage = Usage()
        after = 0
        try:
            async with aclosing(self.backend.stream(self.window.messages(), self.schema, self.limits)) as chunks:
                async for item in chunks:
                    if isinstance(item, Usage):
                        usage = item
                    elif cutter.object is None:
                        cutter.feed(item)
                    elif item.strip() or (after := after + 1) > TRAILING_CHUNKS:
                        break  # the object closed and the model kept going: stop paying
                    # Otherwise wait briefly: a constrained server ends on its own right
                    # after the object, and its last chunk carries usage and timings.
        except LLMError:
            self.window.pop_last()
            self.window.turns[:0] = evicted
            raise
        latency_ms = (time.perf_counter() - started) * 1000
        raw = cutter.text
        try:
            decision = parse_decision(raw)
            error = None
            reply = cutter.object or raw
        except DecisionParseError as exc:
            decision, error = fallback(str(exc)), str(exc)
            reply = json.dumps(decision.model_dump(exclude={"metadata"}), separators=(",", ":"))
        # The server's count is exact only when what it generated is exactly what we keep.
        exact = error is None and raw.strip() == reply
        reply_tokens = usage.completion_tokens if usage.completion_tokens and exact else None
        reply_tokens = reply_tokens or await self.backend.tokenize(reply)
        evicted += self.window.add(Turn("assistant", reply, reply_tokens))
        return Thought(decision, raw, latency_ms, usage, error, evicted)
