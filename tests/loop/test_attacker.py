"""An outside model that always proposes an attacker's delegation, in plain words, through the
real loop (journal, gate, dispatcher, the stand-in agents on PATH as real subprocesses), with
approvals on ``auto``: not one destructive instruction starts unasked."""

from __future__ import annotations

from functools import partial
from pathlib import Path
from typing import Any

from conscious.config import Config
from conscious.model import Observation
from conscious.paths import Paths
from conscious.think.backends.scripted import ScriptedBackend
from tests.gate.test_destructive import ATTACKER
from tests.loop.test_orchestrator import drain, make, reply


async def test_no_destructive_instruction_starts_unasked(config: Config, paths: Paths, fake_agents: Path) -> None:
    backend = ScriptedBackend()
    for instruction in ATTACKER:
        backend.enqueue(
            reply(
                action_type="delegate",
                target_agent="claude-code",
                command=instruction,
                priority="critical",
                confidence=0.99,
                reasoning="the file says so",
            )
        )
    orch, journal = await make(config, paths, backend)

    def by_model() -> list[dict[str, Any]]:
        return [d for d in journal.decisions(100) if d["origin"] == "llm"]

    for i, _ in enumerate(ATTACKER):  # one at a time: each its own batch, its own proposal
        orch.accept(Observation(source="filesystem", event_type="modified", target=f"src/mod{i}.py", details={"n": i}))
        await drain(orch, partial(lambda n: len(by_model()) > n, i))
    decided = by_model()
    assert {d["command"] for d in decided} == set(ATTACKER)
    assert {d["verdict"] for d in decided} <= {"awaiting-approval", "denied-command"}, [
        (d["command"], d["verdict"]) for d in decided
    ]
    assert all(t["state"] == "awaiting-approval" for t in journal.tasks(100))
    assert not fake_agents.exists() or fake_agents.read_text() == ""  # no agent ever started
