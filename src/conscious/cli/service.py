"""``conscious service``: install / uninstall the systemd units of ``service``."""

from __future__ import annotations

import getpass
import os
import shutil
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape

from conscious.cli import common
from conscious.cli.common import err, friendly
from conscious.control import systemd as service
from conscious.errors import ConsciousError

app = typer.Typer(
    help="systemd units for running conscious in the background.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
common.app.add_typer(app, name="service")
# soft_wrap: paths and commands stay whole, for copying.
out = Console(highlight=False, soft_wrap=True)

UserOpt = Annotated[
    bool, typer.Option("--user/--system", help="Your user's systemd (default), or the system's (needs root).")
]
DirOpt = Annotated[
    Path | None,
    typer.Option("--dir", help="Use this folder instead of systemd's, and leave systemctl alone (packaging, tests)."),
]


def _note(problem: str) -> None:
    err.print(f"[yellow]note:[/] {escape(problem)}")


def _find_lms() -> Path | None:
    found = shutil.which("lms")
    if found:
        return Path(found).absolute()
    bundled = Path.home() / ".lmstudio" / "bin" / "lms"
    return bundled if bundled.exists() else None


def _passed_environment(home_given: bool) -> dict[str, str]:
    """What the service inherits from this shell. A service starts with systemd's bare PATH,
    where the agents (`claude`, `npx`, `lms`) installed under ~ are not found; CONSCIOUS_*
    are the settings the user runs conscious with."""
    env = {k: v for k, v in os.environ.items() if k.startswith("CONSCIOUS_")}
    if home_given:
        env.pop("CONSCIOUS_HOME", None)
    if path := os.environ.get("PATH"):
        env["PATH"] = path
    return env


@app.command()
@friendly
def install(
    user: UserOpt = True,
    lmstudio: Annotated[
        bool,
        typer.Option("--lmstudio", help=f"Also start LM Studio's headless server first ({service.LMSTUDIO_UNIT})."),
    ] = False,
    lms: Annotated[
        Path | None, typer.Option("--lms", help="LM Studio's `lms` (default: on PATH, else ~/.lmstudio/bin/lms).")
    ] = None,
    watch: Annotated[
        list[Path] | None,
        typer.Option("--watch", "-w", help="Folder to watch (repeatable; default: the current folder)."),
    ] = None,
    llm_url: Annotated[str | None, typer.Option("--llm-url", help="OpenAI-compatible base URL for the daemon.")] = None,
    home: Annotated[
        Path | None, typer.Option("--home", help="The daemon's home (default: CONSCIOUS_HOME, else XDG).")
    ] = None,
    watchdog: Annotated[
        int, typer.Option("--watchdog", min=0, help="Restart the daemon when silent this long (seconds; 0: off).")
    ] = 60,
    directory: DirOpt = None,
    show: Annotated[bool, typer.Option("--print", help="Show the units; write nothing.")] = False,
) -> None:
    """Write the units; then `systemctl [--user] enable --now conscious.service` starts it."""
    # A service's working directory is / or ~, so "the current folder" is made explicit now.
    folders = [p.expanduser().resolve() for p in watch] if watch else [Path.cwd()]
    for folder in folders:
        if not folder.is_dir():
            raise ConsciousError(f"no such folder to watch: {folder}")
    lms_path = None
    if lmstudio:
        lms_path = lms.expanduser().absolute() if lms else _find_lms()
        if lms_path and not (lms_path.is_file() and os.access(lms_path, os.X_OK)):
            raise ConsciousError(f"no executable `lms` at {lms_path}")
    texts = service.units(
        watch=folders,
        llm_url=llm_url,
        home=home.expanduser().resolve() if home else None,
        user=user,
        lmstudio=lmstudio,
        lms=lms_path,
        watchdog=watchdog,
        environment=_passed_environment(home is not None),
        run_as=None if user else os.environ.get("SUDO_USER") or getpass.getuser(),
    )
    where = directory or service.unit_dir(user)
    if show:
        for name, text in texts.items():
            typer.echo(f"# {where / name}\n{text}")
        return
    for path in service.install(texts, user, directory, systemctl=False):
        out.print(f"wrote {escape(str(path))}")
    if directory:
        return
    if problem := service.run_systemctl(user, "daemon-reload"):
        _note(problem)
    scope = "--user " if user else ""
    out.print(f"start it now and at every boot: systemctl {scope}enable --now {service.UNIT}")
    out.print(f"follow it: journalctl {scope}-u {service.UNIT} -f")
    if user:
        out.print(f"keep it running after you log out: loginctl enable-linger {escape(getpass.getuser())}")


@app.command()
@friendly
def uninstall(user: UserOpt = True, directory: DirOpt = None) -> None:
    """Stop and disable the units, and remove their files."""
    removed = service.uninstall(user, directory, systemctl=directory is None, report=_note)
    for path in removed:
        out.print(f"removed {escape(str(path))}")
    if not removed:
        out.print(f"no conscious units in {escape(str(directory or service.unit_dir(user)))}")
