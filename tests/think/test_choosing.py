"""Choosing among candidates on the real llama-server with the bundled model: a real failing
test run's JUnit report becomes a delegation that names the failing tests and their messages,
the reply is a short choice, and its confidence is measured from the server's log-probabilities."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from conscious.config import Config
from conscious.loop.asking import compose_prompt
from conscious.loop.batch import coalesce
from conscious.observe.junit import parse_junit
from conscious.think.backends.embedded import EmbeddedServer
from conscious.think.backends.openai_compat import OpenAICompatBackend
from conscious.think.context import ContextWindow
from conscious.think.prompt import load_system_prompt
from conscious.think.thinker import Thinker, limits_from

FAILING_TESTS = """
def add(a, b):
    return a - b

def test_add():
    assert add(2, 2) == 4, "add(2, 2) should be 4"

def test_add_negative():
    assert add(-1, -1) == -2

def test_fine():
    assert True
"""


async def test_a_real_failing_run_is_chosen_with_a_measured_confidence(
    llama_server: EmbeddedServer, config: Config, watched: Path
) -> None:
    (watched / "test_math.py").write_text(FAILING_TESTS)
    report = watched / "reports" / "junit.xml"
    run = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", f"--junitxml={report}", "test_math.py"],
        cwd=watched,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 1, run.stdout  # two real failures
    observation = parse_junit(report)
    assert observation is not None
    observation.id = 1
    moment = {"time": "2026-12-01 10:00Z", "uptime": "0h05m", "context": "40%", "waiting": 0, "running tasks": 1}
    prompt, options = compose_prompt(coalesce([observation]), moment, config)
    assert options is not None
    # The facts that bear on the choice are asked with the options, not kept in the window with
    # the turn; the clock, the uptime, the context fill and the counts at zero are not said.
    assert prompt.startswith("1 observation(s):") and options.facts == "[running tasks 1]"
    # How the run began (said once) is kept.
    quiet = {**moment, "running tasks": 0, "note": "resumed after a crash"}
    kept, asked = compose_prompt(coalesce([observation]), quiet, config)
    assert kept.startswith("[note resumed after a crash]\n1 observation(s):") and asked is not None
    assert asked.facts == "" and asked.block().startswith("OPTIONS:")
    [fix] = [c for c in options.candidates if c.action_type == "delegate"]
    assert fix.command is not None and fix.target_agent == "claude-code"
    assert "2 of 3 tests fail in reports/junit.xml" in fix.command
    assert "test_math.test_add: AssertionError: add(2, 2) should be 4" in fix.command
    assert "test_math.test_add_negative" in fix.command

    backend = OpenAICompatBackend(llama_server.url)
    try:
        system = load_system_prompt(None, "choose")
        window = ContextWindow(system, await backend.tokenize(system), 3000)
        thinker = Thinker(backend, window, limits_from(config.model_copy(update={"temperature": 0.2})), {})
        thought = await thinker.think(prompt, options)
    finally:
        await backend.aclose()
    assert thought.error is None, thought.raw
    decision = thought.decision
    assert decision.metadata["choice"] in options.ids
    assert decision.command in [c.command for c in options.candidates]  # never a command of its own
    assert decision.metadata["confidence_from"] == "logprobs"
    assert 0.0 < decision.confidence <= 1.0 and 0.0 < decision.metadata["choice_probability"] <= 1.0
    assert thought.usage.logprobs  # the server sent them
    assert thought.usage.completion_tokens is not None and thought.usage.completion_tokens < 60  # a short reply
    assert window.turns[-1].content.startswith("→ ")  # the window keeps a fact, not the reply
