"""Fault-injection figures for RELIABILITY.md: the kill -9 storm of tests/test_faults.py,
longer and over several seeds.

    python bench/faults.py [--runs 5] [--observations 200] [--kills 20]

Each run: a fresh home, the real daemon (`conscious run` as a subprocess) on the in-tree
scripted brain (`scripted://delegate`, so every decision is a delegation to the stand-in
`claude` on PATH), observations written into its journal as `conscious tell` writes them,
and SIGKILL at random moments; then the invariants, counted from the journal and the agent's
own log of what it was started with.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.daemon_harness import SCRIPTED, Daemon, kill_storm


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--observations", type=int, default=200)
    ap.add_argument("--kills", type=int, default=20)
    args = ap.parse_args()
    totals = {"kills": 0, "observations": 0, "lost": 0, "undecided": 0, "started_twice": 0, "orphans": 0}
    for run in range(args.runs):
        root = Path(tempfile.mkdtemp(prefix="conscious-faults-"))
        (root / "home").mkdir()
        (root / "project").mkdir()
        report = kill_storm(
            Daemon(root / "home", root / "project", SCRIPTED),
            observations=args.observations,
            kills=args.kills,
            seed=1000 + run,
        )
        print(f"run {run + 1}: {report.line()}", flush=True)
        for key in totals:
            totals[key] += getattr(report, key)
    print(
        f"total: {totals['observations']} observations, {totals['kills']} kill -9 -> lost {totals['lost']}, "
        f"undecided {totals['undecided']}, delegations started twice {totals['started_twice']}, "
        f"orphans {totals['orphans']}"
    )


if __name__ == "__main__":
    main()
