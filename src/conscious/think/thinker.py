"""One thought: add the newest turn to the window, stream a schema-constrained reply, cut
it when the JSON object closes, and parse it into a Decision.

An unusable reply never escapes as an exception: it becomes a safe ``observe`` decision and
the error is returned for the caller to journal. Outages (``LLMUnavailable``) do escape, with
the newest turn taken back, so the batch stays pending and is decided when the server returns.

Compaction happens here, before the turn that would cross the high-water mark: the oldest
turns are evicted in one step, summarised by the model into the memory block, and handed to
``on_compact`` (the orchestrator archives them in the journal).
"""

from __future__ import annotations

import dataclasses
import json
import time
from collections.abc import Callable, Sequence
from contextlib import aclosing
from dataclasses import dataclass, field
from typing import Any

from conscious.config import Config
from conscious.errors import DecisionParseError, LLMError, LLMUnavailable
from conscious.model import Decision
from conscious.think import summary as summaries
from conscious.think.backends.base import Limits, LLMBackend, Message, Usage
from conscious.think.choice import TOP_LOGPROBS, Options, recap
from conscious.think.context import MESSAGE_OVERHEAD, ContextWindow, Turn
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
    first_token_ms: float | None = None
    """Time to the first piece of the reply (prompt processing, mostly)."""
    requested: bool = False
    """The model chose the user's own request, handed over verbatim (a candidate code made)."""
    evident: bool = False
    """The one delegation severe evidence offered, chosen (``Options.evident``)."""
    options: Options | None = None
    """What the model chose among (None in compose mode)."""

    @property
    def origin(self) -> str:
        """``code`` when no model was asked (``Options.answered_here``), else ``llm``."""
        return "code" if self.decision.metadata.get("confidence_from") == "code" else "llm"


@dataclass
class Compaction:
    evicted: list[Turn]
    summary: str
    error: str | None = None
    """Why the model's summary was not used (an extract of the decisions stands in)."""
    latency_ms: float = 0.0
    usage: Usage = field(default_factory=Usage)
    used_before: int = 0
    used_after: int = 0


def limits_from(config: Config) -> Limits:
    extra = {"repeat_penalty": config.repeat_penalty} if config.repeat_penalty is not None else {}
    return Limits(
        max_tokens=config.max_tokens,
        temperature=config.temperature,
        top_p=config.top_p,
        top_k=config.top_k,
        extra=extra,
    )


