"""Rendering: the pinned system prompt and the newest user turn.

The system prompt never changes while the daemon runs (it is the start of the server's
cached prefix); per-turn facts — clock, uptime, counters, queue depth — go in the turn.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from importlib.resources import files
from pathlib import Path
from typing import Any

from conscious.config import DecideMode
from conscious.errors import ConfigError
from conscious.model import Observation

DETAILS_LIMIT = 600
"""Characters of an observation's details shown to the model; the journal keeps them all."""
REFLECTION_ONLY_RECORDED = frozenset({"proposals", "question", "recalled", "depth"})
"""A reflection's details not shown as JSON: its recalled items come one fenced line each (see
``_reflection``); its proposals come back as OPTIONS (shown twice, they would be paid for twice in
every turn that keeps the reflection); its question is the model's own reasoning, which, shown
back, it copies (as it would its last reply). The subject it reflects on is its target; its depth
is said in a word when it is not the first in a row."""


PROMPTS: dict[DecideMode, str] = {"choose": "prompts/choose.md", "compose": "prompts/orchestrator.md"}


def default_system_prompt(mode: DecideMode = "compose") -> str:
    return files("conscious").joinpath(PROMPTS[mode]).read_text(encoding="utf-8").strip()


def load_system_prompt(path: Path | None, mode: DecideMode = "choose") -> str:
    if path is None:
        return default_system_prompt(mode)
    try:
        return path.read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read the system prompt file {path}: {exc}") from None


def _data(details: Mapping[str, Any]) -> str:
    text = json.dumps(details, ensure_ascii=False, separators=(",", ":"), default=str)
    if len(text) > DETAILS_LIMIT:
        text = text[:DETAILS_LIMIT] + "…(truncated)"
    # Observed text cannot close the data fence early.
    return "<<<" + text.replace(">>>", "> > >") + ">>>"


def _field(text: str) -> str:
    """A header field: one line, no control characters (a file name cannot forge a line)."""
    if text.isprintable() and "<<<" not in text and ">>>" not in text:
        return text[:200]
    return json.dumps(text[:200], ensure_ascii=False).replace("<<<", "< <<").replace(">>>", "> >>")


def render_observation(n: int, obs: Observation) -> str:
    repeat = ""
    if obs.count > 1:
        span = ""
        if obs.last_ts is not None:
            span = f" over {(obs.last_ts - obs.timestamp).total_seconds():.0f}s"
        repeat = f" (x{obs.count}{span})"
    head = f"{n}. [{obs.severity.upper()}] {_field(obs.source)}/{_field(obs.event_type)} {_field(obs.target)}{repeat}"
    if obs.source == "user" and isinstance(obs.details.get("text"), str):
        # The user's own words: the one input that is an instruction.
        return f"{head}\n   the user asks: {json.dumps(obs.details['text'][:DETAILS_LIMIT], ensure_ascii=False)}"
    if obs.key[:2] == ("self", "reflection"):
        return _reflection(head, obs.details)
    return f"{head}\n   details: {_data(obs.details)}" if obs.details else head


def _reflection(head: str, details: Mapping[str, Any]) -> str:
    """Recalled items quote observations whose details are JSON: one fenced line each, rather
    than inside the details' own JSON, where every quote would be escaped (tokens for nothing)."""
    rest = {k: v for k, v in details.items() if k not in REFLECTION_ONLY_RECORDED}
    depth = details.get("depth")
    if isinstance(depth, int) and depth > 1:
        head += f" (reflection {depth} in a row)"
    lines = [head, *([f"   details: {_data(rest)}"] if rest else [])]
    recalled = details.get("recalled")
    items = recalled if isinstance(recalled, list) else [] if recalled is None else [recalled]
    lines += [f"   recalled: {_text(str(item))}" for item in items]
    return "\n".join(lines)


def _text(text: str) -> str:
    """Observed text as one fenced line of data."""
    return "<<<" + " ".join(text[:DETAILS_LIMIT].split()).replace(">>>", "> > >") + ">>>"


def render_facts(facts: Mapping[str, Any]) -> str:
    return "[" + " · ".join(f"{k} {v}" for k, v in facts.items()) + "]"


def render_body(batch: Sequence[Observation], facts: Mapping[str, Any] | None = None) -> str:
    """Facts of this moment (none: asked with the options instead), then the batch, most severe
    first: what the window keeps of a turn."""
    lines = [render_facts(facts)] if facts else []
    lines += [f"{len(batch)} observation(s):"]
    lines += [render_observation(i, o) for i, o in enumerate(batch, start=1)]
    return "\n".join(lines)


def render_options(options: Sequence[str]) -> str:
    """The options to choose from. Asked with the turn, never kept in the window: once decided,
    they are noise that would make the window grow twice as fast (and teach repetition)."""
    return "\n".join(["OPTIONS:", *options, "Choose one option: one JSON object."])


def render_turn(batch: Sequence[Observation], facts: Mapping[str, Any], options: Sequence[str] = ()) -> str:
    """The newest message whole: the body, then the options to choose from (none: the model
    composes its decision)."""
    closing = render_options(options) if options else "Respond with one JSON decision."
    return render_body(batch, facts) + "\n" + closing
