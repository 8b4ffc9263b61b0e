"""What the model is asked about a batch: the observations worth showing, the facts of the
moment and, in the default ``choose`` mode, the options composed from the evidence."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from conscious.config import Config
from conscious.loop.batch import UNSHOWN_EVENTS, BatchEntry
from conscious.loop.state import LoopState
from conscious.model import Observation, utcnow
from conscious.think.candidates import actionable, candidates
from conscious.think.choice import Options
from conscious.think.prompt import render_body, render_facts, render_turn

CHOICE_FACTS = ("waiting", "running tasks", "awaiting approval")
"""What of the moment bears on a choice among options, said only when there is any: the clock,
the uptime and the context fill do not (the options already carry the evidence), and every
token asked with the options is processed anew each turn."""


def facts(
    state: LoopState, *, context: float, waiting: int, running: int, awaiting: int, note: str | None
) -> dict[str, Any]:
    """The facts of this moment, said in the newest turn (never in the cached system prompt)."""
    uptime = int((utcnow() - state.started).total_seconds())
    said: dict[str, Any] = {
        "time": utcnow().strftime("%Y-%m-%d %H:%MZ"),
        "uptime": f"{uptime // 3600}h{uptime % 3600 // 60:02d}m",
        "context": f"{context:.0%}",
        "waiting": waiting,
        "running tasks": running,
    }
    if awaiting:
        said["awaiting approval"] = awaiting
    if note is not None:
        said["note"] = note
    return said


def evidence_test(config: Config) -> Callable[[Observation], bool] | None:
    """Whether the evidence offers an action for an observation (choose mode; None in compose mode)."""
    if config.decide_mode == "compose":
        return None
    roots = [str(p.resolve()) for p in config.watch]
    return lambda obs: actionable(obs, roots=roots, patterns=config.candidates)


def compose_prompt(batch: Sequence[BatchEntry], facts: Mapping[str, Any], config: Config) -> tuple[str, Options | None]:
    """The prompt for this batch, and the options it offers (None in ``compose`` mode: the
    prompt asks for a decision). The options are not in the prompt: the thinker asks them
    with it, and the window keeps the prompt alone."""
    shown = [e.observation for e in batch if e.observation.key[:2] not in UNSHOWN_EVENTS]
    if config.decide_mode == "compose":
        return render_turn(shown, facts), None
    # How this run began is said once and stays in the window; the rest is stale by the next turn.
    lasting = {k: v for k, v in facts.items() if k == "note"}
    asked = {k: v for k, v in facts.items() if k in CHOICE_FACTS and v}
    options = Options(
        candidates(
            shown,
            agents=config.agent_names(),
            roots=[str(p.resolve()) for p in config.watch],
            patterns=config.candidates,
        ),
        facts=render_facts(asked) if asked else "",
    )
    return render_body(shown, lasting), options
