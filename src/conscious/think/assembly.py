"""The thinker as the daemon makes it — its system prompt, its window in the server's context,
its limits and its schema — in one place, so that the daemon and ``conscious eval`` think alike
(the eval once sent no schema where the daemon did)."""

from __future__ import annotations

from conscious.config import Config
from conscious.errors import ConsciousError
from conscious.think.backends.base import LLMBackend
from conscious.think.context import ContextWindow
from conscious.think.decision import decision_schema
from conscious.think.prompt import load_system_prompt
from conscious.think.thinker import Thinker, limits_from

PROMPT_SHARE = 0.5
"""Most of the token budget the system prompt may take; the rest is for the memory block and
the turns (whatever ``low_water`` is: compaction evicts turns, never the prompt)."""


def system_prompt_for(config: Config) -> str:
    prompt = load_system_prompt(config.system_prompt_file, config.decide_mode)
    if config.command_agents:
        # Part of the static prompt: fixed for the daemon's life, so the cached prefix holds.
        lines = [f"   - {name}: runs `{' '.join(argv)}`" for name, argv in config.command_agents.items()]
        prompt += "\n\n# MORE AGENTS YOU MAY DELEGATE TO\n\n" + "\n".join(lines)
    return prompt


async def thinker_for(config: Config, backend: LLMBackend, context_length: int, *, strip_think: bool) -> Thinker:
    """A thinker with an empty window (``config``: with its model profile applied)."""
    budget = context_length - config.reserve_tokens - config.max_tokens
    if budget < 256:
        raise ConsciousError(
            f"context length {context_length} leaves no room for a prompt "
            f"(reserve_tokens {config.reserve_tokens} + max_tokens {config.max_tokens})"
        )
    system_prompt = system_prompt_for(config)
    window = ContextWindow(
        system_prompt,
        await backend.tokenize(system_prompt),
        budget,
        high_water=config.high_water,
        low_water=config.low_water,
    )
    if window.used > PROMPT_SHARE * budget:
        raise ConsciousError(
            f"the system prompt ({window.system_tokens} tokens) leaves too little of the {budget}-token "
            "context budget for observations: use a shorter prompt or a longer context"
        )
    return Thinker(
        backend,
        window,
        limits_from(config),
        decision_schema(config.agent_names()),
        summary_tokens=config.summary_tokens,
        strip_think=strip_think,
    )
