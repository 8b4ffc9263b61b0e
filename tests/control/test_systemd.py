"""The unit files as systemd reads them (``systemd-analyze verify``), installing and removing
them, and the ``conscious service`` commands."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Sequence
from pathlib import Path

import pytest
from typer.testing import CliRunner

from conscious.cli.service import app
from conscious.control import systemd as service
from conscious.control.systemd import LMSTUDIO_UNIT, UNIT, install, quote, uninstall, unit_dir, units
from conscious.errors import ConsciousError

SYSTEMD_ANALYZE = shutil.which("systemd-analyze")
needs_systemd_analyze = pytest.mark.skipif(
    SYSTEMD_ANALYZE is None, reason="systemd-analyze is not installed (Debian: the `systemd` package)"
)


def parse(text: str) -> dict[str, list[tuple[str, str]]]:
    """Section -> (key, value) in order; keys may repeat, as systemd allows."""
    sections: dict[str, list[tuple[str, str]]] = {}
    current: list[tuple[str, str]] = []
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        if line.startswith("["):
            current = sections.setdefault(line.strip("[]"), [])
        else:
            key, _, value = line.partition("=")
            current.append((key, value))
    return sections


def values(text: str, section: str, key: str) -> list[str]:
    return [v for k, v in parse(text)[section] if k == key]


def verify_problems(files: Sequence[Path], *, user: bool, tmp_path: Path) -> list[str]:
    """What ``systemd-analyze verify`` says about our files. Its exit code alone is not enough:
    an unknown key or a bad value is only a warning on stderr, with exit 0."""
    assert SYSTEMD_ANALYZE is not None
    env = dict(os.environ)
    command = [SYSTEMD_ANALYZE]
    if user:
        # The user manager needs a runtime directory even for an offline verify; as root in a
        # container there is no login session and so no XDG_RUNTIME_DIR ("Failed to lookup
        # RuntimeDirectory path"). Any existing private directory will do.
        runtime = tmp_path / "runtime"
        runtime.mkdir(mode=0o700, exist_ok=True)
        env["XDG_RUNTIME_DIR"] = str(runtime)
        command.append("--user")
    done = subprocess.run(
        [*command, "verify", *map(str, files)], capture_output=True, text=True, env=env, timeout=120, check=False
    )
    # Other units' complaints (the host's own) are not ours to judge; lines naming our files are.
    ours = [line for line in done.stderr.splitlines() if any(f.name in line for f in files)]
    if done.returncode != 0:
        ours.append(f"exit code {done.returncode}: {done.stderr.strip()}")
    return ours


@pytest.fixture
def lms(tmp_path: Path) -> Path:
    """Stands in for LM Studio's CLI: verify only needs an executable there."""
    path = tmp_path / "lmstudio bin" / "lms"
    path.parent.mkdir()
    path.write_text("#!/bin/sh\nexit 0\n")
    path.chmod(0o755)
    return path


@pytest.fixture
def exe() -> Path:
    """The real ``conscious`` of this venv, found as the CLI finds it."""
    path = service.default_executable()
    assert path.name == "conscious"
    assert os.access(path, os.X_OK)
    return path


# -- the texts


def test_user_unit(tmp_path: Path, exe: Path) -> None:
    texts = units(
        exe,
        watch=[tmp_path / "a", tmp_path / "b"],
        llm_url="http://localhost:1234/v1",
        home=tmp_path / "home",
        environment={"CONSCIOUS_HOME": "/x"},
        run_as="alice",  # ignored: a user unit runs as its user
    )
    assert list(texts) == [UNIT]
    text = texts[UNIT]
    assert values(text, "Unit", "After") == ["network.target"]
    assert values(text, "Unit", "Wants") == []
    assert values(text, "Service", "ExecStart") == [
        f"{exe} run --quiet --watch {tmp_path}/a --watch {tmp_path}/b "
        f"--llm-url http://localhost:1234/v1 --home {tmp_path}/home"
    ]
    service_keys = dict(parse(text)["Service"])
    assert {k: service_keys[k] for k in ("Type", "NotifyAccess", "Restart", "RestartSec", "WatchdogSec")} == {
        "Type": "notify",
        "NotifyAccess": "main",
        "Restart": "always",
        "RestartSec": "5",
        "WatchdogSec": "60",
    }
    assert service_keys["KillSignal"] == "SIGINT"
    assert service_keys["TimeoutStopSec"] == "30"
    assert service_keys["WorkingDirectory"] == str(tmp_path / "a")
    assert values(text, "Service", "Environment") == ["PYTHONUNBUFFERED=1", "CONSCIOUS_HOME=/x"]
    assert "User" not in service_keys
    assert values(text, "Install", "WantedBy") == ["default.target"]


