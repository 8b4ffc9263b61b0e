"""Running a suite through the daemon's own step, and scoring it.

Each scenario is given to a real ``Orchestrator`` — its journal on a throwaway file, its
dispatcher a dry run whose agents start nothing — exactly as the daemon would meet it: the
observations are accepted, then one ``step`` decides them (the rules, the candidates, the
model's choice, the escalation, the gate with what the journal knows). The tasks a scenario says
are running are running in that dispatcher (agents that wait until stopped), so the journal's
history and the running work decide too. There is no second pipeline to drift from the daemon.
What the daemon did is what it reported (the decision record); the model's own decision, before
escalation and the gate, is the thinker's.

Each scenario is decided on its own (a fresh window holding only the static system prompt, so
the server's cached prefix is shared by all of them), or, ``sequential``, one after another in
one running context, as the daemon meets them: the mode that shows whether the model copies
its previous answers. Each scenario has its own journal either way: it is its own world.
"""

from __future__ import annotations

import dataclasses
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path

from conscious.config import Config
from conscious.delegate.dispatch import Dispatcher
from conscious.delegate.dispatcher import LocalDispatcher
from conscious.delegate.scripted import ScriptedDelegate
from conscious.errors import LLMUnavailable
from conscious.eval.score import Done, Score, Scored
from conscious.eval.suite import Scenario
from conscious.journal import Journal
from conscious.loop.orchestrator import Orchestrator
from conscious.loop.reporter import Silent
from conscious.model import Decision, DecisionRecord, Task
from conscious.think.assembly import thinker_for
from conscious.think.connection import Connection
from conscious.think.context import Turn
from conscious.think.thinker import Thinker

RUNNING_FOR = 24 * 3600.0
"""How long a scenario's running task waits: until the scenario is over (it is stopped then)."""
MAX_STEPS = 6
"""Steps (each a back-off while the server is away) before a scenario is given up."""

__all__ = ["Done", "Score", "Scored", "run_suite"]


def _watching(config: Config, scenario: Scenario) -> Config:
    """The config as the daemon watching the scenario's project would have it: its folder is
    the scenario's ``root``, else where the observed files are (``details.relative`` says where
    a path starts)."""
    if scenario.root is not None:
        return config.model_copy(update={"watch": [Path(scenario.root)]})
    for obs in scenario.observations:
        relative = obs.details.get("relative")
        if isinstance(relative, str) and relative and obs.target.endswith("/" + relative):
            return config.model_copy(update={"watch": [Path(obs.target[: -len(relative) - 1])]})
    return config


async def run_suite(
    connection: Connection,
    scenarios: Sequence[Scenario],
    *,
    config: Config,
    strip_think: bool = True,
    label: str = "",
    sequential: bool = False,
    on_outcome: Callable[[Scored], None] | None = None,
) -> Score:
    """Decide every scenario once, as the daemon would (``config``: with the model's profile
    applied); the score keeps each outcome."""
    score = Score(label)
    thinker: Thinker | None = None
    with tempfile.TemporaryDirectory(prefix="conscious-eval-") as tmp:
        for n, scenario in enumerate(scenarios, start=1):
            if thinker is None or not sequential:
                thinker = await thinker_for(
                    config, connection.backend, connection.context_length, strip_think=strip_think
                )
            # The running context carries over (sequential); the world is each scenario's own:
            # its turns are journaled again, in this scenario's journal, with its decision.
            carried = [dataclasses.replace(t, id=None) for t in thinker.window.turns]
            journal = Journal(Path(tmp) / f"{n}.db")
            try:
                outcome = await _decide(scenario, _watching(config, scenario), journal, connection, thinker, carried)
            finally:
                journal.close()
            score.everything.append(outcome)
            if on_outcome is not None:
                on_outcome(outcome)
    return score


async def _decide(
    scenario: Scenario,
    config: Config,
    journal: Journal,
    connection: Connection,
    thinker: Thinker,
    carried: list[Turn],
) -> Scored:
    config = config.model_copy(update={"dry_run": True})
    agents = {name: ScriptedDelegate(name, delay=RUNNING_FOR) for name in config.agent_names()}
    told = Silent()
    loop = Orchestrator(
        config,
        journal,
        connection,
        thinker,
        lambda events: LocalDispatcher(journal, agents, cwd=config.watch[0], events=events),
        [],
        told,
    )
    await loop.startup()
    try:
        while journal.pending_count():  # the start-up notice, decided by rule
            await loop.step()
        loop.resume_note = None  # a scenario is met mid-life, not as the first thought after a start
        thinker.window.turns = carried  # the start-up restored this journal's turns: none
        for running in scenario.running:
            _start(journal, loop.dispatcher, running.agent, running.command)
        thinker.last = None
        arrived = [o.model_copy(update={"id": None}) for o in scenario.observations]
        ids = {loop.accept(o) for o in arrived}
        if all(o.status == "attributed" for o in arrived):
            return _theirs(scenario)  # changes made where a task works: the task's, not news
        for _ in range(MAX_STEPS):
            await loop.step()
            if made := [record for _, record in told.decisions if ids & set(record.covers)]:
                return _outcome(scenario, made[0], thinker)
        raise LLMUnavailable(f"the LLM server at {connection.backend.url} stopped answering; eval abandoned")
    finally:
        await loop.shutdown(0.0)


def _start(journal: Journal, dispatcher: Dispatcher, agent: str, command: str) -> None:
    """A task already running when the scenario begins: decided before, started, not finished."""
    decision = Decision(
        action_type="delegate",
        reasoning="running before the scenario began",
        target_agent=agent,
        command=command,
        priority="medium",
        confidence=1.0,
    )
    task = Task(decision_id=0, agent=agent, command=command, state="pending")
    started = journal.record_decision(DecisionRecord.of(decision, origin="rule", task=task)).task
    assert started is not None
    dispatcher.start(started)


def _theirs(scenario: Scenario) -> Scored:
    reason = "changed where a running task works: the task's own doing, not news"
    decision = Decision(action_type="observe", reasoning=reason, priority="low", confidence=1.0)
    return Scored(scenario, decision, None, 0.0, None, None, Done("observe", None, "low", "attributed", "rule"))


def _outcome(scenario: Scenario, record: DecisionRecord, thinker: Thinker) -> Scored:
    decision = record.decision
    # A dry run's delegation is observed by the gate; it is what the daemon would have started.
    did = decision.action_type if record.verdict == "dry-run" else record.action
    done = Done(
        did, decision.target_agent if did == "delegate" else None, decision.priority, record.verdict, record.origin
    )
    thought = thinker.last
    if record.origin in ("rule", "code") or thought is None:
        return Scored(scenario, decision, None, 0.0, None, None, done)
    usage = thought.usage
    processed = usage.processed_tokens if usage.processed_tokens is not None else usage.prompt_tokens
    return Scored(
        scenario, thought.decision, thought.error, thought.latency_ms, processed, usage.completion_tokens, done
    )
