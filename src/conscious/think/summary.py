"""Summaries of archived turns: what the window keeps of what it evicts.

At compaction the evicted turns are summarised by the model into the memory block, merged
with the previous summary, so the block stays bounded however long the daemon runs. The
request re-uses the server's cache: it is the current system message plus the evicted turns
— exactly the prefix the server holds — and one instruction at the end. When the model
cannot give a usable summary, a plain extract of the evicted decisions stands in.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from conscious.errors import DecisionParseError
from conscious.think.backends.base import Message
from conscious.think.context import Turn
from conscious.think.decision import ObjectCutter

CHARS_PER_TOKEN = 2
"""A conservative ratio to turn a token cap into a schema's character cap (dense text —
paths, JSON — runs at about 2.5 characters a token)."""


def summary_schema(max_tokens: int) -> dict[str, Any]:
    return {
        "type": "object",
        "properties": {"summary": {"type": "string", "minLength": 1, "maxLength": max_chars(max_tokens)}},
        "required": ["summary"],
        "additionalProperties": False,
    }


def max_chars(max_tokens: int) -> int:
    return max(80, max_tokens * CHARS_PER_TOKEN)


def instruction(previous: str, max_tokens: int) -> str:
    words = max(20, int(max_tokens * 0.6))
    merge = " Merge it with your previous summary (in MEMORY above)." if previous else ""
    return (
        "The turns above are leaving your context window. Summarise them for your future self:"
        " what happened, what you decided and delegated, what is still open."
        f'{merge} At most {words} words. Reply with JSON only: {{"summary": "..."}}'
    )


def summary_messages(system: Message, evicted: Sequence[Turn], previous: str, max_tokens: int) -> list[Message]:
    messages: list[Message] = [system]
    for t in evicted:
        messages.append({"role": "assistant" if t.role == "assistant" else "user", "content": t.content})
    messages.append({"role": "user", "content": instruction(previous, max_tokens)})
    return messages


def parse_summary(raw: str, max_tokens: int) -> str:
    cutter = ObjectCutter()
    cutter.feed(raw)
    text = cutter.object or raw.strip()
    try:
        data = json.loads(text)
    except ValueError:
        raise DecisionParseError(f"summary is not JSON: {raw[:80]!r}") from None
    summary = data.get("summary") if isinstance(data, dict) else None
    if not isinstance(summary, str) or not summary.strip():
        raise DecisionParseError("summary reply has no 'summary' text")
    return " ".join(summary.split())[: max_chars(max_tokens)]


def extract(previous: str, evicted: Sequence[Turn], max_tokens: int) -> str:
    """The stand-in when the model gives no usable summary: the decisions, newest kept."""
    lines: list[str] = []
    for t in evicted:
        if t.role != "assistant":
            continue
        try:
            d = json.loads(t.content)
        except ValueError:
            continue
        if not isinstance(d, dict):
            continue
        what = str(d.get("action_type", "?"))
        if d.get("target_agent"):
            what += f" {d['target_agent']}: {str(d.get('command') or '')[:60]}"
        lines.append(f"{what} ({str(d.get('reasoning', ''))[:60]})")
    text = "; ".join(filter(None, [previous, *lines]))
    limit = max_chars(max_tokens)
    return text if len(text) <= limit else "…" + text[-(limit - 1) :]


def memory_block(identity: str, summary: str) -> str:
    parts = ["# MEMORY (rewritten only when older turns are archived)", identity]
    if summary:
        parts.append(f"Summary of earlier turns: {summary}")
    return "\n".join(parts)
