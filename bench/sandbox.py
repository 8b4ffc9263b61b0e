"""The wall's cost: from the decision to start an agent to the agent's first line of output.

    python bench/sandbox.py [--runs 30]

Three ways, interleaved in one run (each round runs every way once, in a shuffled order, so
the machine's noise falls on all of them alike):

- ``none``: no sandbox, ``run_process`` of the argv as it is (``sandbox.mode = "off"``);
- ``bwrap``: a Bubblewrap cell with ``network = "none"``;
- ``bwrap+proxy``: a Bubblewrap cell with ``network = "allowlist"``: the daemon's proxy listens
  on its unix socket, and the cell's bridge (``python -m conscious.delegate.bridge``) starts
  first and then runs the agent.

The agents are tiny real programs that print one line at once and exit: ``sh -c 'echo
ready'`` and ``python3 -c "print('ready')"``. The clock (``time.perf_counter``) starts just
before the cell is made — for a walled task the daemon makes a fresh one per task: its scratch
folder, its private ``/tmp``, its copies of the ``private`` paths — and stops when
``run_process`` hands over the first line of stdout (the agent's, not its exit). Everything
lives in a throwaway folder under ``/var/tmp`` (the cell replaces ``/tmp``): the task's folder,
and a fake config, data and state folder hidden from the cell as the daemon hides its own,
the proxy's socket and the scratch folders inside the state folder as in the daemon. Two
rounds of warm-up are not counted.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

from conscious.config.sections import SandboxConfig
from conscious.delegate.proxy import Proxy
from conscious.delegate.sandbox import Bubblewrap, Rooms
from conscious.system.process import run_process

AGENTS: dict[str, list[str]] = {
    "sh -c 'echo ready'": ["sh", "-c", "echo ready"],
    "python3 -c \"print('ready')\"": ["python3", "-c", "print('ready')"],
}
WAYS = ("none", "bwrap", "bwrap+proxy")
WARMUP = 2


class Bench:
    def __init__(self, base: Path) -> None:
        self.base = base
        self.state = base / "state"
        self.root = base / "task"
        for folder in (base / "config", base / "data", self.state / "tasks", self.root):
            folder.mkdir(parents=True)
        self.hidden = [base / "config", base / "data", self.state]
        self.proxy = Proxy(self.state / "tasks" / "proxy.sock", SandboxConfig().allow_hosts)
        self.walls = {
            "bwrap": Bubblewrap(SandboxConfig(network="none")),
            "bwrap+proxy": Bubblewrap(SandboxConfig(network="allowlist"), proxy=self.proxy.socket),
        }
        self.tasks = 0

    async def first_line(self, way: str, argv: Sequence[str]) -> tuple[float, float]:
        """Seconds from the decision to the first line of stdout, and of them the cell's making."""
        self.tasks += 1
        seen: list[float] = []

        def on_line(line: str) -> bool:
            if not seen:
                seen.append(time.perf_counter())
                if line.strip() != "ready":
                    raise SystemExit(f"{way}: the first line was {line!r}, not 'ready'")
            return False

        started = time.perf_counter()
        processes = 0
        if way == "none":
            wrapped = list(argv)
        else:
            scratch = self.state / "tasks" / f"task-{self.tasks}" / "cell"
            cell = self.walls[way].cell(Rooms(self.root, self.root, scratch, self.hidden))
            wrapped = cell.wrap(argv)
            processes = SandboxConfig().processes
        made = time.perf_counter()
        result = await run_process(wrapped, cwd=self.root, timeout=30, processes=processes, on_line=on_line)
        if not seen or result.exit_code != 0:
            raise SystemExit(f"{way}: exit {result.exit_code}, no first line: {result.stderr.strip()[-500:]}")
        return seen[0] - started, made - started


def p90(values: Sequence[float]) -> float:
    return statistics.quantiles(values, n=10)[8]


async def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=30)
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()
    if (why := Bubblewrap(SandboxConfig()).unavailable()) is not None:
        raise SystemExit(why)
    rng = random.Random(args.seed)
    base = Path(tempfile.mkdtemp(prefix="conscious-bench-sandbox-", dir="/var/tmp"))
    bench = Bench(base)
    await bench.proxy.start()  # once, as the daemon does: its first walled task starts it
    times: dict[tuple[str, str], list[float]] = {(a, w): [] for a in AGENTS for w in WAYS}
    making: dict[tuple[str, str], list[float]] = {(a, w): [] for a in AGENTS for w in WAYS}
    started = time.perf_counter()
    try:
        for round_ in range(WARMUP + args.runs):
            for name, argv in AGENTS.items():
                order = list(WAYS)
                rng.shuffle(order)
                for way in order:
                    took, made = await bench.first_line(way, argv)
                    if round_ >= WARMUP:
                        times[name, way].append(took)
                        making[name, way].append(made)
    finally:
        await bench.proxy.close()
        shutil.rmtree(base, ignore_errors=True)
    total = time.perf_counter() - started

    command = "python bench/sandbox.py" + (f" --runs {args.runs}" if args.runs != 30 else "")
    command += f" --seed {args.seed}" if args.seed != 1 else ""
    print(f"```sh\n{command}\n```\n")
    print(f"{args.runs} runs of each way per agent, interleaved ({total:.0f} s in all; {WARMUP} rounds of warm-up)\n")
    print("| agent | wall | first line p50 | p90 | added p50 vs no sandbox | ratio | of it, making the cell (p50) |")
    print("|---|---|---|---|---|---|---|")
    for name in AGENTS:
        bare = statistics.median(times[name, "none"]) * 1000
        for way in WAYS:
            p50, high = statistics.median(times[name, way]) * 1000, p90(times[name, way]) * 1000
            added = "—" if way == "none" else f"+{p50 - bare:.1f} ms"
            cell = "—" if way == "none" else f"{statistics.median(making[name, way]) * 1000:.2f} ms"
            print(f"| `{name}` | {way} | {p50:.1f} ms | {high:.1f} ms | {added} | {p50 / bare:.2f} | {cell} |")
    print(f"\nbwrap {Bubblewrap(SandboxConfig()).binary}, python {sys.version.split()[0]} ({sys.executable})")


if __name__ == "__main__":
    asyncio.run(main())
