"""The thinker's compaction with the in-tree scripted backend (the real server path is in
tests/think/backends and tests/test_end_to_end.py)."""

import itertools

from conscious.errors import LLMRejected, LLMUnavailable
from conscious.think.backends.base import Limits
from conscious.think.backends.embedded import EmbeddedServer
from conscious.think.backends.openai_compat import OpenAICompatBackend
from conscious.think.backends.retrying import RetryingBackend
from conscious.think.backends.scripted import ScriptedBackend
from conscious.think.context import ContextWindow
from conscious.think.thinker import Compaction, Thinker


def thinker(backend: ScriptedBackend, budget: int = 900) -> tuple[Thinker, list[Compaction]]:
    seen: list[Compaction] = []
    t = Thinker(
        backend,
        ContextWindow("SYSTEM PROMPT", 10, budget),
        Limits(max_tokens=100),
        summary_tokens=60,
        identity=lambda: "You are conscious (test).",
        on_compact=seen.append,
    )
    return t, seen


async def fill(t: Thinker, n: int) -> None:
    for i in range(n):
        await t.think(f"observation number {i}: src/file_{i}.py modified " + "x" * 80)


async def test_compaction_summarises_what_left_and_rewrites_the_memory_block() -> None:
    backend = ScriptedBackend()
    backend.enqueue_summary("tests failed twice, a fix was delegated")
    t, seen = thinker(backend)
    await fill(t, 20)
    assert seen, "the window must have compacted"
    first = seen[0]
    assert first.evicted and first.error is None
    assert first.summary == "tests failed twice, a fix was delegated"
    assert first.used_after < first.used_before
    system = t.window.messages()[0]["content"]
    assert system.startswith("SYSTEM PROMPT") and "You are conscious (test)." in system
    # The summary request re-used the prefix the server held: the old system message and the
    # evicted turns, in order, then one instruction.
    request = backend.summary_requests[0]
    assert request[0]["content"] == "SYSTEM PROMPT"
    assert [m["content"] for m in request[1:-1]] == [turn.content for turn in first.evicted]
    assert t.window.used <= t.window.high_water * t.window.budget


async def test_between_compactions_the_prompt_only_grows_at_its_end() -> None:
    backend = ScriptedBackend()
    t, seen = thinker(backend, budget=4000)
    await fill(t, 6)
    assert not seen
    for before, after in zip(backend.requests, backend.requests[1:], strict=False):
        assert after[: len(before)] == before


async def test_a_failed_summary_falls_back_to_an_extract_and_says_why() -> None:
    backend = ScriptedBackend()
    backend.enqueue_summary("")  # an empty summary is unusable
    backend.enqueue_summary(LLMRejected("server refused"))
    t, seen = thinker(backend)
    await fill(t, 40)
    assert len(seen) >= 2
    assert seen[0].error and seen[1].error and "server refused" in seen[1].error
    assert "observe" in seen[0].summary  # the extract of the evicted decisions
    assert t.summary == seen[-1].summary


async def test_the_summary_stays_bounded_however_long_it_runs() -> None:
    backend = ScriptedBackend()
    backend.enqueue_summary(*["word " * 500] * 30)
    t, seen = thinker(backend)
    await fill(t, 120)
    assert len(seen) >= 5
    assert max(c.used_after for c in seen) <= t.window.low_water * t.window.budget + 60
    assert t.window.used <= t.window.budget


async def test_a_real_compaction_summarises_on_the_server_and_reuses_its_cache(llama_server: EmbeddedServer) -> None:
    """On the bundled model: the summary is schema-valid, and its request re-uses the prefix
    the server had cached (system message + the evicted turns)."""
    # As the daemon always has it: behind the retry that absorbs a pooled keep-alive connection
    # the server closed just as it was reused (an APIConnectionError, seen under load).
    backend = RetryingBackend(OpenAICompatBackend(llama_server.url))
    system = "You are an orchestrator. Reply with one JSON decision: action_type, reasoning, confidence."
    seen: list[Compaction] = []
    try:
        window = ContextWindow(system, await backend.tokenize(system), budget=600)
        t = Thinker(
            backend,
            window,
            Limits(max_tokens=80, temperature=0.0),
            summary_tokens=60,
            identity=lambda: "You are conscious (test).",
            on_compact=seen.append,
        )
        for i in range(12):
            await t.think(f"{i + 1}. [ERROR] tests/failed report.xml: test_add fails (assert 3 == 4), run {i}")
            if seen:
                break
    finally:
        await backend.aclose()
    assert seen, "the window must have compacted"
    [c] = seen
    assert c.error is None, c.error
    assert c.summary and len(c.summary) <= 180
    assert c.summary in window.memory
    assert c.usage.cached_tokens is not None and c.usage.cached_tokens > 0


