"""Replay: recorded observations through the real loop. The loop with a scripted brain here;
the command against the real llama-server at the end."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from conscious.config import Config
from conscious.control.terminal import Terminal
from conscious.daemon.assemble import build
from conscious.errors import ReplayError
from conscious.eval.replay import groups, read_observations, replay
from conscious.journal import Journal
from conscious.paths import Paths
from conscious.think.backends.embedded import EmbeddedServer
from conscious.think.backends.scripted import ScriptedBackend
from conscious.think.connection import Connection
from tests.cli.test_cli import conscious, one_clear_line


def write(path: Path, rows: list[Any]) -> Path:
    path.write_text("\n".join(r if isinstance(r, str) else json.dumps(r) for r in rows) + "\n", encoding="utf-8")
    return path


def edit(target: str, ts: str | None = None, **kw: Any) -> dict[str, Any]:
    row: dict[str, Any] = {"source": "filesystem", "event_type": "modified", "target": target, **kw}
    if ts:
        row["timestamp"] = ts
    return row


def test_reads_the_seed_shape_and_groups_bursts(tmp_path: Path) -> None:
    rows = [
        edit("a.py", "2026-11-20T10:00:00"),
        edit("a.py", "2026-11-20T10:00:00.400"),
        edit("b.py", "2026-11-20T10:00:02"),
        {"source": "user", "event_type": "request", "target": "inbox", "details": {"text": "hi"}, "id": 7},
        edit("c.py"),
    ]
    records, ignored = read_observations(write(tmp_path / "r.jsonl", rows))
    assert ignored == {"id"}
    assert [r.line for r in records] == [1, 2, 3, 4, 5]
    assert records[0].observation.timestamp.tzinfo is not None
    assert [[r.line for r in g] for g in groups(records, 1.0)] == [[1, 2], [3], [4], [5]]


@pytest.mark.parametrize(
    ("rows", "needle"),
    [
        (["{not json"], ":1: not JSON"),
        ([edit("a.py"), "[1, 2]"], ":2: want a JSON object"),
        ([{"source": "x", "target": "y"}], ":1: event_type: Field required"),
        ([edit("a.py", severity="loud")], ":1: severity:"),
        ([], "no observations"),
    ],
)
def test_bad_files_are_one_clear_error(tmp_path: Path, rows: list[Any], needle: str) -> None:
    path = tmp_path / "r.jsonl"
    path.write_text("\n".join(r if isinstance(r, str) else json.dumps(r) for r in rows), encoding="utf-8")
    with pytest.raises(ReplayError, match=needle):
        read_observations(path)
    with pytest.raises(ReplayError, match="cannot read"):
        read_observations(tmp_path / "missing.jsonl")


async def test_every_recorded_observation_is_covered_by_exactly_one_decision(
    config: Config, paths: Paths, tmp_path: Path
) -> None:
    burst = [edit("src/app.py", f"2026-11-20T10:00:00.{i:03d}") for i in range(300)]
    rows = [
        {
            "source": "tests",
            "event_type": "failed",
            "target": "report.xml",
            "severity": "error",
            "timestamp": "2026-11-20T09:59:00",
        },
        *burst,
        {
            "source": "user",
            "event_type": "request",
            "target": "inbox",
            "details": {"text": "fix it"},
            "timestamp": "2026-11-20T10:05:00",
        },
    ]
    records, _ = read_observations(write(tmp_path / "r.jsonl", rows))
    backend = ScriptedBackend()
    backend.enqueue(
        {"action_type": "observe", "reasoning": "tests failed", "priority": "high", "confidence": 0.9},
        {"action_type": "observe", "reasoning": "burst of edits", "priority": "low", "confidence": 0.9},
        {
            "action_type": "delegate",
            "reasoning": "the user asks",
            "target_agent": "claude-code",
            "command": "fix the failing test in report.xml",
            "priority": "high",
            "confidence": 0.9,
        },
    )
    journal = Journal(tmp_path / "replay.db")
    conn = Connection(backend, await backend.info(), backend.context_length)
    dry = config.model_copy(update={"dry_run": True, "decide": "compose"})  # scripted whole decisions
    orch = await build(dry, paths, journal, conn, Terminal(quiet=True), observe=False)
    seen: list[dict[str, Any]] = []
    result = await replay(orch, records, on_decision=seen.append)
    assert seen == result.decisions
    covered = [line for d in result.decisions for line in d["covers"]]
    assert sorted(covered) == list(range(1, len(rows) + 1))  # each line exactly once
    by_model = [d for d in result.decisions if d["origin"] == "llm"]
    assert len(by_model) == 3 and len(backend.requests) == 3  # the 300-event burst is one thought
    assert by_model[1]["covers"] == list(range(2, 302))
    assert by_model[2]["verdict"] == "dry-run" and journal.tasks() == []
    assert sum(d["also_covers"].count("self/started") for d in result.decisions) == 1  # its own, apart
    assert result.summary()["llm_decisions"] == 3


def test_replay_command_on_the_real_model(llama_server: EmbeddedServer, home: Path, tmp_path: Path) -> None:
    rows = [
        {
            "source": "tests",
            "event_type": "failed",
            "target": "report.xml",
            "severity": "error",
            "details": {"failures": 1},
        },
        edit("src/app.py"),
    ]
    path = write(tmp_path / "day.jsonl", rows)
    result = conscious("replay", str(path), "--llm-url", llama_server.url, "--json", home=home, timeout=240)
    assert result.returncode == 0, result.stderr
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    decisions, summary = lines[:-1], lines[-1]
    assert sorted(n for d in decisions for n in d["covers"]) == [1, 2]
    llm = [d for d in decisions if d["origin"] != "rule"]
    assert llm and all(d["latency_ms"] > 0 for d in llm)
    # llama.cpp reports timings: what it processed and what came from its cache.
    assert all(d["prompt_tokens_processed"] is not None and d["prompt_tokens_cached"] is not None for d in llm)
    assert summary["summary"]["observations"] == 2 and summary["server"] == "openai-compatible"
    assert not (home / "journal.db").exists()  # the replay's journal was temporary
    bad = conscious("replay", str(tmp_path / "nope.jsonl"), home=home)
    one_clear_line(bad, "cannot read")
