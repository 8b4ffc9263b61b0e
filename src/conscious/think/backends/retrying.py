"""``RetryingBackend``: a wrapper that retries what is retryable, in the manner of
pydantic-ai's ``FallbackModel`` — behaviour added by wrapping, not by flags.

Connection errors, timeouts and 5xx (``LLMUnavailable``) are retried a few times with
exponential back-off and jitter (tenacity). A stream is retried only before its first chunk:
once the model has started answering, a break is reported, not replayed into the same
decision. What is still failing after the last attempt reaches the orchestrator, whose
outage mode keeps journaling and decides the backlog when the server is back.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncGenerator, Sequence
from typing import Any

from tenacity import (
    AsyncRetrying,
    before_sleep_log,
    retry_if_exception,
    stop_after_attempt,
    wait_exponential_jitter,
)

from conscious.errors import ConsciousError
from conscious.think.backends.base import Limits, LLMBackend, Message, ModelInfo, Usage
from conscious.think.backends.wrapper import WrapperBackend

log = logging.getLogger("conscious")


def _retryable(exc: BaseException) -> bool:
    """What the error says of itself (``errors.py``): an outage may pass, a refusal will not."""
    return isinstance(exc, ConsciousError) and exc.retryable


class RetryingBackend(WrapperBackend):
    def __init__(self, inner: LLMBackend, *, attempts: int = 3, initial: float = 0.5, max_wait: float = 4.0) -> None:
        super().__init__(inner)
        self.attempts = attempts
        self.initial = initial
        self.max_wait = max_wait

    def _retrying(self, retryable: Any = None) -> AsyncRetrying:
        return AsyncRetrying(
            retry=retry_if_exception(retryable or _retryable),
            stop=stop_after_attempt(self.attempts),
            wait=wait_exponential_jitter(multiplier=self.initial, max=self.max_wait, jitter=self.initial),
            reraise=True,
            before_sleep=before_sleep_log(log, logging.INFO),  # a retry that worked still shows in the log
        )

    async def stream(
        self, messages: Sequence[Message], schema: dict[str, Any] | None, limits: Limits
    ) -> AsyncGenerator[str | Usage, None]:
        started = False

        def retryable(exc: BaseException) -> bool:
            return _retryable(exc) and not started

        async for attempt in self._retrying(retryable):
            with attempt:
                async for item in self.inner.stream(messages, schema, limits):
                    started = True
                    yield item

    async def tokenize(self, text: str) -> int:
        async for attempt in self._retrying():
            with attempt:
                return await self.inner.tokenize(text)
        raise AssertionError("unreachable: tenacity reraises")

    async def info(self) -> ModelInfo:
        async for attempt in self._retrying():
            with attempt:
                return await self.inner.info()
        raise AssertionError("unreachable: tenacity reraises")
