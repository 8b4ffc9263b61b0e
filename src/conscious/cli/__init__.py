"""The ``conscious`` command. Every command talks to the daemon through the journal, so
``tell``, ``log`` and ``status`` work the same whether or not anything else is up; when a
daemon's control API answers, they go through it instead."""

import signal

from conscious.cli import cluster, doctor, mcp_server, run, service, show, talk, tools, watching, work
from conscious.cli.common import app

app.add_typer(service.app, name="service")

__all__ = [
    "app",
    "cluster",
    "doctor",
    "main",
    "mcp_server",
    "run",
    "service",
    "show",
    "talk",
    "tools",
    "watching",
    "work",
]


def main() -> None:
    # A reader that stops early (`conscious log | head`) ends us as it ends any Unix tool: by
    # SIGPIPE, quietly — not "Broken pipe" and exit 1.
    if hasattr(signal, "SIGPIPE"):
        signal.signal(signal.SIGPIPE, signal.SIG_DFL)
    app()
