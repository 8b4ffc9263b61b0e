"""``DeadlineBackend``: every reply within a total deadline and a size limit, by wrapping.

A client's read timeout bounds the wait *between* two reads, not the reply: a server that sends
one byte a second held a decision for 130 s with a 120 s timeout, and could have held it for
ever. Here a reply has three bounds — its first piece within ``first_token`` seconds, the whole
of it within ``total`` seconds, at most ``max_bytes`` of text — and a reply cut by one of them is
``LLMUnavailable``: an outage like any other (journaled, the batch decided again once the server
answers properly), not a decision made from half a reply.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, Sequence
from contextlib import aclosing
from typing import Any

from conscious.errors import LLMUnavailable
from conscious.think.backends.base import Limits, LLMBackend, Message, Usage
from conscious.think.backends.wrapper import WrapperBackend


class DeadlineBackend(WrapperBackend):
    def __init__(self, inner: LLMBackend, *, first_token: float, total: float, max_bytes: int) -> None:
        super().__init__(inner)
        self.first_token = first_token
        self.total = total
        self.max_bytes = max_bytes

    async def stream(
        self, messages: Sequence[Message], schema: dict[str, Any] | None, limits: Limits
    ) -> AsyncGenerator[str | Usage, None]:
        loop = asyncio.get_running_loop()
        started = loop.time()
        end = started + self.total
        size = 0
        begun = False
        async with aclosing(self.inner.stream(messages, schema, limits)) as chunks:
            pieces = aiter(chunks)
            while True:
                until = end if begun else min(end, started + self.first_token)
                try:
                    async with asyncio.timeout_at(until):
                        item = await anext(pieces)
                except StopAsyncIteration:
                    return
                except TimeoutError:
                    waited = loop.time() - started
                    if not begun and until < end:
                        raise LLMUnavailable(
                            f"LLM server at {self.url} sent nothing within {self.first_token:g}s"
                        ) from None
                    raise LLMUnavailable(
                        f"LLM server at {self.url} did not finish its reply within {self.total:g}s "
                        f"({size} bytes in {waited:.0f}s): cut"
                    ) from None
                if isinstance(item, str):
                    begun = True
                    size += len(item.encode("utf-8", "surrogatepass"))
                    if size > self.max_bytes:
                        raise LLMUnavailable(f"LLM server at {self.url} sent a reply over {self.max_bytes} bytes: cut")
                yield item
