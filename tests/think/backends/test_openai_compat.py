"""The OpenAI-compatible backend against a real llama-server with the bundled model."""

from __future__ import annotations

import httpx
import pytest

from conscious.errors import ContextOverflow, LLMUnavailable
from conscious.model import Observation
from conscious.think.backends.base import Limits
from conscious.think.backends.embedded import EmbeddedServer, free_port
from conscious.think.backends.openai_compat import OpenAICompatBackend
from conscious.think.context import ContextWindow
from conscious.think.prompt import default_system_prompt, render_turn
from conscious.think.thinker import Thinker

LIMITS = Limits(max_tokens=400, temperature=0.0)


async def test_info_reads_the_loaded_model_and_its_real_context(llama_server: EmbeddedServer) -> None:
    backend = OpenAICompatBackend(llama_server.url)
    try:
        info = await backend.info()
    finally:
        await backend.aclose()
    assert info.model == "SmolLM2-135M-Instruct.Q4_1"
    assert info.context_length == llama_server.context_length


async def test_tokens_are_counted_by_the_servers_tokenizer(llama_server: EmbeddedServer) -> None:
    backend = OpenAICompatBackend(llama_server.url)
    text = "def add(a, b):\n    return a - b  # 🐛"
    try:
        n = await backend.tokenize(text)
        async with httpx.AsyncClient() as client:
            direct = (await client.post(f"{backend.root}/tokenize", json={"content": text})).json()["tokens"]
    finally:
        await backend.aclose()
    assert backend.exact_tokens
    assert n == len(direct)


async def test_schema_constrained_decisions_are_valid_and_reuse_the_cached_prefix(
    llama_server: EmbeddedServer,
) -> None:
    backend = OpenAICompatBackend(llama_server.url)
    system = default_system_prompt()
    window = ContextWindow(system, await backend.tokenize(system), 3000)
    thinker = Thinker(backend, window, LIMITS)
    turns = [
        [
            Observation(
                source="tests",
                event_type="failed",
                target="report.xml",
                severity="error",
                details={"tests": 3, "failures": 1},
            )
        ],
        [Observation(source="user", event_type="request", target="inbox", details={"text": "add a docstring"})],
    ]
    try:
        thoughts = [await thinker.think(render_turn(batch, {"turn": i})) for i, batch in enumerate(turns, 1)]
    finally:
        await backend.aclose()
    for thought in thoughts:
        assert thought.error is None, thought.raw
        assert thought.raw.strip().startswith("{") and thought.raw.strip().endswith("}")
        assert thought.decision.action_type in ("delegate", "observe", "reflect")
        assert thought.usage.completion_tokens is not None and thought.usage.completion_tokens < LIMITS.max_tokens
    # The second request shares the whole first exchange as its prefix: the server re-uses it.
    second = thoughts[1].usage
    assert second.cached_tokens is not None and second.processed_tokens is not None
    assert second.cached_tokens >= window.system_tokens
    assert second.processed_tokens < second.cached_tokens
    assert [m["role"] for m in window.messages()] == ["system", "user", "assistant", "user", "assistant"]


async def test_unreachable_server_is_a_retryable_outage() -> None:
    backend = OpenAICompatBackend(f"http://127.0.0.1:{free_port()}/v1", timeout=5)
    try:
        with pytest.raises(LLMUnavailable, match="cannot reach") as info:
            await backend.info()
        assert info.value.retryable
        window = ContextWindow("s", 1, 1000)
        with pytest.raises(LLMUnavailable):
            await Thinker(backend, window, LIMITS).think("hello")
        assert window.turns == []  # the unanswered turn was taken back
    finally:
        await backend.aclose()


async def test_a_prompt_longer_than_the_context_is_a_context_overflow(llama_server: EmbeddedServer) -> None:
    """The server's refusal is told apart by the backend (its error type, else its words), so
    the loop compacts on ``ContextOverflow`` without reading error text."""
    backend = OpenAICompatBackend(llama_server.url)
    text = "the quick brown fox jumps over the lazy dog " * 600
    try:
        assert await backend.tokenize(text) > llama_server.context_length
        with pytest.raises(ContextOverflow) as caught:
            async for _ in backend.stream([{"role": "user", "content": text}], None, LIMITS):
                pass
    finally:
        await backend.aclose()
    assert "exceeds the model's context" in str(caught.value)
