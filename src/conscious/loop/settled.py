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
from datetime import datetime

from conscious.model import Observation
from conscious.system.words import relative

Settled = Callable[[Observation], str | None]
"""Why this observation needs nothing more (None: it may)."""
Newer = Callable[[str, str, str, datetime], bool]
"""Whether the journal holds (source, event, target) observed after the given time."""


def settled_by(newer: Newer, running: Callable[[], Iterable[tuple[str, str]]], roots: list[str]) -> Settled:
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
        names = _named(obs) | {f"fail in {where}", f"process {where}"}
        for agent, command in running():
            if any(name in command for name in names):
                return f"already being worked on: {agent} is running on {where}"
        return None

    return why


def _named(obs: Observation) -> set[str]:
    """The failing tests a report names (a task fixing one of them is on it)."""
    firsts = obs.details.get("first_failures")
    if not isinstance(firsts, list):
        return set()
    return {str(f["test"]) for f in firsts if isinstance(f, dict) and f.get("test")}
