from collections.abc import AsyncGenerator, Sequence
from contextlib import aclosing
from typing import Any

import pytest

from conscious.errors import LLMRejected, LLMUnavailable
from conscious.think.backends.base import Limits, Message, ModelInfo, Usage
from conscious.think.backends.retrying import RetryingBackend
from conscious.think.backends.scripted import IDLE_REPLY, ScriptedBackend

MESSAGES: list[Message] = [{"role": "user", "content": "hi"}]


async def collect(backend: RetryingBackend) -> str:
    text = ""
    async for item in backend.stream(MESSAGES, None, Limits()):
        if isinstance(item, str):
            text += item
    return text


async def test_an_outage_before_the_first_chunk_is_retried() -> None:
    inner = ScriptedBackend([LLMUnavailable("down"), LLMUnavailable("still down")])
    backend = RetryingBackend(inner, attempts=3, initial=0.01, max_wait=0.02)
    assert await collect(backend) == IDLE_REPLY
    assert inner.calls == 3


async def test_it_gives_up_after_the_last_attempt_and_never_retries_a_rejection() -> None:
    inner = ScriptedBackend([LLMUnavailable("down")] * 5)
    with pytest.raises(LLMUnavailable):
        await collect(RetryingBackend(inner, attempts=3, initial=0.01, max_wait=0.02))
    assert inner.calls == 3
    rejecting = ScriptedBackend([LLMRejected("bad request"), "{}"])
    with pytest.raises(LLMRejected):
        await collect(RetryingBackend(rejecting, attempts=3, initial=0.01))
    assert rejecting.calls == 1


class BreaksMidStream:
    url = "test://"
    exact_tokens = True

    def __init__(self) -> None:
        self.calls = 0

    async def stream(
        self, messages: Sequence[Message], schema: dict[str, Any] | None, limits: Limits
    ) -> AsyncGenerator[str | Usage, None]:
        self.calls += 1
        yield '{"action_type": '
        raise LLMUnavailable("connection reset")

    async def tokenize(self, text: str) -> int:
        return 1

    async def info(self) -> ModelInfo:
        return ModelInfo("m", 100)

    async def aclose(self) -> None:
        return None


async def test_a_break_after_the_answer_started_is_reported_not_replayed() -> None:
    inner = BreaksMidStream()
    with pytest.raises(LLMUnavailable):
        await collect(RetryingBackend(inner, attempts=3, initial=0.01))
    assert inner.calls == 1


async def test_closing_the_stream_early_is_clean() -> None:
    inner = ScriptedBackend()
    backend = RetryingBackend(inner, attempts=3, initial=0.01)
    async with aclosing(backend.stream(MESSAGES, None, Limits())) as chunks:
        async for _ in chunks:
            break
    assert inner.calls == 1
    assert await backend.tokenize("abc") > 0 and (await backend.info()).model == "scripted"
