"""Evidence the journal has already answered: acted on, it would be work for nothing.

A test report that failed and has passed since (green on the rerun: a flaky test, or fixed in the
meantime), a watched command that failed and has exited 0 since, a systemd unit active again,
and a failure or a vanished process that a running task is already working on (its command names
the same report, the same test, the same process) are observed, not delegated — each was
delegated again before, a second agent paid to redo what the first was doing. The reason is said
on the decision (``Committer.by_rule``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import datetime, timedelta

from conscious.model import Observation, RunningTask
from conscious.system.outside import relative

Settled = Callable[[Observation], str | None]
"""Why this observation needs nothing more (None: it may)."""
Newer = Callable[[str, str, str, datetime], bool]
"""Whether the journal holds (source, event, target) observed after the given time."""
Decided = Callable[[str, str, datetime, datetime], list[Observation]]
"""Observations of (source, event) first seen in the window, and decided already."""
SAME_RUN = timedelta(seconds=5)
"""Slack around a watched command's run within which its test report belongs to it."""


def settled_by(
    newer: Newer,
    running: Callable[[], Iterable[RunningTask]],
    roots: list[str],
    decided: Decided = lambda *_: [],
) -> Settled:
    def why(obs: Observation) -> str | None:
        kind = obs.key[:2]
        if kind not in (("tests", "failed"), ("process", "vanished"), ("process", "failed"), ("systemd", "failed")):
            return None
        where = relative(obs.target, roots)
        since = obs.last_ts or obs.timestamp
        if kind == ("tests", "failed") and newer("tests", "passed", obs.target, since):
            return f"the tests in {where} pass again since (green on the rerun)"
        if kind == ("process", "failed") and newer("process", "exited", obs.target, since):
            return f"`{where}` succeeded when run again since"
        if kind == ("systemd", "failed") and newer("systemd", "recovered", obs.target, since):
            return f"{where} is active again since"
        if (twin := _same_run(obs, decided, roots)) is not None:
            return f"the same test run's failure was decided already ({twin})"
        names = _named(obs) | {f"fail in {where}", f"process {where}"}
        for run in running():
            if any(name in run.task.command for name in names):
                return f"already being worked on: {run.task.agent} is running on {where}"
        return None

    return why


def _named(obs: Observation) -> set[str]:
    """The failing tests a report names (a task fixing one of them is on it)."""
    firsts = obs.details.get("first_failures")
    if not isinstance(firsts, list):
        return set()
    return {str(f["test"]) for f in firsts if isinstance(f, dict) and f.get("test")}


def _same_run(obs: Observation, decided: Decided, roots: list[str]) -> str | None:
    """A failing test run is seen twice — the watched command's exit (``conscious watch``) and
    the JUnit report it wrote — and was delegated twice, two agents on one failure. Whichever
    was decided first stands for both: this one is the other's twin when it came within the
    run and the command names the report, or its output names a test the report says failed."""
    if obs.key[:2] == ("process", "failed"):
        began = obs.timestamp - timedelta(seconds=float(obs.details.get("seconds") or 0))
        for report in decided("tests", "failed", began - SAME_RUN, obs.timestamp + SAME_RUN):
            if _wrote(obs, report, roots):
                return f"its report {relative(report.target, roots)}"
    if obs.key[:2] == ("tests", "failed"):
        for run in decided("process", "failed", obs.timestamp - SAME_RUN, obs.timestamp + SAME_RUN):
            if _wrote(run, obs, roots):
                return f"`{relative(run.target, roots)}`"
    return None


def _wrote(run: Observation, report: Observation, roots: list[str]) -> bool:
    if relative(report.target, roots) in run.target:
        return True  # `pytest --junitxml=reports/junit.xml`
    tail = str(run.details.get("tail") or "")
    tests = {name.rsplit(".", 1)[-1] for name in _named(report)}
    return any(len(test) >= 6 and test in tail for test in tests)