async def test_the_prompt_is_stable_between_compactions_across_many_of_them() -> None:
    backend = ScriptedBackend()
    t, seen = thinker(backend)
    epochs: list[int] = []
    for i in range(80):
        await t.think(f"observation number {i}: src/file_{i}.py modified " + "x" * 80)
        epochs.append(len(seen))
    assert len(seen) >= 4
    for (before, after), (e1, e2) in zip(itertools.pairwise(backend.requests), itertools.pairwise(epochs), strict=True):
        if e1 == e2:  # no compaction in between: the old prompt is a prefix of the new one
            assert after[: len(before)] == before
        else:  # a compaction: the static prompt stays, the oldest turns are gone
            assert after[0]["content"].startswith("SYSTEM PROMPT") and after[1] != before[1]
    assert all(c.used_after <= t.window.high_water * t.window.budget for c in seen)


async def test_no_summary_during_an_outage_the_turns_stay_until_it_ends() -> None:
    backend = ScriptedBackend()
    t, seen = thinker(backend)
    await fill(t, 12)
    turns, compactions = list(t.window.turns), len(seen)
    backend.enqueue_summary(LLMUnavailable("server restarting"))
    try:
        await t.compact()
    except LLMUnavailable:
        pass
    else:
        raise AssertionError("the outage must reach the caller")
    assert t.window.turns == turns and len(seen) == compactions  # nothing evicted, nothing archived
    await t.compact()
    assert len(seen) == compactions + 1 and seen[-1].error is None and seen[-1].summary.endswith("turns archived")


async def test_the_options_are_asked_but_the_window_keeps_the_turn_and_a_fact_of_the_answer() -> None:
    from conscious.model import Observation
    from conscious.think.candidates import candidates

    backend = ScriptedBackend()
    backend.enqueue('{"choice": "A", "reasoning": "the tests fail", "confidence": 0.9}')
    t, _ = thinker(backend, budget=4000)
    failing = Observation(
        source="tests",
        event_type="failed",
        target="report.xml",
        details={"tests": 3, "failures": 1, "first_failures": [{"test": "t.test_a", "message": "assert 1 == 2"}]},
    )
    from conscious.think.choice import Options

    options = Options(
        candidates([failing], agents=["claude-code", "claude-flow", "memory"]), facts="[time 2026-12-01 10:00Z]"
    )
    thought = await t.think("1 observation(s):\n1. [ERROR] tests/failed report.xml", options)
    asked = backend.requests[0][-1]["content"]
    assert asked.startswith("1 observation(s):") and "[time 2026-12-01 10:00Z]\nOPTIONS:\nA) delegate" in asked
    kept = [turn.content for turn in t.window.turns]
    assert kept[0] == "1 observation(s):\n1. [ERROR] tests/failed report.xml"  # neither OPTIONS nor facts kept
    # What was done and on what grounds; the command quoting the evidence just above is not kept.
    assert kept[1] == "→ delegated to claude-code: the failing tests" and thought.decision.action_type == "delegate"
    assert thought.decision.command is not None and "t.test_a" in thought.decision.command
    await t.think("1 observation(s):\n1. [INFO] clock/heartbeat orchestrator")
    # The next request shares with the server's cache everything up to the options it was asked.
    again = backend.requests[1]
    assert again[1]["content"] == kept[0] and asked.startswith(again[1]["content"])


async def test_a_question_the_journal_answers_is_decided_by_code_without_a_call() -> None:
    from conscious.model import request
    from conscious.think.candidates import candidates
    from conscious.think.choice import Options

    backend = ScriptedBackend()  # unscripted: were it asked, it would observe
    t, _ = thinker(backend, budget=4000)
    agents = ["claude-code", "claude-flow", "memory"]
    for words, command in (
        ("what did we decide about the cache?", "what did we decide about the cache?"),
        ("make it better", "clarify: make it better"),
    ):
        thought = await t.think(
            f"1 observation(s):\n1. [INFO] user/request inbox: {words}",
            Options(candidates([request(words)], agents=agents)),
        )
        assert (thought.decision.target_agent, thought.decision.command) == ("memory", command)
        assert thought.requested and thought.decision.metadata["confidence_from"] == "code" and thought.origin == "code"
        assert t.window.turns[-1].content == f"→ delegated to memory: {thought.decision.metadata['basis']}"
    assert backend.calls == 0
    # A request a paid agent would take is the model's to judge.
    backend.enqueue('{"choice": "A", "reasoning": "asked", "confidence": 0.9}')
    thought = await t.think(
        "1 observation(s):\n1. [INFO] user/request inbox: fix the upload test",
        Options(candidates([request("fix the upload test")], agents=agents)),
    )
    assert backend.calls == 1 and thought.decision.target_agent == "claude-code" and thought.origin == "llm"
