"""`conscious doctor`, `init` and `--version` as a user runs them: real subprocesses, the
stand-in `claude` on PATH (its `auth status` as the real CLI prints it), a real git repository."""

from __future__ import annotations

import os
from pathlib import Path

import conscious as package
from conscious.config import Config
from conscious.paths import Paths
from conscious.think.backends.embedded import free_port
from tests.cli.test_cli import conscious
from tests.conftest import FAKES_BIN


def env(**more: str) -> dict[str, str]:
    return {"PATH": f"{FAKES_BIN}{os.pathsep}{os.environ['PATH']}", "CONSCIOUS_LLM_URL": "scripted://observe", **more}


def test_a_ready_machine_passes_with_one_line_per_check(home: Path, repo: Path) -> None:
    done = conscious("doctor", home=home, env=env(CONSCIOUS_WATCH=f'["{repo}"]'))
    assert done.returncode == 0, done.stdout + done.stderr
    lines = done.stdout.splitlines()
    assert any(line.startswith("✓ claude: 2.1.197 (Claude Code), logged in") for line in lines), lines
    assert any(line.startswith("✓ git:") and "clones of" in line for line in lines)
    assert any(line.startswith("✓ model server: scripted://observe") for line in lines)
    assert "Traceback" not in done.stdout + done.stderr


def test_units_it_cannot_read_are_a_warning_with_the_reason(home: Path, repo: Path) -> None:
    """The real systemctl, where no systemd runs (these machines): said, not fatal."""
    done = conscious(
        "doctor", home=home, env=env(CONSCIOUS_WATCH=f'["{repo}"]', CONSCIOUS_UNITS='["user:api.service"]')
    )
    assert done.returncode == 0, done.stdout + done.stderr
    (line,) = [line for line in done.stdout.splitlines() if "systemd units" in line]
    assert line.startswith("! systemd units: user:api.service: ") and "fix `units`" in line, line


def test_a_logged_out_claude_or_a_dead_model_server_fails_and_says_the_fix(home: Path, watched: Path) -> None:
    logged_out = conscious("doctor", home=home, env=env(CONSCIOUS_FAKE_LOGGED_IN="0"))
    assert logged_out.returncode == 1
    assert "✗ claude: 2.1.197 (Claude Code), not logged in — run `claude` once and log in" in logged_out.stdout
    dead = f"http://127.0.0.1:{free_port()}/v1"
    down = conscious("doctor", home=home, env=env(CONSCIOUS_LLM_URL=dead))
    assert down.returncode == 1 and f"✗ model server: nothing answers at {dead}" in down.stdout


def test_init_writes_a_commented_config_that_loads_and_keeps_an_existing_one(home: Path) -> None:
    done = conscious("init", home=home)
    assert done.returncode == 0
    path = Paths.resolve(home).config_file
    assert path.is_file() and all(not line.strip() or line.startswith("#") for line in path.read_text().splitlines())
    assert Config.load(Paths.resolve(home), probe_lmstudio=False).workspace == "auto"
    again = conscious("init", home=home)
    assert again.returncode == 1 and "exists already" in again.stderr
    assert conscious("init", "--force", home=home).returncode == 0


def test_the_version_is_said_once_and_comes_from_one_place(home: Path) -> None:
    done = conscious("--version", home=home)
    assert done.returncode == 0 and done.stdout.strip() == f"conscious {package.__version__}"
    from importlib.metadata import version

    assert version("conscious-orchestrator") == package.__version__


def test_a_tree_past_the_os_watch_limit_is_said_with_the_fix(paths: Paths, watched: Path, tmp_path: Path) -> None:
    from conscious.cli.doctor import file_watches

    for i in range(12):
        (watched / f"pkg{i}" / "sub").mkdir(parents=True)
    config = Config.load(paths, watch=[watched], probe_lmstudio=False)
    low, high = tmp_path / "low", tmp_path / "high"
    low.write_text("20\n")
    high.write_text("524288\n")
    tight = file_watches(config, low)
    assert not tight.ok and not tight.needed
    assert (
        "more than 20 folders to watch, the limit is 20" in tight.detail and "fs.inotify.max_user_watches=" in tight.fix
    )
    roomy = file_watches(config, high)
    assert roomy.ok and "25 folders" in roomy.detail
