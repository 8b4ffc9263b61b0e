"""A recorded-style workload of realistic observations, generated deterministically."""

from __future__ import annotations

import random
import tempfile
from pathlib import Path
from typing import Any

from conscious.config import Config
from conscious.model import Observation
from conscious.paths import Paths


def bench_setup(**overrides: Any) -> tuple[Path, Paths, Config]:
    """A private home and a config for a benchmark: dry run, no clock, no LM Studio probe."""
    home = Path(tempfile.mkdtemp(prefix="conscious-bench-"))
    watched = home / "project"
    watched.mkdir()
    paths = Paths.resolve(home)
    settings: dict[str, Any] = {
        "watch": [watched],
        "probe_lmstudio": False,
        "dry_run": True,
        "heartbeat_interval": 0,
        "idle_reflection_interval": 0,
        **overrides,
    }
    return home, paths, Config.load(paths, **settings)


FILES = ["src/app/core.py", "src/app/api.py", "src/app/db.py", "README.md", "tests/test_core.py", "docs/guide.md"]
REQUESTS = [
    "add a unit test for the login flow",
    "why is the nightly build slow?",
    "refactor db.py to use a connection pool",
    "remember that staging deploys happen on Fridays",
    "plan a migration from Flask to FastAPI with several agents",
]


def edit(i: int) -> Observation:
    """The i-th of a stream of distinct file edits (the overhead benchmarks' unit of work)."""
    return Observation(
        source="filesystem",
        event_type="modified",
        target=f"src/pkg_{i % 50}/module_{i}.py",
        details={"relative": f"src/pkg_{i % 50}/module_{i}.py", "size": 1000 + i % 997},
    )


def workload(n: int, seed: int = 7, *, heartbeats: bool = False) -> list[Observation]:
    rng = random.Random(seed)
    out: list[Observation] = []
    for i in range(n):
        if heartbeats and i % 10 == 9:
            out.append(Observation(source="clock", event_type="heartbeat", target="orchestrator"))
            continue
        kind = rng.choices(["edit", "tests", "crash", "agent", "user"], weights=[5, 2, 1, 1, 1])[0]
        if kind == "edit":
            f = rng.choice(FILES)
            out.append(
                Observation(
                    source="filesystem",
                    event_type="modified",
                    target=f,
                    details={"relative": f, "size": rng.randint(200, 9000)},
                )
            )
        elif kind == "tests":
            failures = rng.choice([0, 0, 1, 3])
            out.append(
                Observation(
                    source="tests",
                    event_type="failed" if failures else "passed",
                    target="report.xml",
                    severity="error" if failures else "info",
                    details={
                        "tests": 42,
                        "failures": failures,
                        "passed": 42 - failures,
                        **(
                            {"first_failures": [{"test": "tests.test_core.test_add", "message": "assert 3 == 4"}]}
                            if failures
                            else {}
                        ),
                    },
                )
            )
        elif kind == "crash":
            out.append(
                Observation(
                    source="process",
                    event_type="vanished",
                    target="uvicorn",
                    severity="warning",
                    details={"pid": 4000 + i, "pattern": "uvicorn"},
                )
            )
        elif kind == "agent":
            ok = rng.random() < 0.7
            out.append(
                Observation(
                    source="agent",
                    event_type="succeeded" if ok else "failed",
                    target=f"claude-code#{i}",
                    severity="info" if ok else "error",
                    details={
                        "result": "Fixed the failing test" if ok else "Tests still fail",
                        "cost_usd": round(rng.uniform(0.01, 0.3), 4),
                    },
                )
            )
        else:
            out.append(
                Observation(source="user", event_type="request", target="inbox", details={"text": rng.choice(REQUESTS)})
            )
    return out
