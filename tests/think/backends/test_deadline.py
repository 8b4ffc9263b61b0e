"""Every reply within a total deadline and a size limit: against a real HTTP server that
misbehaves (a trickle, silence, a flood), through the real OpenAI-compatible backend."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest

from conscious.errors import LLMUnavailable
from conscious.think.backends.base import Limits, Message
from conscious.think.backends.deadline import DeadlineBackend
from conscious.think.backends.openai_compat import OpenAICompatBackend

MESSAGES: list[Message] = [{"role": "user", "content": "decide"}]
Body = Callable[[asyncio.StreamWriter], Awaitable[None]]


def sse(text: str) -> bytes:
    chunk = {
        "id": "1",
        "object": "chat.completion.chunk",
        "created": 0,
        "model": "m",
        "choices": [{"index": 0, "delta": {"content": text}, "finish_reason": None}],
    }
    return f"data: {json.dumps(chunk)}\n\n".encode()


async def serve(body: Body) -> AsyncIterator[str]:
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await reader.readuntil(b"\r\n\r\n")
            length = next(
                (
                    int(line.split(b":")[1])
                    for line in head.split(b"\r\n")
                    if line.lower().startswith(b"content-length")
                ),
                0,
            )
            await reader.readexactly(length)
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nConnection: close\r\n\r\n")
            await body(writer)
        except (ConnectionError, asyncio.IncompleteReadError, asyncio.CancelledError):
            pass
        finally:
            writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}/v1"
    finally:
        server.close()


async def read_all(backend: DeadlineBackend) -> str:
    text = ""
    async for item in backend.stream(MESSAGES, None, Limits()):
        if isinstance(item, str):
            text += item
    return text


async def trickle(writer: asyncio.StreamWriter) -> None:
    writer.write(sse('{"choice": '))  # a prompt start: the first piece comes in time
    await writer.drain()
    for byte in sse('{"choice": "A", "reasoning": "' + "x" * 200 + '"}'):
        writer.write(bytes([byte]))
        await writer.drain()
        await asyncio.sleep(0.05)  # 20 bytes a second: steady, never idle long enough to time out


async def silent(writer: asyncio.StreamWriter) -> None:
    await asyncio.sleep(60)


async def flood(writer: asyncio.StreamWriter) -> None:
    for _ in range(400):
        writer.write(sse("y" * 1000))
        await writer.drain()


async def honest(writer: asyncio.StreamWriter) -> None:
    writer.write(sse('{"choice": "A"}') + b"data: [DONE]\n\n")
    await writer.drain()


@pytest.mark.parametrize(
    ("body", "said"),
    [(trickle, "did not finish its reply within 2s"), (silent, "sent nothing within 1s"), (flood, "over 100000 bytes")],
)
@pytest.mark.timeout(30)
async def test_a_misbehaving_server_is_cut_as_an_outage(body: Body, said: str) -> None:
    async for url in serve(body):
        inner = OpenAICompatBackend(url, model="m", timeout=120.0)  # the read timeout alone would wait
        backend = DeadlineBackend(inner, first_token=1.0, total=2.0, max_bytes=100_000)
        try:
            with pytest.raises(LLMUnavailable) as caught:
                await read_all(backend)
        finally:
            await backend.aclose()
        assert said in str(caught.value) and "\n" not in str(caught.value)


async def test_an_honest_reply_passes_untouched() -> None:
    async for url in serve(honest):
        backend = DeadlineBackend(OpenAICompatBackend(url, model="m"), first_token=5.0, total=10.0, max_bytes=1000)
        try:
            assert await read_all(backend) == '{"choice": "A"}'
        finally:
            await backend.aclose()
