import json

import pytest

from conscious.errors import ConfigError
from conscious.think.backends.base import Limits
from conscious.think.backends.scripted import IDLE_REPLY, ScriptedBackend


async def reply_to(backend: ScriptedBackend, turn: str) -> str:
    out = ""
    async for item in backend.stream([{"role": "user", "content": turn}], {"type": "object"}, Limits()):
        if isinstance(item, str):
            out += item
    return out


async def test_the_delegating_brain_hands_each_outside_item_to_its_agent_once() -> None:
    backend = ScriptedBackend.from_url("scripted://delegate?agent=claude-code&delay=0.01")
    assert backend.url.startswith("scripted://delegate") and backend.delay == 0.01
    turn = "2 observation(s):\n1. [INFO] agent/succeeded claude-code#3\n2. [ERROR] tests/failed item-7 (x2 over 0s)"
    decision = json.loads(await reply_to(backend, turn))
    assert (decision["action_type"], decision["target_agent"], decision["command"]) == (
        "delegate",
        "claude-code",
        "handle item-7",
    )
    # The loop's own feedback alone is never delegated on: no cascade of delegations.
    assert await reply_to(backend, "1. [INFO] agent/succeeded claude-code#4") == IDLE_REPLY


async def test_the_observing_brain_and_bad_urls() -> None:
    assert await reply_to(ScriptedBackend.from_url("scripted://observe"), "1. [ERROR] tests/failed x") == IDLE_REPLY
    for url in ("scripted://dance", "scripted://observe?delay=soon"):
        with pytest.raises(ConfigError):
            ScriptedBackend.from_url(url)
