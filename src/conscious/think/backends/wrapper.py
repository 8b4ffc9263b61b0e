"""``WrapperBackend``: a backend that hands everything to the one it wraps, in the manner of
pydantic-ai's ``WrapperModel``. Behaviour is added by wrapping (``RetryingBackend``,
``DeadlineBackend``): a subclass overrides what it changes and nothing else."""

from __future__ import annotations

from collections.abc import AsyncGenerator, Sequence
from typing import Any

from conscious.think.backends.base import Limits, LLMBackend, Message, ModelInfo, Usage


class WrapperBackend:
    def __init__(self, inner: LLMBackend) -> None:
        self.inner = inner

    @property
    def url(self) -> str:
        return self.inner.url

    @property
    def exact_tokens(self) -> bool:
        return self.inner.exact_tokens

    def stream(
        self, messages: Sequence[Message], schema: dict[str, Any] | None, limits: Limits
    ) -> AsyncGenerator[str | Usage, None]:
        return self.inner.stream(messages, schema, limits)

    async def tokenize(self, text: str) -> int:
        return await self.inner.tokenize(text)

    async def info(self) -> ModelInfo:
        return await self.inner.info()

    async def aclose(self) -> None:
        await self.inner.aclose()
