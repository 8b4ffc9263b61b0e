"""An in-tree ``LLMBackend`` that replies from a script, for replays, benchmarks that
isolate our own overhead, and tests that need a known decision (e.g. an attacker's).

    backend = ScriptedBackend()
    backend.enqueue('{"action_type": "observe", ...}')

With nothing queued it answers a fixed ``observe`` decision. Summary requests (compaction)
are answered from their own queue (``enqueue_summary``), else with a short fixed summary,
so a script of decisions is never consumed by them. It records every request.
"""

from __future__ import annotations

import json
from collections import deque
from collections.abc import AsyncGenerator, Sequence
from typing import Any

from conscious.errors import LLMError
from conscious.think.backends.base import Limits, Message, ModelInfo, Usage, estimate_tokens

IDLE_REPLY = json.dumps(
    {
        "action_type": "observe",
        "reasoning": "Nothing scripted; observing.",
        "target_agent": None,
        "command": None,
        "priority": "low",
        "confidence": 0.9,
        "metadata": {"expected_outcome": "none"},
    }
)


class ScriptedBackend:
    url = "scripted://"
    exact_tokens = False

    def __init__(
        self, replies: Sequence[str | LLMError] = (), *, context_length: int = 8192, record: bool = True
    ) -> None:
        self.replies: deque[str | LLMError] = deque(replies)
        self.context_length = context_length
        self.record = record
        """False for long runs (benchmarks): requests are counted, not kept."""
        self.calls = 0
        self.requests: list[list[Message]] = []
        self.summaries: deque[str | LLMError] = deque()
        self.summary_requests: list[list[Message]] = []

    def enqueue(self, *replies: str | dict[str, Any] | LLMError) -> None:
        for r in replies:
            self.replies.append(json.dumps(r) if isinstance(r, dict) else r)

    def enqueue_summary(self, *replies: str | LLMError) -> None:
        for r in replies:
            self.summaries.append(json.dumps({"summary": r}) if isinstance(r, str) else r)

    async def info(self) -> ModelInfo:
        return ModelInfo(model="scripted", context_length=self.context_length, server="scripted")

    async def tokenize(self, text: str) -> int:
        return estimate_tokens(text)

    async def stream(
        self, messages: Sequence[Message], schema: dict[str, Any] | None, limits: Limits
    ) -> AsyncGenerator[str | Usage, None]:
        reply: str | LLMError
        self.calls += 1
        if schema is not None and "summary" in schema.get("properties", {}):
            if self.record:
                self.summary_requests.append(list(messages))
            evicted = len(messages) - 2
            reply = self.summaries.popleft() if self.summaries else json.dumps({"summary": f"{evicted} turns archived"})
        else:
            if self.record:
                self.requests.append(list(messages))
            reply = self.replies.popleft() if self.replies else IDLE_REPLY
        if isinstance(reply, LLMError):
            raise reply
        for i in range(0, len(reply), 16):
            yield reply[i : i + 16]
        prompt = sum(estimate_tokens(m["content"]) for m in messages)
        yield Usage(prompt_tokens=prompt, completion_tokens=estimate_tokens(reply))

    async def aclose(self) -> None:
        return None
