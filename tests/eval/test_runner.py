"""Scoring against a scripted brain whose answers are known, then the whole command on the
real bundled model."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from conscious.config import Config
from conscious.errors import ConfigError
from conscious.eval.runner import run_suite
from conscious.eval.suite import load_suite, parse_suite
from conscious.think.backends.base import ModelInfo
from conscious.think.backends.embedded import EmbeddedServer
from conscious.think.backends.scripted import ScriptedBackend
from conscious.think.connection import Connection


def scenario(name: str, expect: dict[str, Any], **obs: Any) -> str:
    base = {"source": "tests", "event_type": "failed", "target": "reports/junit.xml", "severity": "error"}
    return json.dumps({"name": name, "kind": "k", "observations": [{**base, **obs}], "expect": expect})


SUITE = "\n".join(
    [
        scenario("readme", {"action_types": ["observe"]}, source="filesystem", event_type="modified", severity="info"),
        scenario("fails", {"action_types": ["delegate"], "agents": ["claude-code"], "min_priority": "high"}),
        scenario("fails-again", {"action_types": ["delegate"], "agents": ["claude-code"], "min_priority": "high"}),
        scenario("noise", {"action_types": ["observe"]}, severity="info"),
    ]
)


def connected(backend: ScriptedBackend) -> Connection:
    return Connection(backend, ModelInfo(model="scripted", context_length=4096), 4096)


@pytest.fixture
def decides(config: Config, tmp_path: Path) -> Config:
    """The daemon's config with a one-line system prompt (the requests are easy to read)."""
    prompt = tmp_path / "prompt.md"
    prompt.write_text("You decide.")
    return config.model_copy(update={"system_prompt_file": prompt, "max_tokens": 100})


def reply(**kw: Any) -> str:
    base = {"action_type": "observe", "reasoning": "r", "target_agent": None, "command": None}
    return json.dumps({**base, "priority": "low", "confidence": 0.9, "metadata": {}, **kw})


async def test_scores_count_what_the_model_got_right(decides: Config) -> None:
    backend = ScriptedBackend()
    backend.enqueue(
        reply(),
        reply(action_type="delegate", target_agent="claude-code", command="fix it", priority="high"),
        reply(action_type="delegate", target_agent="memory", command="remember it", priority="medium"),
        "this is not a decision",
    )
    seen: list[str] = []
    score = await run_suite(
        connected(backend),
        parse_suite(SUITE, "test"),
        config=decides.model_copy(update={"decide": "compose"}),  # the scripted brain writes whole decisions
        label="scripted",
        on_outcome=lambda o: seen.append(o.scenario.name),
    )
    assert seen == ["readme", "fails", "fails-again", "noise"]
    assert score.valid_rate == 0.75
    assert score.action_accuracy == 0.75  # the unusable reply is not right
    assert score.agent_accuracy == 0.5  # of the two delegations, one went to the right agent
    assert score.priority_accuracy == 0.5
    assert [o.right for o in score.outcomes] == [True, True, False, False]  # wrong agent; unusable
    assert score.right_rate == 0.5
    assert [o.valid for o in score.outcomes] == [True, True, True, False]
    summary = score.summary()
    assert summary["delegations"] == 2 and summary["scenarios"] == 4
    # Each scenario is decided alone: the same system prompt, one user turn.
    # Each is the daemon's first thought in its own world (its own journal): the system prompt,
    # its memory block, one user turn.
    assert all(len(r) == 2 and r[0]["content"].startswith("You decide.\n\n# MEMORY") for r in backend.requests)
    assert all("first start" not in r[1]["content"] for r in backend.requests)  # mid-life, not a first start
    # What the daemon would do: the gate lets the delegations through, the unusable reply observes.
    assert [o.done.action_type for o in score.everything if o.done] == ["observe", "delegate", "delegate", "observe"]
    assert [o.system_right for o in score.everything] == [True, True, False, True]
    assert summary["system_right"] == 0.75 and summary["model_calls"] == 4


def choose(letter: str) -> str:
    return json.dumps({"choice": letter, "reasoning": "r", "confidence": 0.9})


