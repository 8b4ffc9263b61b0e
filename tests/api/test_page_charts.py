"""The live page's charts and layout in a real headless Chromium, at a desktop's width (1280 px)
and a phone's (375 px), against a real `conscious run` on the scripted brain with its API on a
free port.

The brain delegates to the stand-in `claude` (tests/fakes/bin), which the `[approval]` policy
holds: one delegation is approved and runs (a real task, with its cost, $0.0002 — the sum that
looked like a cliff when the spend line was scaled to its own maximum), a second one waits. So
every chart has the daemon's own data, and the approvals list has something the Live panel
could cover. The page must show time and value axes with labels, values on hover, spend from
$0 on an honest scale, no console error and no failed request, and the approvals uncovered.
Screenshots: tests/artifacts/page-{1280,375}.png and page-{1280,375}-charts.png.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from conscious.api.token import read_token
from tests.api.test_live_page import ARTIFACTS, CHROMIUM, PLAYWRIGHT, ROOT, Run, browser_tools, cli, runs  # noqa: F401
from tests.conftest import FAKES_BIN
from tests.daemon_harness import wait_for

WIDTHS = (1280, 375)


def clock(ts: str) -> str:
    """The page's clock(): local time, 24-hour."""
    return datetime.fromisoformat(ts).astimezone().strftime("%H:%M:%S")


def number(text: str) -> float:
    """A value as the page shows it: "$0.0002", "0.5 s", "1,234", "1.5k"."""
    plain = text.removeprefix("$").removesuffix(" s").replace(",", "")
    return float(plain[:-1]) * 1000 if plain.endswith("k") else float(plain)


def approx(shown: str, value: float) -> bool:
    """The page shows three significant digits."""
    return abs(number(shown) - value) <= 0.005 * abs(value) + 1e-12