def test_system_units_with_lmstudio(tmp_path: Path, exe: Path, lms: Path) -> None:
    texts = units(exe, user=False, lmstudio=True, lms=lms, watchdog=0, run_as="alice")
    assert list(texts) == [UNIT, LMSTUDIO_UNIT]
    main, lmstudio = texts[UNIT], texts[LMSTUDIO_UNIT]
    assert values(main, "Unit", "After") == ["network.target", LMSTUDIO_UNIT]
    assert values(main, "Unit", "Wants") == [LMSTUDIO_UNIT]
    assert values(main, "Service", "ExecStart") == [f"{exe} run --quiet"]
    assert values(main, "Service", "WorkingDirectory") == []
    assert values(main, "Service", "WatchdogSec") == ["0"]
    assert values(main, "Service", "User") == ["alice"]
    assert values(main, "Install", "WantedBy") == ["multi-user.target"]

    quoted = f'"{lms}"'  # the folder has a blank in it
    assert values(lmstudio, "Service", "Type") == ["oneshot"]
    assert values(lmstudio, "Service", "RemainAfterExit") == ["yes"]
    assert values(lmstudio, "Service", "ExecStart") == [f"{quoted} server start"]
    assert values(lmstudio, "Service", "ExecStop") == [f"-{quoted} server stop", f"-{quoted} daemon down"]
    assert values(lmstudio, "Service", "User") == ["alice"]
    assert values(lmstudio, "Install", "WantedBy") == ["multi-user.target"]


@pytest.mark.parametrize(
    ("arg", "word"),
    [
        ("plain/path-1.0", "plain/path-1.0"),
        ("with blank", '"with blank"'),
        ("100%", "100%%"),  # a specifier otherwise
        ("$HOME", "$$HOME"),  # a variable otherwise
        ('say "hi"', '"say \\"hi\\""'),
        ("back\\slash", '"back\\\\slash"'),
        ("two\nlines", '"two\\nlines"'),
        (";", '";"'),
        ("it's", '"it\'s"'),
        ("", '""'),
    ],
)
def test_quote_exec_words(arg: str, word: str) -> None:
    assert quote(arg) == word


def test_environment_keeps_dollars() -> None:
    # Environment= does no $-expansion, so doubling would change the value.
    assert quote("PS1=$ ", dollars=False) == '"PS1=$ "'


@pytest.mark.parametrize(
    "kwargs",
    [
        {"watch": [Path("relative")]},
        {"home": Path("relative")},
        {"lmstudio": True},  # and no lms
        {"environment": {"NOT A NAME": "x"}},
        {"run_as": "bad user", "user": False},
        {"watchdog": -1},
    ],
)
def test_bad_input_is_one_clear_error(kwargs: dict[str, object], exe: Path) -> None:
    with pytest.raises(ConsciousError) as caught:
        units(exe, **kwargs)  # type: ignore[arg-type]
    assert "\n" not in str(caught.value)


# -- what systemd makes of them


@needs_systemd_analyze
def test_systemd_accepts_the_system_units(tmp_path: Path, exe: Path, lms: Path) -> None:
    # Blanks and % in paths exercise the quoting: verify checks that ExecStart's binary is
    # there, so a wrongly split or unescaped path fails it.
    linked = tmp_path / "odd 100%h bin" / "conscious"  # %h: the home folder, unless escaped
    linked.parent.mkdir()
    linked.symlink_to(exe)
    watched = tmp_path / "my project"
    watched.mkdir()
    texts = units(
        linked,
        watch=[watched],
        llm_url="http://localhost:1234/v1?x=$y",
        user=False,
        lmstudio=True,
        lms=lms,
        environment={"PATH": "/usr/bin:/bin", "CONSCIOUS_NOTE": 'a "quoted" 50% $value'},
        run_as="root",
    )
    written = install(texts, user=False, directory=tmp_path / "units", systemctl=False)
    assert verify_problems(written, user=False, tmp_path=tmp_path) == []


@needs_systemd_analyze
def test_systemd_accepts_the_user_units(tmp_path: Path, exe: Path, lms: Path) -> None:
    texts = units(exe, watch=[tmp_path], lmstudio=True, lms=lms, environment={"CONSCIOUS_HOME": str(tmp_path)})
    written = install(texts, user=True, directory=tmp_path / "units", systemctl=False)
    assert verify_problems(written, user=True, tmp_path=tmp_path) == []


