"""An in-tree ``LLMBackend`` that replies from a script, for replays, benchmarks that
isolate our own overhead, and tests that need a known decision (e.g. an attacker's).

    backend = ScriptedBackend()
    backend.enqueue('{"action_type": "observe", ...}')

With nothing queued it observes: a fixed ``observe`` decision, or, asked to choose among
options (a ``choice`` schema), the observe option. Summary requests (compaction)
are answered from their own queue (``enqueue_summary``), else with a short fixed summary,
so a script of decisions is never consumed by them. It records every request.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections import deque
from collections.abc import AsyncGenerator, Callable, Sequence
from typing import Any

import httpx

from conscious.errors import ConfigError, LLMError
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
        self,
        replies: Sequence[str | LLMError] = (),
        *,
        context_length: int = 8192,
        record: bool = True,
        delay: float = 0.0,
    ) -> None:
        self.replies: deque[str | LLMError] = deque(replies)
        self.context_length = context_length
        self.record = record
        """False for long runs (benchmarks): requests are counted, not kept."""
        self.calls = 0
        self.requests: list[list[Message]] = []
        self.summaries: deque[str | LLMError] = deque()
        self.summary_requests: list[list[Message]] = []
        self.delay = delay
        """Seconds each reply takes to start (a thought that can be interrupted)."""
        self.default: Callable[[Sequence[Message], dict[str, Any] | None], str] = idle
        """The reply when nothing is queued (to the messages, under the schema)."""

    @classmethod
    def from_url(cls, url: str) -> ScriptedBackend:
        """``scripted://observe`` or ``scripted://delegate?agent=NAME``, with ``delay=SECONDS``:
        a deterministic brain for fault-injection runs of the real daemon (``--llm-url``)."""
        try:
            parsed = httpx.URL(url)
            delay = float(parsed.params.get("delay", 0))
        except (httpx.InvalidURL, ValueError):
            raise ConfigError(f"not a valid scripted backend URL: {url}") from None
        mode = parsed.host or "observe"
        if mode not in ("observe", "delegate"):
            raise ConfigError(f"scripted backend mode must be observe or delegate, not {mode!r}")
        backend = cls(delay=delay)
        backend.url = url
        if mode == "delegate":
            agent = parsed.params.get("agent", "memory")
            backend.default = lambda messages, schema: delegate_first(agent, messages, schema)
        return backend

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
            reply = self.replies.popleft() if self.replies else self.default(messages, schema)
        if isinstance(reply, LLMError):
            raise reply
        if self.delay:
            await asyncio.sleep(self.delay)
        for i in range(0, len(reply), 16):
            yield reply[i : i + 16]
        prompt = sum(estimate_tokens(m["content"]) for m in messages)
        yield Usage(prompt_tokens=prompt, completion_tokens=estimate_tokens(reply))

    async def aclose(self) -> None:
        return None


_OBSERVATION_LINE = re.compile(r"^\d+\. \[\w+\] (\S+?)/\S+ (.+?)(?: \(x\d+[^)]*\))?$", re.M)
OWN_SOURCES = frozenset({"agent", "self", "system", "policy", "clock"})
"""Feedback from the loop itself: delegating on it would feed the loop its own output."""


_OPTION_LINE = re.compile(r"^([A-H])\) (delegate to (\S+)|observe|reflect)\b", re.M)


def _choose(messages: Sequence[Message], want: str) -> str | None:
    """The letter of the newest turn's first option that starts with ``want``."""
    for letter, action, _ in _OPTION_LINE.findall(messages[-1]["content"] if messages else ""):
        if action.startswith(want):
            return str(letter)
    return None


def _choice(letter: str, reasoning: str) -> str:
    return json.dumps({"choice": letter, "reasoning": reasoning, "confidence": 0.9})


def idle(messages: Sequence[Message], schema: dict[str, Any] | None) -> str:
    """Observe: the fixed decision, or the observe option when asked to choose."""
    if schema is not None and "choice" in schema.get("properties", {}):
        letter = _choose(messages, "observe") or schema["properties"]["choice"]["enum"][0]
        return _choice(letter, "Nothing scripted; observing.")
    return IDLE_REPLY


def delegate_first(agent: str, messages: Sequence[Message], schema: dict[str, Any] | None = None) -> str:
    """Delegate work on the first outside observation of the newest turn (one command per
    target); observe when the turn holds only the loop's own feedback. Asked to choose, it
    takes the first option that delegates to ``agent``, if any."""
    if schema is not None and "choice" in schema.get("properties", {}):
        letter = _choose(messages, f"delegate to {agent}")
        return _choice(letter, f"scripted: delegate to {agent}") if letter else idle(messages, schema)
    lines = _OBSERVATION_LINE.findall(messages[-1]["content"]) if messages else []
    target = next((t for source, t in lines if source not in OWN_SOURCES), None)
    if target is None:
        return IDLE_REPLY
    return json.dumps(
        {
            "action_type": "delegate",
            "reasoning": f"scripted: hand {target} to {agent}",
            "target_agent": agent,
            "command": f"handle {target}",
            "priority": "medium",
            "confidence": 0.95,
            "metadata": {"expected_outcome": "handled"},
        }
    )