async def test_the_daemon_is_scored_rules_candidates_choice_and_gate(decides: Config) -> None:
    """Default (choose) mode: the quiet rule decides the routine scenarios without the model; the
    model chooses among the candidates for the others; the gate judges the choice."""
    backend = ScriptedBackend()
    backend.enqueue(choose("A"), choose("B"), choose("A"))
    score = await run_suite(
        connected(backend),
        parse_suite(SUITE, "test"),
        config=decides,
        label="scripted",
    )
    origins = [o.done.origin for o in score.everything if o.done]
    assert origins == ["rule", "llm", "llm", "llm"]  # "noise" is a failing report too: it has a candidate
    assert len(backend.requests) == 3 and score.model_calls == 3
    fails, fails_again, noise = score.outcomes
    assert (fails.done and fails.done.action_type, fails.decision.target_agent) == ("delegate", "claude-code")
    assert fails.decision.command is not None and "tests fail in reports/junit.xml" in fails.decision.command
    assert fails_again.done is not None and fails_again.done.action_type == "observe"  # it chose to observe
    assert noise.done is not None and noise.done.action_type == "delegate"  # a failure at info: it chose the fix
    assert [o.system_right for o in score.everything] == [True, True, False, False]
    prompt = backend.requests[0][-1]["content"]
    assert "OPTIONS:" in prompt and "A) delegate to claude-code (high), the failing tests: " in prompt


async def test_sequential_runs_keep_one_context(decides: Config) -> None:
    backend = ScriptedBackend()
    backend.enqueue(choose("A"), choose("A"), choose("A"))
    await run_suite(
        connected(backend),
        parse_suite(SUITE, "test"),
        config=decides,
        sequential=True,
    )
    assert [len(r) for r in backend.requests] == [2, 4, 6]  # each turn sees the ones before it
    recap = backend.requests[1][2]["content"]
    assert recap.startswith("→ delegated to claude-code:")  # a fact, not the reply it gave


def test_the_shipped_suite_is_large_and_varied() -> None:
    suite = load_suite(None)
    kinds = {s.kind for s in suite}
    assert len(suite) >= 80 and len(kinds) >= 14
    assert all(s.expect.agents or "delegate" not in s.expect.action_types for s in suite)


def test_a_bad_suite_is_one_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"test:2: not JSON"):
        parse_suite(SUITE.splitlines()[0] + "\n{oops", "test")
    with pytest.raises(ConfigError, match=r"test:1: expect.action_types"):
        parse_suite(scenario("x", {"action_types": ["dance"]}), "test")
    with pytest.raises(ConfigError, match="cannot read scenario suite"):
        load_suite(tmp_path / "missing.jsonl")


def test_eval_on_the_real_model_side_by_side(llama_server: EmbeddedServer, home: Path, tmp_path: Path) -> None:
    suite = tmp_path / "suite.jsonl"
    suite.write_text("\n".join(SUITE.splitlines()[:2]) + "\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith("CONSCIOUS_")}
    env.update({"CONSCIOUS_HOME": str(home), "CONSCIOUS_MAX_TOKENS": "120", "CONSCIOUS_TEMPERATURE": "0"})
    argv = ["eval", str(suite), "--llm-url", llama_server.url, "--compare", "qwen2.5", "--json"]
    result = subprocess.run(
        [sys.executable, "-m", "conscious", *argv],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    per_scenario = [r for r in lines if "scenario" in r]
    summaries = [r["summary"] for r in lines if "summary" in r]
    assert len(per_scenario) == 4  # 2 scenarios x 2 profiles
    assert [s["label"].split(" · ")[1] for s in summaries] == ["smollm2", "qwen2.5"]
    for s in summaries:
        assert s["scenarios"] == 2 and 0 <= s["valid"] <= 1 and s["p50_ms"] > 0
        assert s["tokens_per_decision"] > 0
    # The README save is decided by rule (nothing to choose); the failing report by the model.
    assert [r["system"]["origin"] for r in per_scenario] == ["rule", "llm", "rule", "llm"]
    assert all(r["prompt_tokens"] is not None for r in per_scenario if r["system"]["origin"] == "llm")


async def test_a_failure_a_running_task_already_fixes_is_observed(decides: Config) -> None:
    """The running work the daemon knows of decides too: the same report failing while a task
    fixes it is observed by rule (no model call); another report failing is still the model's."""
    fixing = "2 of 40 tests fail in reports/junit.xml (first: tests.test_cart.test_total). Find the cause, fix it."
    line = json.loads(SUITE.splitlines()[1])
    running = [{"agent": "claude-code", "command": fixing}]
    same = {**line, "name": "same", "running": running}
    other = {
        **line,
        "name": "other",
        "running": running,
        "observations": [{**line["observations"][0], "target": "build/other.xml"}],
    }
    backend = ScriptedBackend()
    backend.enqueue(choose("A"))
    score = await run_suite(
        connected(backend), parse_suite(f"{json.dumps(same)}\n{json.dumps(other)}", "t"), config=decides
    )
    first, second = score.everything
    assert first.done is not None and (first.done.origin, first.done.action_type) == ("rule", "observe")
    assert "already being worked on" in first.decision.reasoning
    assert second.done is not None and (second.done.origin, second.done.action_type) == ("llm", "delegate")
    assert len(backend.requests) == 1 and "running tasks 1" in backend.requests[0][-1]["content"]