@needs_systemd_analyze
@pytest.mark.parametrize("user", [False, True])
def test_verify_would_catch_a_broken_unit(tmp_path: Path, exe: Path, user: bool) -> None:
    # The check above is only worth something if this systemd reports these at all.
    text = units(exe)[UNIT].replace("Type=notify", "Type=notifyy").replace("Restart=always", "Restart=always\nBogus=1")
    path = tmp_path / UNIT
    path.write_text(text)
    problems = verify_problems([path], user=user, tmp_path=tmp_path)
    assert any("notifyy" in p for p in problems)
    assert any("Bogus" in p for p in problems)


@needs_systemd_analyze
def test_verify_would_catch_a_missing_binary(tmp_path: Path) -> None:
    path = tmp_path / UNIT
    path.write_text(units(tmp_path / "no such" / "conscious")[UNIT])
    assert verify_problems([path], user=False, tmp_path=tmp_path) != []


# -- install / uninstall


def test_install_and_uninstall(tmp_path: Path, exe: Path, lms: Path) -> None:
    where = tmp_path / "new" / "units"
    written = install(units(exe, lmstudio=True, lms=lms), user=True, directory=where, systemctl=False)
    assert sorted(written) == [where / LMSTUDIO_UNIT, where / UNIT]
    assert all(p.stat().st_mode & 0o777 == 0o644 for p in written)

    # Installing again (without LM Studio) replaces ours and leaves the rest alone.
    (where / "other.service").write_text("[Service]\nExecStart=/bin/true\n")
    again = install(units(exe, watchdog=120), user=True, directory=where, systemctl=False)
    assert again == [where / UNIT]
    assert "WatchdogSec=120" in (where / UNIT).read_text()

    # What `systemctl enable` makes, should systemctl not be there to undo it.
    wants = where / "default.target.wants"
    wants.mkdir()
    (wants / UNIT).symlink_to(where / UNIT)
    (wants / "other.service").symlink_to(where / "other.service")

    removed = uninstall(user=True, directory=where, systemctl=False)
    assert sorted(removed) == sorted([where / UNIT, where / LMSTUDIO_UNIT, wants / UNIT])
    assert sorted(p.name for p in where.rglob("*")) == ["default.target.wants", "other.service", "other.service"]
    assert uninstall(user=True, directory=where, systemctl=False) == []


def test_install_refuses_what_is_not_ours(tmp_path: Path) -> None:
    with pytest.raises(ConsciousError, match="not a conscious unit"):
        install({"sshd.service": "[Service]\n"}, user=True, directory=tmp_path, systemctl=False)
    assert list(tmp_path.iterdir()) == []


def test_install_into_a_file_is_one_clear_error(tmp_path: Path, exe: Path) -> None:
    not_a_dir = tmp_path / "file"
    not_a_dir.write_text("")
    with pytest.raises(ConsciousError, match="cannot create"):
        install(units(exe), user=False, directory=not_a_dir, systemctl=False)


@pytest.mark.skipif(os.geteuid() == 0, reason="root may write anywhere")
def test_install_without_permission_is_one_clear_error(tmp_path: Path, exe: Path) -> None:
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o555)
    with pytest.raises(ConsciousError, match="cannot write to"):
        install(units(exe), user=False, directory=locked, systemctl=False)