def _valid_text(chunk: str) -> str:
    """Undecodable bytes (lone surrogates) become U+FFFD: the reply is journaled and counted as UTF-8."""
    try:
        chunk.encode("utf-8")
    except UnicodeEncodeError:
        return chunk.encode("utf-8", "replace").decode("utf-8")
    return chunk


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
        *,
        summary_tokens: int = 200,
        summary: str = "",
        identity: Callable[[], str] = lambda: "",
        on_compact: Callable[[Compaction], None] | None = None,
        strip_think: bool = True,
    ) -> None:
        self.backend = backend
        self.strip_think = strip_think
        """Drop ``<think>`` reasoning before reading a reply (the profile's ``strip_think``)."""
        self.window = window
        self.limits = limits
        self.schema = schema
        self.summary_tokens = summary_tokens
        self.summary = summary
        """The current summary of every archived turn (the memory block's second half)."""
        self.identity = identity
        """Who the orchestrator is, for the memory block; read at each compaction."""
        self.on_compact = on_compact
        self.on_token: Callable[[str], None] | None = None
        """Called with each piece of a decision's reply as it streams (the live view)."""
        self._first_token_ms: float | None = None
        self.last: Thought | None = None
        """The newest thought, whole (``conscious eval`` scores the model's own decision by it)."""

    async def _complete(
        self,
        messages: Sequence[Message],
        schema: dict[str, Any] | None,
        limits: Limits,
        on_token: Callable[[str], None] | None = None,
    ) -> tuple[str, str | None, Usage]:
        """Stream one reply; returns the text, the JSON object if one closed, and usage."""
        cutter = ObjectCutter(think=self.strip_think)
        usage = Usage()
        after = 0
        started = time.perf_counter()
        self._first_token_ms = None
        async with aclosing(self.backend.stream(messages, schema, limits)) as chunks:
            async for item in chunks:
                if isinstance(item, Usage):
                    usage = item
                elif cutter.object is None:
                    text = _valid_text(item)
                    if self._first_token_ms is None:
                        self._first_token_ms = (time.perf_counter() - started) * 1000
                    cutter.feed(text)
                    if on_token is not None:
                        on_token(text)
                elif item.strip() or (after := after + 1) > TRAILING_CHUNKS:
                    break  # the object closed and the model kept going: stop paying
                # Otherwise wait briefly: a constrained server ends on its own right
                # after the object, and its last chunk carries usage and timings.
        return cutter.text, cutter.object, usage

    async def refresh_memory(self) -> None:
        memory = summaries.memory_block(self.identity(), self.summary)
        self.window.set_memory(memory, await self.backend.tokenize(memory))

    async def compact(self, extra: int = 0) -> Compaction:
        """Evict down to the low-water mark, summarise what left, rewrite the memory block."""
        window = self.window
        before = window.used
        system = window.system_message()  # as the server has it cached, before the memory changes
        # Leave room for the memory block to grow to its cap.
        growth = max(0, self.summary_tokens + 64 - window.memory_tokens)
        evicted = window.compact(extra=extra + growth)
        compaction = Compaction(evicted, self.summary, used_before=before)
        if evicted:
            started = time.perf_counter()
            try:
                messages = summaries.summary_messages(system, evicted, self.summary, self.summary_tokens)
                # Room for the JSON around the text, whose length the schema caps.
                limits = dataclasses.replace(self.limits, max_tokens=self.summary_tokens + 32, temperature=0.2)
                raw, _, compaction.usage = await self._complete(
                    messages, summaries.summary_schema(self.summary_tokens), limits
                )
                compaction.summary = summaries.parse_summary(raw, self.summary_tokens)
            except LLMUnavailable:
                # No summary now is better than an extract for ever: compact once the server is back.
                window.turns[:0] = evicted
                raise
            except (LLMError, DecisionParseError) as exc:
                compaction.error = str(exc)[:300]
                compaction.summary = summaries.extract(self.summary, evicted, self.summary_tokens)
            compaction.latency_ms = (time.perf_counter() - started) * 1000
            self.summary = compaction.summary
        await self.refresh_memory()
        compaction.used_after = window.used
        if self.on_compact is not None:
            self.on_compact(compaction)
        return compaction

    async def think(self, prompt: str, options: Options | None = None) -> Thought:
        """Decide on ``prompt``: by choosing one of ``options`` (the default mode), or, without
        options, by composing a decision of the model's own (the ``compose`` mode). The options
        are asked at the end of the prompt but not kept: the window keeps the prompt and a fact
        of the answer, so the server re-reads only the options, the fact and the next turn."""
        asked = "\n" + options.block() if options is not None else ""
        tokens = await self.backend.tokenize(prompt)
        extra = await self.backend.tokenize(asked) if asked else 0
        if self.window.would_overflow(tokens + extra):
            await self.compact(extra=tokens + extra + MESSAGE_OVERHEAD)
        self.window.turns.append(Turn("user", prompt, tokens))
        if options is not None and (own := options.answered_here()) is not None:
            decision = own.decision(f"{own.basis}: decided by code, no model call", 1.0, confidence_from="code")
            reply = recap(decision)
            self.window.turns.append(Turn("assistant", reply, await self.backend.tokenize(reply)))
            self.last = Thought(decision, reply, 0.0, requested=True, options=options)
            return self.last
        schema, limits = self.schema, self.limits
        if options is not None:
            schema = options.schema() if schema is not None else None
            limits = dataclasses.replace(limits, logprobs=TOP_LOGPROBS)
        messages = self.window.messages()
        messages[-1] = {**messages[-1], "content": messages[-1]["content"] + asked}
        started = time.perf_counter()
        try:
            raw, obj, usage = await self._complete(messages, schema, limits, self.on_token)
        except LLMError:
            self.window.pop_last()
            raise
        latency_ms = (time.perf_counter() - started) * 1000
        thought = self._read(raw, obj, usage, options, limits.temperature)
        reply = recap(thought.decision) if options is not None else obj or raw
        if thought.error is not None and options is None:
            reply = json.dumps(thought.decision.model_dump(exclude={"metadata"}), separators=(",", ":"))
        # The server's count is exact only when what it generated is exactly what we keep.
        exact = thought.error is None and raw.strip() == reply
        reply_tokens = usage.completion_tokens if usage.completion_tokens and exact else None
        reply_tokens = reply_tokens or await self.backend.tokenize(reply)
        # The reply always fits (the budget leaves room for max_tokens); compaction waits
        # for the next turn, so one exchange is never split.
        self.window.turns.append(Turn("assistant", reply, reply_tokens))
        self.last = dataclasses.replace(thought, latency_ms=latency_ms, first_token_ms=self._first_token_ms)
        return self.last

    def _read(self, raw: str, obj: str | None, usage: Usage, options: Options | None, temperature: float) -> Thought:
        """The decision a reply holds: the option it chose, or the decision it composed; a
        reply that holds none is a safe ``observe`` and its error."""
        try:
            if options is None:
                return Thought(parse_decision(raw, think=self.strip_think), raw, 0.0, usage)
            chosen, decision = options.read(raw, usage, think=self.strip_think, temperature=temperature)
        except DecisionParseError as exc:
            return Thought(fallback(str(exc)), raw, 0.0, usage, str(exc), options=options)
        evident = options.evident(chosen)
        return Thought(decision, raw, 0.0, usage, requested=chosen.requested, evident=evident, options=options)