@pytest.mark.timeout(240)
def test_the_charts_read_well_and_nothing_covers_the_approvals_at_both_widths(
    browser_tools: None,  # noqa: F811
    home: Path,
    watched: Path,
    runs: list[Run],  # noqa: F811
    request: pytest.FixtureRequest,
) -> None:
    log = home.parent / "fake-agents.jsonl"
    log.touch()
    (home / "config.toml").write_text(
        'api_port = 0\n[approval]\nagents = { claude-code = "ask" }\nnotify_send = false\n'
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("CONSCIOUS_")}
    env.update(
        {
            "PATH": f"{FAKES_BIN}{os.pathsep}{env['PATH']}",
            "CONSCIOUS_HOME": str(home),
            "CONSCIOUS_FAKE_LOG": str(log),
            "CONSCIOUS_SANDBOX__WRITABLE": json.dumps([str(log)]),
            "CONSCIOUS_PROBE_LMSTUDIO": "false",
            "CONSCIOUS_HEARTBEAT_INTERVAL": "0",
            "CONSCIOUS_IDLE_REFLECTION_INTERVAL": "0",
            "CONSCIOUS_REFLECTION_DEPTH": "0",
        }
    )
    daemon = Run(env, home, watched, "--quiet", "--llm-url", "scripted://delegate?agent=claude-code")
    runs.append(daemon)
    wait_for(daemon.ready, 60, "the scripted daemon to start")
    status = json.loads(cli(env, "status", "--json").stdout)
    api = httpx.Client(
        base_url=status["api_url"], headers={"Authorization": f"Bearer {read_token(home)}"}, trust_env=False
    )
    request.addfinalizer(api.close)

    def waiting() -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = api.get("/api/approvals").json()["items"]
        return items

    # One delegation approved and run (a task with a cost), a second one left waiting.
    cli(env, "tell", "please run the tests of calc")
    wait_for(lambda: bool(waiting()), 30, "the first delegation to wait for approval")
    cli(env, "approve", str(waiting()[0]["id"]))
    wait_for(
        lambda: any(t["cost_usd"] for t in api.get("/api/charts").json()["tasks"]), 60, "the approved task to finish"
    )
    cli(env, "tell", "please lint calc")
    wait_for(lambda: bool(waiting()), 30, "the second delegation to wait for approval")

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    shots = [ARTIFACTS / f"page-{width}.png" for width in WIDTHS]
    browser = subprocess.run(
        ["node", str(ROOT / "tests" / "api" / "charts_page.mjs"), cli(env, "page").stdout.strip(), *map(str, shots)],
        env={**env, "PLAYWRIGHT_CORE_DIR": str(PLAYWRIGHT), "CHROMIUM": str(CHROMIUM), "LIVE_PAGE_TIMEOUT_S": "120"},
        capture_output=True,
        text=True,
        timeout=180,
    )
    lines = browser.stdout.strip().splitlines()
    assert lines, f"the browser script printed nothing: {browser.stderr}"
    seen = json.loads(lines[-1])
    assert browser.returncode == 0 and seen["ok"], json.dumps(seen, indent=1)

    data = api.get("/api/charts").json()
    decisions, tasks = data["decisions"], data["tasks"]
    last = decisions[-1]
    spent = sum(t["cost_usd"] or 0 for t in tasks)
    assert 0 < spent < 0.01

    for width, view in zip(WIDTHS, seen["widths"], strict=True):
        where = f"at {width} px: {json.dumps(view, indent=1)}"
        assert view["width"] == width
        # Nothing wrong in the browser's console, no request failed (the favicon included).
        assert view["trouble"] == [], where
        charts = view["charts"]
        for chart in charts.values():
            # A time axis with labelled ticks, a value axis from 0, the chart as wide as its panel allows.
            assert len(chart["x_ticks"]) >= 2 and all(re.fullmatch(r"\d\d:\d\d|\w+ \d+", t) for t in chart["x_ticks"])
            assert len(chart["y_ticks"]) >= 2 and number(chart["y_ticks"][0]) == 0, where
            assert chart["panel_width"] - 40 <= chart["width"] <= chart["panel_width"], where

        # Hovered near either end, the legend shows a point of the data there: its time and its value
        # (decisions a fraction of a second apart share a pixel, so which of them is not asked).
        def decision(shown: dict[str, str], key: str, value: Any) -> bool:
            return any(shown["time"] == clock(d["ts"]) and value(shown[key], d) for d in decisions)

        latency = charts["chart-latency"]
        assert latency["points"] == len(decisions) and all(t.endswith(" s") for t in latency["y_ticks"])
        for end in ("oldest", "newest"):
            assert decision(latency[end], "latency", lambda v, d: approx(v, d["latency_ms"] / 1000)), where
        # Away from the chart, its legend tells the newest point.
        assert latency["idle"]["time"] == clock(last["ts"]), where
        assert approx(latency["idle"]["latency"], last["latency_ms"] / 1000), where

        tokens = charts["chart-tokens"]
        # The scripted brain reports the prompt's tokens but no cache: one line, and no value for the other.
        assert tokens["series"] == 1 and tokens["newest"]["from cache"] == "—"
        for end in ("oldest", "newest"):
            assert decision(tokens[end], "processed", lambda v, d: number(v) == d["prompt_tokens"]), where
        assert tokens["idle"]["time"] == clock(last["ts"]), where
        assert number(tokens["idle"]["processed"]) == last["prompt_tokens"], where

        spend = charts["chart-spend"]
        assert spend["points"] == len(tasks) == 1
        # Dollars from $0, the scale just above what was spent: $0.0002 is drawn as small as it is.
        assert all(t.startswith("$") for t in spend["y_ticks"]) and spend["y_ticks"][0] == "$0"
        assert spent <= max(map(number, spend["y_ticks"])) * 1.5 and max(map(number, spend["y_ticks"])) <= spent * 1.5
        # The legend follows the cursor: $0 where the window starts, the total at the delegation.
        assert spend["oldest"]["spent"] == "$0" and approx(spend["newest"]["spent"], spent), where
        assert spend["newest"]["time"] == clock(tasks[0]["ts"]) and spend["idle"] == spend["newest"], where

        layout = view["layout"]
        # The Live panel covers no part of the approvals, and a tap on Approve reaches the button.
        assert layout["overlap"] == 0 and layout["approve_on_top"], where
        assert layout["scroll_width"] <= layout["inner_width"], where  # nothing wider than the window
        assert layout["header_model"] == "scripted" and layout["tell_box"] and layout["worktrees_panel"]
        assert layout["stream_entries"] > 0
        if width < 800:  # one column: the approvals come first, the Live panel below them
            assert layout["live"]["y"] >= layout["approvals"]["y"] + layout["approvals"]["h"], where
        for shot in view["screenshots"]:
            assert Path(shot).stat().st_size > 10_000, shot

    assert daemon.stop() == 0, daemon.output()
    assert "Traceback" not in daemon.output()