def test_unit_dir(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    assert unit_dir(False) == Path("/etc/systemd/system")
    assert unit_dir(True, {"XDG_CONFIG_HOME": "/cfg"}) == Path("/cfg/systemd/user")
    assert unit_dir(True, {"XDG_CONFIG_HOME": "relative"}) == tmp_path / ".config/systemd/user"
    assert unit_dir(True, {}) == tmp_path / ".config/systemd/user"


# -- systemctl, where there is one


@pytest.fixture
def fake_systemctl(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A `systemctl` that logs its arguments and fails when FAKE_SYSTEMCTL_FAIL is set, on a
    host that looks booted with systemd."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    log = tmp_path / "systemctl.log"
    script = bin_dir / "systemctl"
    script.write_text(
        "#!/bin/sh\n"
        f'echo "$*" >> "{log}"\n'
        'if [ -n "$FAKE_SYSTEMCTL_FAIL" ]; then echo "warming up" >&2; echo "$FAKE_SYSTEMCTL_FAIL" >&2; exit 1; fi\n'
    )
    script.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}:{os.environ['PATH']}")
    monkeypatch.setattr(service, "BOOTED", tmp_path)
    return log


def test_systemctl_is_asked_to_reload_and_disable(tmp_path: Path, exe: Path, fake_systemctl: Path) -> None:
    problems: list[str] = []
    where = tmp_path / "units"
    install(units(exe), user=True, directory=where, report=problems.append)
    uninstall(user=True, directory=where, report=problems.append)
    assert problems == []
    assert fake_systemctl.read_text().splitlines() == [
        "--user daemon-reload",
        f"--user disable --now {UNIT}",
        "--user daemon-reload",
    ]


def test_a_failing_systemctl_is_one_line(
    tmp_path: Path, exe: Path, fake_systemctl: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FAKE_SYSTEMCTL_FAIL", "Failed to connect to bus: No medium found")
    problems: list[str] = []
    written = install(units(exe), user=False, directory=tmp_path / "units", report=problems.append)
    assert all(p.exists() for p in written)
    assert problems == ["`systemctl daemon-reload` failed: Failed to connect to bus: No medium found"]


def test_no_systemd_running_is_one_line(
    tmp_path: Path, exe: Path, fake_systemctl: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(service, "BOOTED", tmp_path / "absent")
    problems: list[str] = []
    written = install(units(exe), user=True, directory=tmp_path / "units", report=problems.append)
    assert all(p.exists() for p in written)
    assert len(problems) == 1
    assert "systemd is not running here" in problems[0]
    problems.clear()
    assert uninstall(user=True, directory=tmp_path / "units", report=problems.append) == written
    assert problems == [f"systemd is not running here (not PID 1): skipped `systemctl --user disable --now {UNIT}`"]
    assert not fake_systemctl.exists()  # not even tried


def test_no_systemctl_is_one_line(tmp_path: Path, exe: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    problems: list[str] = []
    install(units(exe), user=True, directory=tmp_path / "units", report=problems.append)
    assert problems == ["no systemctl here: skipped `systemctl --user daemon-reload`"]


# -- the commands


def test_cli_print_writes_nothing(tmp_path: Path, lms: Path) -> None:
    where = tmp_path / "units"
    result = CliRunner().invoke(
        app, ["install", "--dir", str(where), "--watch", str(tmp_path), "--lmstudio", "--lms", str(lms), "--print"]
    )
    assert result.exit_code == 0, result.output
    assert f"# {where / UNIT}\n" in result.stdout
    assert f"# {where / LMSTUDIO_UNIT}\n" in result.stdout
    assert "Type=notify" in result.stdout
    assert f"--watch {tmp_path}" in result.stdout
    assert not where.exists()


def test_cli_install_and_uninstall(tmp_path: Path, home: Path) -> None:
    where = tmp_path / "units"
    watched = tmp_path / "project"
    watched.mkdir()
    result = CliRunner().invoke(app, ["install", "--dir", str(where), "--watch", str(watched), "--watchdog", "90"])
    assert result.exit_code == 0, result.output
    assert f"wrote {where / UNIT}" in result.stdout
    assert "note:" not in result.output  # --dir leaves systemctl alone
    text = (where / UNIT).read_text()
    assert "WatchdogSec=90" in text
    assert values(text, "Service", "WorkingDirectory") == [str(watched)]
    env = values(text, "Service", "Environment")
    assert f"CONSCIOUS_HOME={home}" in env  # the fixture's, passed through
    assert any(line.startswith(("PATH=", '"PATH=')) for line in env)
    if SYSTEMD_ANALYZE:
        assert verify_problems([where / UNIT], user=True, tmp_path=tmp_path) == []

    result = CliRunner().invoke(app, ["uninstall", "--dir", str(where)])
    assert result.exit_code == 0, result.output
    assert f"removed {where / UNIT}" in result.stdout
    assert list(where.iterdir()) == []


def test_cli_defaults_to_watching_the_current_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(app, ["install", "--dir", str(tmp_path / "units"), "--print"])
    assert result.exit_code == 0, result.output
    assert f"run --quiet --watch {tmp_path}" in result.stdout
    assert f"WorkingDirectory={tmp_path}" in result.stdout


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["install", "--watch", "/no/such/folder", "--print"], "no such folder to watch"),
        (["install", "--lmstudio", "--lms", "/no/such/lms", "--print"], "no executable `lms` at /no/such/lms"),
    ],
)
def test_cli_bad_input_is_one_red_line(
    args: list[str], needle: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 1
    assert result.stdout == ""
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert needle in lines[0]


def test_cli_without_dir_uses_the_user_unit_dir_and_systemctl(
    tmp_path: Path, fake_systemctl: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    monkeypatch.chdir(tmp_path)
    where = tmp_path / "config" / "systemd" / "user"
    result = CliRunner().invoke(app, ["install"])
    assert result.exit_code == 0, result.output
    assert (where / UNIT).exists()
    assert f"systemctl --user enable --now {UNIT}" in result.stdout
    result = CliRunner().invoke(app, ["uninstall"])
    assert result.exit_code == 0, result.output
    assert not (where / UNIT).exists()
    assert fake_systemctl.read_text().splitlines() == [
        "--user daemon-reload",
        f"--user disable --now {UNIT}",
        "--user daemon-reload",
    ]
