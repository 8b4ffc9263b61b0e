"""systemd units' results, read with systemctl and journalctl: the real ones where no systemd
runs (these machines), a stand-in speaking `systemctl show`'s documented output for the rest."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from conscious.observe.units import UnitObserver
from conscious.think.candidates import candidates

STAND_INS = Path(__file__).parents[1] / "fakes" / "systemd"


@pytest.fixture
def units(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    state = tmp_path / "systemd.json"
    monkeypatch.setenv("CONSCIOUS_FAKE_SYSTEMD", str(state))
    monkeypatch.setenv("PATH", f"{STAND_INS}{os.pathsep}{os.environ['PATH']}")
    return state


def set_units(state: Path, **scopes: Any) -> None:
    state.write_text(json.dumps(scopes))


def test_where_no_systemd_runs_it_is_said_once() -> None:
    observer = UnitObserver(["conscious-test-none.service"])
    first = observer.poll()
    assert [(o.source, o.event_type, o.severity) for o in first] == [("systemd", "unreadable", "warning")]
    assert first[0].details["error"]  # systemctl's own line: not booted with systemd, or no such unit
    assert observer.poll() == []


def test_a_failed_unit_comes_with_its_exit_status_and_journal_then_its_recovery(units: Path) -> None:
    set_units(units, system={"api.service": {"ActiveState": "active", "SubState": "running"}})
    observer = UnitObserver(["api.service"])
    assert observer.poll() == []  # running: nothing to say
    failed = {
        "ActiveState": "failed",
        "SubState": "failed",
        "Result": "exit-code",
        "ExecMainCode": "1",
        "ExecMainStatus": "3",
    }
    log = ["Starting api...", "ImportError: cannot import name 'Settings' from 'acme.config'"]
    set_units(units, system={"api.service": failed}, journal={"api.service": log})
    (said,) = observer.poll()
    assert (said.event_type, said.target, said.severity) == ("failed", "api.service", "error")
    assert said.details["exit_code"] == 3 and said.details["result"] == "exit-code"
    assert said.details["tail"] == log
    assert observer.poll() == []  # still failed: said once
    option = candidates([said], agents=["claude-code", "claude-flow", "memory"])[0]
    assert (option.target_agent, option.priority) == ("claude-code", "high")
    assert option.command is not None and "cannot import name 'Settings'" in option.command
    set_units(units, system={"api.service": {"ActiveState": "active", "SubState": "running"}})
    (back,) = observer.poll()
    assert (back.event_type, back.severity) == ("recovered", "info")


def test_restarts_are_counted_and_three_are_a_crash_loop(units: Path) -> None:
    def restarted(n: int) -> None:
        unit = {"ActiveState": "activating", "SubState": "auto-restart", "Result": "signal"}
        unit |= {"ExecMainCode": "3", "ExecMainStatus": "11", "NRestarts": str(n)}
        set_units(units, user={"worker.service": unit}, journal={"worker.service": ["Segmentation fault"]})

    restarted(0)
    observer = UnitObserver(["user:worker.service"])
    assert observer.poll() == []
    restarted(1)
    (one,) = observer.poll()
    assert (one.event_type, one.severity, one.target) == ("restarted", "warning", "user:worker.service")
    assert one.details["signal"] == 11 and one.details["core_dumped"] is True and one.details["restarts"] == 1
    restarted(3)  # two more between polls
    (loop,) = observer.poll()
    assert (loop.event_type, loop.severity) == ("crash-loop", "critical")
    assert loop.details["tail"] == ["Segmentation fault"]


def test_a_unit_the_manager_does_not_know_is_one_warning(units: Path) -> None:
    set_units(units, system={})
    observer = UnitObserver(["typo.service"])
    (said,) = observer.poll()
    assert said.event_type == "unreadable" and "no unit typo.service" in str(said.details["error"])
    assert observer.poll() == []
