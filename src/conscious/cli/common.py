"""What every ``conscious`` command shares: the app, the consoles, the common options, and
``friendly`` (one clear line instead of a traceback)."""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, ParamSpec, TypeVar

import click
import typer
from rich.console import Console
from rich.markup import escape

import conscious
from conscious.errors import ConsciousError

app = typer.Typer(
    help="A local LLM as a continuous orchestrator: it observes, decides, and delegates to agents.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=True,
)
out = Console(highlight=False, soft_wrap=True)
err = Console(stderr=True, highlight=False, soft_wrap=True)
"""A line is one line whatever the width: a pipe, a log or grep reads it whole (lines wrapped at
80 columns in a pipe, where rich cannot know the width); tables still fit the width."""


def _version(given: bool) -> None:
    if given:
        print(f"conscious {conscious.__version__}")
        raise typer.Exit()


@app.callback()
def _main(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version and exit.")
    ] = False,
) -> None:
    """A local LLM as a continuous orchestrator: it observes, decides, and delegates to agents."""


P = ParamSpec("P")
R = TypeVar("R")

HomeOpt = Annotated[
    Path | None,
    typer.Option(
        "--home",
        help="Keep config, journal and logs in this folder (default: CONSCIOUS_HOME, else the XDG directories).",
    ),
]
ConfigOpt = Annotated[Path | None, typer.Option("--config", "-c", help="TOML config file.")]


def friendly(fn: Callable[P, R]) -> Callable[P, R]:
    """Any ConsciousError becomes one line on stderr and exit code 1 — never a traceback."""

    @functools.wraps(fn)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return fn(*args, **kwargs)
        except ConsciousError as exc:
            err.print(f"[red]conscious: error:[/] {escape(str(exc))}")
            raise typer.Exit(1) from None
        except OSError as exc:
            where = f" ({exc.filename})" if exc.filename else ""
            err.print(f"[red]conscious: error:[/] {escape(exc.strerror or str(exc))}{escape(where)}")
            raise typer.Exit(1) from None
        except (typer.Exit, typer.Abort, click.ClickException):
            raise
        except Exception as exc:
            # A bug of ours: still one line for the user; the traceback goes to the log.
            logging.getLogger("conscious").exception("unexpected error")
            err.print(f"[red]conscious: internal error:[/] {escape(repr(exc))[:300]} (details in the log file)")
            raise typer.Exit(70) from None

    return wrapper
