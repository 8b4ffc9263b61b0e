"""The ``LLMBackend`` plug point: one protocol, several servers.

A backend streams text chunks for a list of chat messages under a JSON schema, then one
``Usage``; it tokenizes with the server's own tokenizer when the server offers one; and it
says which model is loaded and how long its context really is.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol, TypedDict


class Message(TypedDict):
    role: Literal["system", "user", "assistant"]
    content: str


@dataclass(frozen=True)
class Limits:
    max_tokens: int = 500
    temperature: float = 0.7
    top_p: float = 0.9
    top_k: int = 40
    extra: dict[str, Any] = field(default_factory=dict)
    """Server-specific request fields (e.g. LM Studio's ``ttl``)."""
    logprobs: int = 0
    """Ask for each token's log-probability and this many alternatives (0: none)."""


@dataclass(frozen=True)
class TokenLogprob:
    """One generated token, its log-probability and the most likely alternatives at its place."""

    token: str
    logprob: float
    top: tuple[tuple[str, float], ...] = ()


@dataclass
class Usage:
    """What the server reported about one request; None where it reported nothing."""

    prompt_tokens: int | None = None
    """The whole prompt's length in tokens."""
    processed_tokens: int | None = None
    """Prompt tokens the server had to evaluate (llama.cpp ``timings.prompt_n``)."""
    cached_tokens: int | None = None
    """Prompt tokens served from the server's KV cache (llama.cpp ``timings.cache_n``)."""
    completion_tokens: int | None = None
    prompt_ms: float | None = None
    predicted_ms: float | None = None
    logprobs: list[TokenLogprob] = field(default_factory=list)
    """Per generated token, when asked for and the server gives them (llama-server does)."""


@dataclass(frozen=True)
class ModelInfo:
    model: str
    context_length: int | None
    loaded: bool = True
    server: str = "openai-compatible"


class LLMBackend(Protocol):
    @property
    def url(self) -> str: ...

    @property
    def exact_tokens(self) -> bool:
        """False when ``tokenize`` can only estimate (no tokenizer endpoint)."""
        ...

    def stream(
        self, messages: Sequence[Message], schema: dict[str, Any] | None, limits: Limits
    ) -> AsyncGenerator[str | Usage, None]: ...

    async def tokenize(self, text: str) -> int: ...

    async def info(self) -> ModelInfo: ...

    async def aclose(self) -> None: ...


def estimate_tokens(text: str) -> int:
    """Fallback only: errs high (≈3 bytes a token) so the window never outgrows the server."""
    return len(text.encode("utf-8", "replace")) // 3 + 1
