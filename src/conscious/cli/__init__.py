"""The ``conscious`` command. Every command talks to the daemon through the journal, so
``tell``, ``log`` and ``status`` work the same whether or not anything else is up; when a
daemon's control API answers, they go through it instead.

Each command is registered by its own module, imported when that command runs
(``conscious.cli.commands``): this package itself imports nothing heavy, so ``conscious
--version`` answers at once."""

from __future__ import annotations

import signal
import sys
from typing import Any

__all__ = ["app", "main"]


def main() -> None:
    # A reader that stops early (`conscious log | head`) ends us as it ends any Unix tool: by
    # SIGPIPE, quietly — not "Broken pipe" and exit 1. Never in the commands that serve: there a
    # browser closing its event stream would kill the daemon outright, without a word.
    if hasattr(signal, "SIGPIPE") and sys.argv[1:2] not in (["run"], ["mcp"], ["watch"]):
        signal.signal(signal.SIGPIPE, signal.SIG_DFL)
    if sys.argv[1:] == ["--version"]:
        import conscious

        print(f"conscious {conscious.__version__}")
        return
    from conscious.cli.commands import load

    load(sys.argv[1:2])()


def __getattr__(name: str) -> Any:
    if name == "app":
        from conscious.cli.commands import everything

        return everything()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
