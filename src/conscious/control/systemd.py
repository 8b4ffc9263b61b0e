"""systemd units that keep ``conscious run`` going in the background, and installing them.

``conscious.service`` is ``Type=notify`` with a watchdog (see ``sdnotify``): systemd knows
when the daemon is really up, restarts it when it dies or hangs, and stops it the way Ctrl-C
does (SIGINT: delegations get their grace period). ``conscious-lmstudio.service``, when
asked for, brings LM Studio's headless server up first.

``units`` is pure text; ``install`` / ``uninstall`` write and remove the files and ask
systemctl to reload — where there is no running systemd (a container) the files are still
written and the reason is one line, not an error.
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

from conscious.errors import ConsciousError

log = logging.getLogger("conscious")

UNIT = "conscious.service"
LMSTUDIO_UNIT = "conscious-lmstudio.service"
OWNED = (UNIT, LMSTUDIO_UNIT)
"""The only file names install writes and uninstall removes."""

SYSTEM_DIR = Path("/etc/systemd/system")
HEADER = "# Written by `conscious service install`; `conscious service uninstall` removes it."

BOOTED = Path("/run/systemd/system")
"""Exists only when systemd is the init system (sd_booted(3))."""

START_TIMEOUT = 300
"""Seconds to READY=1: loading a model (``lms load``, the embedded server) can take minutes."""

_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_USER_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]*\$?")


def quote(arg: str, *, dollars: bool = True) -> str:
    """One word of an ``Exec*=`` (or ``Environment=``) line, per systemd.service(5): ``%``
    starts a specifier and ``$`` a variable (``Exec*=`` only) wherever they appear, blanks
    split words, and quotes and backslashes are syntax; a quoted word takes C escapes."""
    text = arg.replace("%", "%%")
    if dollars:
        text = text.replace("$", "$$")
    if text and not re.search(r"[\s\"'\\;]", text):
        return text
    escaped = text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n").replace("\t", "\\t")
    return f'"{escaped}"'


def _command(argv: Sequence[str]) -> str:
    return " ".join(quote(a) for a in argv)


def _absolute(path: Path, what: str) -> Path:
    if not path.is_absolute():
        raise ConsciousError(f"{what} must be an absolute path, not {path}")
    if "\n" in str(path):
        raise ConsciousError(f"{what} cannot contain a newline: {path!r}")
    return path


def default_executable() -> Path:
    """The ``conscious`` that is running now, so the service runs the same install."""
    argv0 = Path(sys.argv[0])
    if argv0.name == "conscious" and argv0.exists():
        return argv0.resolve()
    beside = Path(sys.executable).parent / "conscious"  # the venv's bin; not resolved: that is the system python
    if beside.exists():
        return beside.absolute()
    found = shutil.which("conscious")
    if found:
        return Path(found).resolve()
    raise ConsciousError("cannot find the `conscious` executable; pass its path")


def _documentation() -> str | None:
    # No published home page yet; an editable install has the README beside src/.
    readme = Path(__file__).resolve().parents[2] / "README.md"
    return readme.as_uri() if readme.is_file() else None


def units(
    executable: Path | None = None,
    *,
    watch: Sequence[Path] = (),
    llm_url: str | None = None,
    home: Path | None = None,
    extra_args: Sequence[str] = (),
    user: bool = True,
    lmstudio: bool = False,
    lms: Path | None = None,
    watchdog: int = 60,
    stop_timeout: int = 30,
    environment: Mapping[str, str] | None = None,
    run_as: str | None = None,
) -> dict[str, str]:
    """Unit file name -> text. ``watchdog`` 0 turns the watchdog off; ``run_as`` is the
    ``User=`` of a system unit (a user unit always runs as its user)."""
    exe = _absolute(executable or default_executable(), "the conscious executable")
    if watchdog < 0 or stop_timeout <= 0:
        raise ConsciousError("--watchdog must be ≥ 0 seconds and the stop timeout > 0")
    args = [str(exe), "run", "--quiet"]
    for folder in watch:
        args += ["--watch", str(_absolute(folder, "a watched folder"))]
    if llm_url:
        args += ["--llm-url", llm_url]
    if home:
        args += ["--home", str(_absolute(home, "--home"))]
    args += extra_args
    env = {"PYTHONUNBUFFERED": "1", **(environment or {})}
    for name in env:
        if not _ENV_NAME.fullmatch(name):
            raise ConsciousError(f"not an environment variable name: {name!r}")
    if run_as is not None and not _USER_NAME.fullmatch(run_as):
        raise ConsciousError(f"not a user name: {run_as!r}")
    target = "default.target" if user else "multi-user.target"

    unit = [HEADER, "[Unit]", "Description=conscious: a local LLM orchestrating coding agents"]
    if doc := _documentation():
        unit.append(f"Documentation={doc.replace('%', '%%')}")
    unit.append("After=network.target")
    if lmstudio:
        unit += [f"After={LMSTUDIO_UNIT}", f"Wants={LMSTUDIO_UNIT}"]
    unit += [
        "",
        "[Service]",
        "Type=notify",
        # Only the daemon itself may speak for the service, not the agents it launches.
        "NotifyAccess=main",
        f"ExecStart={_command(args)}",
    ]
    if watch:
        unit.append(f"WorkingDirectory={str(watch[0]).replace('%', '%%')}")
    unit += [f"Environment={quote(f'{k}={v}', dollars=False)}" for k, v in env.items()]
    if run_as and not user:
        unit.append(f"User={run_as}")
    unit += [
        "Restart=always",
        "RestartSec=5",
        f"WatchdogSec={watchdog}",
        f"TimeoutStartSec={START_TIMEOUT}",
        # SIGINT is the daemon's graceful path (Ctrl-C): delegations get kill_grace, then
        # their process groups are killed; after TimeoutStopSec systemd sends SIGKILL.
        "KillSignal=SIGINT",
        f"TimeoutStopSec={stop_timeout}",
        "",
        "[Install]",
        f"WantedBy={target}",
    ]
    result = {UNIT: "\n".join(unit) + "\n"}
    if lmstudio:
        result[LMSTUDIO_UNIT] = _lmstudio_unit(lms, target, run_as if not user else None)
    return result


def _lmstudio_unit(lms: Path | None, target: str, run_as: str | None) -> str:
    # `lms server start` does not serve in the foreground: it writes a request into LM Studio's
    # control file, waits for the app/llmster daemon to take it, checks the HTTP port and
    # exits (lmstudio-ai/lms, src/subcommands/server.ts). The server lives in the daemon that
    # `lms daemon up` forks, so this is oneshot + RemainAfterExit — LM Studio's own unit in
    # https://lmstudio.ai/docs/developer/core/headless_llmster does the same. RemainAfterExit
    # also keeps that daemon in this unit's cgroup, so stopping the unit stops it.
    if lms is None:
        raise ConsciousError("cannot find LM Studio's `lms` (pass --lms, or run `~/.lmstudio/bin/lms bootstrap`)")
    exe = quote(str(_absolute(lms, "lms")))
    lines = [
        HEADER,
        "[Unit]",
        "Description=LM Studio's headless server, for conscious",
        "Documentation=https://lmstudio.ai/docs/developer/core/headless_llmster",
        "After=network.target",
        "",
        "[Service]",
        "Type=oneshot",
        "RemainAfterExit=yes",
        # "-": `lms daemon` is LM Studio ≥ 0.4 without the GUI; `server start` wakes the app itself.
        f"ExecStartPre=-{exe} daemon up",
        f"ExecStart={exe} server start",
        f"ExecStop=-{exe} server stop",
        f"ExecStop=-{exe} daemon down",
        # oneshot waits forever by default; `server start` gives up after ~20 s itself.
        "TimeoutStartSec=120",
    ]
    if run_as:
        lines.append(f"User={run_as}")
    lines += ["", "[Install]", f"WantedBy={target}"]
    return "\n".join(lines) + "\n"


def unit_dir(user: bool, environ: Mapping[str, str] = os.environ) -> Path:
    if not user:
        return SYSTEM_DIR
    config = environ.get("XDG_CONFIG_HOME", "")
    # The XDG spec says to ignore a relative XDG_CONFIG_HOME.
    base = Path(config) if config.startswith("/") else Path.home() / ".config"
    return base / "systemd" / "user"


def install(
    texts: Mapping[str, str],
    user: bool,
    directory: Path | None = None,
    systemctl: bool = True,
    report: Callable[[str], object] = log.warning,
) -> list[Path]:
    """Write the units (replacing ours) and have systemd re-read them; the written paths.
    Why systemctl could not is one line to ``report``: the files are in place regardless."""
    where = directory or unit_dir(user)
    unknown = set(texts) - set(OWNED)
    if unknown:
        raise ConsciousError(f"not a conscious unit: {', '.join(sorted(unknown))}")
    if user or directory:
        try:
            where.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise ConsciousError(f"cannot create {where}: {exc.strerror}") from None
    if not where.is_dir():
        raise ConsciousError(f"{where} is not a directory (is this a systemd system?)")
    if not os.access(where, os.W_OK):
        hint = "run it with sudo, or install for your user with --user" if not user else "choose another --dir"
        raise ConsciousError(f"cannot write to {where}: {hint}")
    written = []
    for name, text in texts.items():
        path = where / name
        try:
            path.write_text(text)
            path.chmod(0o644)
        except OSError as exc:
            raise ConsciousError(f"cannot write {path}: {exc.strerror}") from None
        written.append(path)
    if systemctl and (problem := run_systemctl(user, "daemon-reload")):
        report(problem)
    return written


def uninstall(
    user: bool,
    directory: Path | None = None,
    systemctl: bool = True,
    report: Callable[[str], object] = log.warning,
) -> list[Path]:
    """Stop and disable our units where systemd runs, then remove our files (and the
    ``*.wants`` links ``enable`` made, in case systemctl could not); the removed paths."""
    where = directory or unit_dir(user)
    present = [name for name in OWNED if (where / name).exists()]
    if systemctl and present and (problem := run_systemctl(user, "disable", "--now", *present)):
        report(problem)
        systemctl = systemd_absent() is None  # one line is enough when there is no systemd
    removed = []
    links = [link for name in OWNED for link in where.glob(f"*.wants/{name}") if link.is_symlink()]
    for path in [where / name for name in present] + links:
        try:
            path.unlink()
        except OSError as exc:
            raise ConsciousError(f"cannot remove {path}: {exc.strerror}") from None
        removed.append(path)
    if systemctl and removed and (problem := run_systemctl(user, "daemon-reload")):
        report(problem)
    return removed


def run_systemctl(user: bool, *args: str) -> str | None:
    """Run ``systemctl [--user] ARGS``; None when it worked, else why not, in one line."""
    command = ["systemctl", *(["--user"] if user else []), *args]
    shown = " ".join(command)
    if absent := systemd_absent():
        return f"{absent}: skipped `{shown}`"
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=60, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"`{shown}` failed: {exc}"
    if done.returncode == 0:
        return None
    lines = [line.strip() for line in (done.stderr or done.stdout).splitlines() if line.strip()]
    return f"`{shown}` failed: {lines[-1] if lines else f'exit code {done.returncode}'}"


def systemd_absent() -> str | None:
    """Why systemctl cannot work here at all (a container, a non-systemd system), or None."""
    if not shutil.which("systemctl"):
        return "no systemctl here"
    if not BOOTED.is_dir():
        return "systemd is not running here (not PID 1)"
    return None
