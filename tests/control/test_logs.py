"""Logs: a rotating file, and structured lines on stdout under journald or when asked."""

from __future__ import annotations

import io
import json
import logging
from pathlib import Path

import pytest

from conscious.config import Config
from conscious.control.events import EventBus
from conscious.control.logs import log_event, setup_logging, to_stdout
from conscious.paths import Paths


@pytest.fixture(autouse=True)
def restore_logging() -> object:
    root = logging.getLogger("conscious")
    saved = (root.handlers[:], root.level, root.propagate)
    yield
    for handler in root.handlers:
        handler.close()
    root.handlers[:], root.level, root.propagate = saved[0], saved[1], saved[2]


def test_stdout_logging_is_on_under_journald_or_when_asked(config: Config) -> None:
    assert not to_stdout(config, {})
    assert to_stdout(config, {"JOURNAL_STREAM": "8:1234"})
    assert not to_stdout(config.model_copy(update={"log_stdout": False}), {"JOURNAL_STREAM": "8:1234"})
    assert to_stdout(config.model_copy(update={"log_stdout": True}), {})


def test_key_value_lines_carry_the_journald_priority(
    config: Config, paths: Paths, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("JOURNAL_STREAM", "8:1234")
    stream = io.StringIO()
    setup_logging(config, paths, stream=stream)
    log = logging.getLogger("conscious")
    log.warning("the journal is busy", extra={"path": "/x y/journal.db"})
    log.info("plain")
    first, second = stream.getvalue().splitlines()
    assert first.startswith("<4>level=warning logger=conscious ")
    assert 'msg="the journal is busy"' in first and 'path="/x y/journal.db"' in first
    assert second == "<6>level=info logger=conscious msg=plain"


def test_json_lines_and_live_events(config: Config, paths: Paths) -> None:
    stream = io.StringIO()
    setup_logging(config.model_copy(update={"log_stdout": True, "log_format": "json"}), paths, stream=stream)
    bus = EventBus()
    bus.listen(log_event)
    bus.publish("observation", source="fs", event_type="modified", target="app.py", severity="info")
    bus.publish("token", turn=1, text="{")  # tokens are not logged
    bus.publish("decision", id=7, action="delegate", target_agent="claude-code", command="fix it", verdict="accepted")
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert [line["event"] for line in lines] == ["observation", "decision"]
    assert lines[0]["msg"] == "fs/modified app.py" and lines[0]["level"] == "info"
    assert lines[1]["msg"] == "#7 delegate → claude-code: fix it" and lines[1]["verdict"] == "accepted"


def test_the_log_file_rotates(config: Config, paths: Paths) -> None:
    setup_logging(config.model_copy(update={"log_max_bytes": 2000, "log_backups": 2}), paths)
    log = logging.getLogger("conscious")
    for i in range(200):
        log.info("line %d %s", i, "x" * 40)
    files = sorted(p.name for p in Path(paths.state_dir).glob("conscious.log*"))
    assert files == ["conscious.log", "conscious.log.1", "conscious.log.2"]
    assert all(p.stat().st_size <= 2100 for p in Path(paths.state_dir).glob("conscious.log*"))
