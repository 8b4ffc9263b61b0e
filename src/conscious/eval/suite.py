"""Scenario suites: one JSON object per line, an observation batch and the decisions that
would be acceptable for it.

    {"name": "pytest-fails", "kind": "test-failed", "root": "/home/dev/app",
     "running": [{"agent": "claude-code", "command": "..."}],    (optional)
     "observations": [{"source": "tests", "event_type": "failed", "target": "reports/junit.xml",
                       "severity": "error", "details": {...}}],
     "expect": {"action_types": ["delegate", "reflect"], "agents": ["claude-code"],
                "min_priority": "high"}}
"""

from __future__ import annotations

import json
from importlib.resources import files
from pathlib import Path

from pydantic import BaseModel, Field, ValidationError

from conscious.errors import ConfigError
from conscious.model import ActionType, Observation, Priority


class Expect(BaseModel):
    action_types: list[ActionType] = Field(min_length=1)
    """Every acceptable action."""
    agents: list[str] = Field(default_factory=list)
    """Acceptable targets when delegating (empty: a delegation is not acceptable)."""
    min_priority: Priority = "low"


class Running(BaseModel):
    """A task the daemon knows is running when the scenario's observations arrive."""

    agent: str
    command: str = Field(min_length=1)


class Scenario(BaseModel):
    name: str
    kind: str = ""
    root: str | None = None
    """The watched folder of the scenario's project (its paths are inside it)."""
    running: list[Running] = Field(default_factory=list)
    observations: list[Observation] = Field(min_length=1)
    expect: Expect


def default_suite_text() -> str:
    return files("conscious").joinpath("eval/default_suite.jsonl").read_text(encoding="utf-8")


def parse_suite(text: str, where: str) -> list[Scenario]:
    """Every scenario, or one clear error naming the line that is wrong."""
    scenarios = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        try:
            scenarios.append(Scenario.model_validate(json.loads(line)))
        except json.JSONDecodeError as exc:
            raise ConfigError(f"{where}:{number}: not JSON: {exc.msg}") from None
        except ValidationError as exc:
            err = exc.errors()[0]
            field = ".".join(str(p) for p in err["loc"])
            raise ConfigError(f"{where}:{number}: {field}: {err['msg']}") from None
    if not scenarios:
        raise ConfigError(f"{where}: no scenarios")
    return scenarios


def load_suite(path: Path | None) -> list[Scenario]:
    if path is None:
        return parse_suite(default_suite_text(), "default suite")
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read scenario suite {path}: {exc}") from None
    return parse_suite(text, str(path))
