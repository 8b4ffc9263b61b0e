"""systemd units' results: a watched unit that fails (its main process exited non-zero, was
killed or dumped core, timed out, hit its start limit) is one observation with the result, the
exit status and the tail of its journal — not "the process stopped"; restarts by the unit's own
``Restart=`` are counted, three within ``LOOP_WINDOW`` are a crash loop, and a unit active again
after failing says so (what was delegated may be settled by it).

Read with ``systemctl show`` and ``journalctl``, which need no privilege: ``api.service`` is the
system's unit, ``user:api.service`` the user's manager's. A unit that does not exist, or a
manager that does not answer, is said once (a warning), then quietly retried.
"""

from __future__ import annotations

import asyncio
import shutil
import subprocess
import time
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field

from conscious.model import Observation, Severity

PROPERTIES = ("LoadState", "ActiveState", "SubState", "Result", "ExecMainCode", "ExecMainStatus", "NRestarts")
LOOP_WINDOW = 600.0
"""Seconds within which three restarts of a unit are a crash loop."""
TAIL_LINES = 20
TIMEOUT = 10.0
CODES = {"1": "exited", "2": "killed", "3": "dumped"}
"""``ExecMainCode`` is a ``siginfo`` code: CLD_EXITED, CLD_KILLED, CLD_DUMPED."""


@dataclass
class _Unit:
    spec: str
    scope: list[str]
    """``["--user"]`` for the user's manager, else nothing (the system's)."""
    name: str
    active: str | None = None
    restarts: int | None = None
    restarted_at: list[float] = field(default_factory=list)
    trouble: str | None = None
    """What was said last about it being unreadable (said once until it reads again)."""


def _unit(spec: str) -> _Unit:
    """``user:api.service`` → the user manager's ``api.service``; ``api.service`` the system's."""
    if spec.startswith("user:"):
        return _Unit(spec, ["--user"], spec.removeprefix("user:"))
    return _Unit(spec, [], spec.removeprefix("system:"))


class UnitObserver:
    name = "units"

    def __init__(self, units: Sequence[str], *, interval: float = 5.0) -> None:
        self.units = [_unit(spec) for spec in units]
        self.interval = interval

    async def observe(self) -> AsyncIterator[Observation]:
        if not self.units:
            return
        while True:
            for obs in await asyncio.to_thread(self.poll):
                yield obs
            await asyncio.sleep(self.interval)

    def poll(self) -> list[Observation]:
        out: list[Observation] = []
        for unit in self.units:
            out += self._look(unit)
        return out

    def _look(self, unit: _Unit) -> list[Observation]:
        shown, problem = _show(unit.scope, unit.name)
        if problem is None and shown.get("LoadState") == "not-found":
            problem = f"no unit {unit.name} is known to the {'user' if unit.scope else 'system'} manager"
        if problem is not None:
            if problem == unit.trouble:
                return []
            unit.trouble = problem
            return [
                Observation(
                    source="systemd",
                    event_type="unreadable",
                    target=unit.spec,
                    severity="warning",
                    details={"error": problem},
                )
            ]
        unit.trouble = None
        active, restarts = shown.get("ActiveState", ""), _int(shown.get("NRestarts"))
        first, was = unit.active is None, unit.active
        more = restarts - unit.restarts if restarts is not None and unit.restarts is not None else 0
        unit.active, unit.restarts = active, restarts
        details = _result(shown)
        if active == "failed" and (first or was != "failed"):
            return [self._said(unit, "failed", "error", details)]
        if more > 0:
            now = time.monotonic()
            unit.restarted_at = [t for t in unit.restarted_at if now - t < LOOP_WINDOW] + [now] * more
            details["restarts"] = restarts
            if len(unit.restarted_at) >= 3:
                unit.restarted_at = []
                return [self._said(unit, "crash-loop", "critical", details)]
            return [self._said(unit, "restarted", "warning", details)]
        if was == "failed" and active == "active":
            return [
                Observation(
                    source="systemd",
                    event_type="recovered",
                    target=unit.spec,
                    details={"state": shown.get("SubState", "")},
                )
            ]
        return []

    def _said(self, unit: _Unit, event: str, severity: Severity, details: dict[str, object]) -> Observation:
        tail = _tail(unit.scope, unit.name)
        if tail:
            details = {**details, "tail": tail}
        return Observation(source="systemd", event_type=event, target=unit.spec, severity=severity, details=details)


def _result(shown: dict[str, str]) -> dict[str, object]:
    code = CODES.get(shown.get("ExecMainCode", ""), shown.get("ExecMainCode", ""))
    out: dict[str, object] = {"result": shown.get("Result", ""), "state": shown.get("SubState", "")}
    if code == "exited":
        out["exit_code"] = _int(shown.get("ExecMainStatus"))
    elif code in ("killed", "dumped"):
        out["signal"] = _int(shown.get("ExecMainStatus"))
        out["core_dumped"] = code == "dumped"
    return out


def _int(value: str | None) -> int | None:
    try:
        return int(value) if value not in (None, "", "[not set]") else None
    except ValueError:
        return None


def _run(argv: list[str]) -> tuple[str, str | None]:
    """The command's output, or why there is none (one line)."""
    if shutil.which(argv[0]) is None:
        return "", f"{argv[0]} is not installed: systemd units cannot be watched here"
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=TIMEOUT, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return "", f"{' '.join(argv[:2])} failed: {exc}"
    if done.returncode != 0:
        said = (done.stderr or done.stdout).strip().splitlines()
        return "", said[0] if said else f"{argv[0]} exited with {done.returncode}"
    return done.stdout, None


def _show(scope: list[str], name: str) -> tuple[dict[str, str], str | None]:
    text, problem = _run(["systemctl", *scope, "show", *(f"--property={p}" for p in PROPERTIES), "--", name])
    shown = dict(line.split("=", 1) for line in text.splitlines() if "=" in line)
    return shown, problem


def _tail(scope: list[str], name: str) -> list[str]:
    text, _ = _run(["journalctl", *scope, "--unit", name, "--lines", str(TAIL_LINES), "--no-pager", "--output", "cat"])
    return [line[:300] for line in text.splitlines()[-TAIL_LINES:]]
