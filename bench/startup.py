"""How long a command takes to start and finish, against the interpreter starting at all.

    python bench/startup.py [--runs 10]

Each round runs every command once, in a shuffled order (the machine is noisy: ratios from one
run compare). The journal is a throwaway home's, with no daemon: what a user's `tell` costs when
the daemon is down (the slowest path: the journal opened, the request written).
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BIN = Path(sys.executable).parent


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=10)
    args = parser.parse_args()
    home = tempfile.mkdtemp(prefix="conscious-startup-")
    env = {**os.environ, "CONSCIOUS_HOME": home, "CONSCIOUS_PROBE_LMSTUDIO": "false"}
    # As an installed tool runs: pip and pipx compile the bytecode at install time, so a command
    # never compiles its modules (a shell with PYTHONDONTWRITEBYTECODE would measure that instead).
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    conscious = str(BIN / "conscious")
    commands = {
        "python -c pass": [sys.executable, "-c", "pass"],
        "conscious --version": [conscious, "--version"],
        "conscious tell …": [conscious, "tell", "please fix the flaky upload test"],
        "conscious status": [conscious, "status"],
    }
    for argv in commands.values():
        subprocess.run(argv, env=env, capture_output=True, check=False)  # writes the bytecode once
    times: dict[str, list[float]] = {name: [] for name in commands}
    for _ in range(args.runs):
        for name in random.sample(list(commands), len(commands)):
            started = time.perf_counter()
            # `status` exits 1 when no daemon runs: its time is what is measured, not its verdict.
            subprocess.run(commands[name], env=env, capture_output=True, check=False)
            times[name].append(time.perf_counter() - started)
    base = statistics.median(times["python -c pass"])
    print(f"python bench/startup.py --runs {args.runs}\n")
    print("| command | median | p90 | minus the interpreter's start |")
    print("|---|---|---|---|")
    for name, seen in times.items():
        med, p90 = statistics.median(seen), sorted(seen)[int(0.9 * (len(seen) - 1))]
        extra = "—" if name == "python -c pass" else f"{(med - base) * 1000:.0f} ms"
        print(f"| `{name}` | {med * 1000:.0f} ms | {p90 * 1000:.0f} ms | {extra} |")


if __name__ == "__main__":
    main()
