"""``conscious eval``: open the model(s) to compare, run the suite on each, side by side.

A comparison arm is either another profile on the same server (``--compare qwen3``: one
connection, so an embedded server is not started twice) or another server
(``--compare http://host:1234/v1``: its own connection, its profile chosen from its model).
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import AsyncExitStack
from dataclasses import dataclass
from pathlib import Path

from conscious.config import Config
from conscious.eval.runner import run_suite
from conscious.eval.score import Score, Scored
from conscious.eval.suite import Scenario
from conscious.think import profiles
from conscious.think.connection import Connection, connect


@dataclass
class Arm:
    label: str
    connection: Connection
    config: Config
    """With the arm's profile in force."""
    chosen: profiles.Chosen | None


def _arm(config: Config, connection: Connection, chosen: profiles.Chosen | None) -> Arm:
    label = f"{connection.info.model} · {chosen.name if chosen else 'no profile'}"
    return Arm(label, connection, profiles.apply(config, chosen), chosen)


@contextlib.asynccontextmanager
async def arms(config: Config, compare: str | None, log_dir: Path | None = None) -> AsyncIterator[list[Arm]]:
    """The arms to run, their connections closed on the way out."""
    async with AsyncExitStack() as stack:
        main = await connect(config, log_dir=log_dir)
        stack.push_async_callback(main.aclose)
        opened = [_arm(config, main, main.profile)]
        if compare is not None:
            if "://" in compare:
                other_config = config.model_copy(update={"llm_url": compare, "profile": None, "model": None})
                other = await connect(other_config, log_dir=log_dir)
                stack.push_async_callback(other.aclose)
                opened.append(_arm(other_config, other, other.profile))
            else:
                named = config.model_copy(update={"profile": compare})
                opened.append(_arm(config, main, profiles.choose(named, main.info.model)))
        yield opened


async def evaluate(
    arms_: Sequence[Arm],
    scenarios: Sequence[Scenario],
    on_outcome: Callable[[Arm, Scored], None] | None = None,
    *,
    sequential: bool = False,
) -> list[Score]:
    scores = []
    for arm in arms_:
        scores.append(
            await run_suite(
                arm.connection,
                scenarios,
                config=arm.config,
                sequential=sequential,
                strip_think=arm.chosen.profile.strip_think if arm.chosen else True,
                label=arm.label,
                on_outcome=(lambda o, arm=arm: on_outcome(arm, o)) if on_outcome else None,  # type: ignore[misc]
            )
        )
    return scores
