"""From model text to a validated ``Decision``: the schema we constrain decoding with, the
detector that cuts the stream when the JSON object closes, and the tolerant parser."""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Sequence
from typing import Any

from pydantic import ValidationError

from conscious.errors import DecisionParseError
from conscious.model import Decision

# Bounded strings keep a small model from rambling inside a constrained field: the whole
# object stays within the seed's 500-token reply budget even at one character a token.
BUILTIN_AGENTS: tuple[str, ...] = ("claude-code", "claude-flow", "memory")


def decision_schema(agents: Sequence[str] = BUILTIN_AGENTS) -> dict[str, Any]:
    """The schema for constrained decoding, with the agents this daemon can delegate to.

    Two shapes, told apart by ``action_type``: a delegation must name one of the agents and
    say what to do (a small model otherwise delegates to ``null``, which the gate can only
    refuse); observing and reflecting may name neither. ``reasoning`` comes first, so the
    model has written why before it writes what (the seed's fields, in a better order)."""
    names = list(dict.fromkeys(agents))
    delegate = copy.deepcopy(_DECISION)
    delegate["properties"].update(
        action_type={"type": "string", "enum": ["delegate"]},
        target_agent={"type": "string", "enum": names},
        command={"type": "string", "minLength": 8, "maxLength": 160},
    )
    other = copy.deepcopy(_DECISION)
    other["properties"].update(
        action_type={"type": "string", "enum": ["observe", "reflect"]},
        target_agent={"anyOf": [{"type": "string", "enum": names}, {"type": "null"}]},
    )
    return {"anyOf": [delegate, other]}


_DECISION: dict[str, Any] = {
    "type": "object",
    "properties": {
        "reasoning": {"type": "string", "minLength": 1, "maxLength": 160},
        "action_type": {"type": "string", "enum": ["delegate", "observe", "reflect"]},
        "target_agent": {
            "anyOf": [{"type": "string", "enum": ["claude-code", "claude-flow", "memory"]}, {"type": "null"}]
        },
        "command": {"anyOf": [{"type": "string", "maxLength": 160}, {"type": "null"}]},
        "priority": {"type": "string", "enum": ["low", "medium", "high", "critical"]},
        "confidence": {"type": "number", "minimum": 0, "maximum": 1},
        "metadata": {
            "type": "object",
            "properties": {
                "alternatives_considered": {
                    "type": "array",
                    "items": {"type": "string", "maxLength": 60},
                    "maxItems": 2,
                },
                "expected_outcome": {"type": "string", "maxLength": 100},
            },
            "required": ["expected_outcome"],
            "additionalProperties": False,
        },
    },
    "required": ["reasoning", "action_type", "target_agent", "command", "priority", "confidence", "metadata"],
    "additionalProperties": False,
}
"""One decision's fields; ``decision_schema`` makes the two shapes of it."""

DECISION_SCHEMA: dict[str, Any] = decision_schema()

_THINK_BLOCK = re.compile(r"<think>.*?</think>", re.DOTALL | re.IGNORECASE)
_THINK_OPEN = re.compile(r"<think>", re.IGNORECASE)


def strip_think(text: str) -> str:
    """Drop finished ``<think>`` blocks, and everything from an unfinished one."""
    text = _THINK_BLOCK.sub("", text)
    m = _THINK_OPEN.search(text)
    return text[: m.start()] if m else text


def find_object(text: str, *, think: bool = True) -> str | None:
    """The first complete top-level JSON object in ``text`` (outside think blocks, unless
    ``think`` is False: a model that never reasons aloud may write the tag as text), else None."""
    if think:
        text = strip_think(text)
    start = text.find("{")
    if start < 0:
        return None
    depth = 0
    in_string = escaped = False
    for i in range(start, len(text)):
        c = text[i]
        if in_string:
            if escaped:
                escaped = False
            elif c == "\\":
                escaped = True
            elif c == '"':
                in_string = False
        elif c == '"':
            in_string = True
        elif c == "{":
            depth += 1
        elif c == "}":
            depth -= 1
            if depth == 0:
                return text[start : i + 1]
    return None


class ObjectCutter:
    """Fed stream chunks; says when the top-level object has closed so the stream can stop."""

    def __init__(self, *, think: bool = True) -> None:
        self.text = ""
        self.object: str | None = None
        self.think = think

    def feed(self, chunk: str) -> bool:
        self.text += chunk
        if self.object is None and "}" in chunk:
            self.object = find_object(self.text, think=self.think)
        return self.object is not None


def _normalise(data: dict[str, Any]) -> dict[str, Any]:
    out = dict(data)
    for key in ("action_type", "priority", "target_agent"):
        if isinstance(out.get(key), str):
            out[key] = out[key].strip().lower()
    if out.get("target_agent") in ("", "null", "none"):
        out["target_agent"] = None
    meta = out.get("metadata")
    if not isinstance(meta, dict):
        out["metadata"] = {}
    elif "confidence" not in out and "confidence" in meta:
        # The seed puts confidence inside metadata.
        out["confidence"] = meta["confidence"]
    conf = out.get("confidence")
    if isinstance(conf, int | float) and not isinstance(conf, bool):
        # Grammars rarely enforce numeric bounds; a clamp loses nothing the gate relies on.
        out["confidence"] = min(1.0, max(0.0, float(conf)))
    if out.get("command") == "":
        out["command"] = None
    return out


def reply_object(text: str, *, think: bool = True) -> dict[str, Any]:
    """The JSON object in a model reply, tolerating think blocks (``think``) and noise around it."""
    obj = find_object(text, think=think)
    if obj is None:
        raise DecisionParseError("no complete JSON object in the reply", raw=text)
    try:
        data = json.loads(obj)
    except json.JSONDecodeError as exc:
        raise DecisionParseError(f"reply is not valid JSON: {exc.msg}", raw=text) from None
    if not isinstance(data, dict):
        raise DecisionParseError("reply is not a JSON object", raw=text)
    return data


def parse_decision(text: str, *, think: bool = True) -> Decision:
    """A Decision from a model reply, tolerating think blocks (``think``) and noise around the JSON."""
    data = reply_object(text, think=think)
    try:
        return Decision.model_validate(_normalise(data))
    except ValidationError as exc:
        err = exc.errors()[0]
        where = ".".join(str(p) for p in err["loc"]) or "decision"
        raise DecisionParseError(f"reply does not fit a decision: {where}: {err['msg']}", raw=text) from None
