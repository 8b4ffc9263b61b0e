"""Every command, registered on the one ``app``: importing this module is what makes them."""

from conscious.cli import (
    cluster,
    doctor,
    mcp_server,
    model,
    reference,
    run,
    service,
    show,
    talk,
    tools,
    watching,
    work,
)
from conscious.cli.common import app

app.add_typer(service.app, name="service")
app.add_typer(model.app, name="model")

__all__ = [
    "app",
    "cluster",
    "doctor",
    "mcp_server",
    "model",
    "reference",
    "run",
    "service",
    "show",
    "talk",
    "tools",
    "watching",
    "work",
]
