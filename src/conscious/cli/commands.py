"""Every command, registered on the one ``app`` by the module that defines it.

A command loads only its own module (``conscious tell`` needs neither the MCP SDK nor the
terminal's tables): ``WHERE`` says which module that is. Help, completion and anything not named
here load them all; a test keeps ``WHERE`` equal to what the modules define."""

from __future__ import annotations

import importlib
import os

import typer

from conscious.cli.common import app

WHERE: dict[str, str] = {
    "run": "run",
    "stop": "run",
    "page": "run",
    "tell": "talk",
    "release": "talk",
    "approve": "approving",
    "deny": "approving",
    "approvals": "approving",
    "log": "show",
    "status": "show",
    "watch": "watching",
    "worktrees": "work",
    "diff": "work",
    "merge": "work",
    "discard": "work",
    "replay": "tools",
    "eval": "tools",
    "config": "tools",
    "doctor": "doctor",
    "init": "doctor",
    "cluster": "cluster",
    "mcp": "mcp_server",
    "reference": "reference",
    "service": "service",
    "model": "model",
}
"""Command (or group) → the module of ``conscious.cli`` that registers it."""


def load(argv: list[str]) -> typer.Typer:
    """The app with the command ``argv`` names registered (every command when it names none
    known, or when the shell asks for completions)."""
    named = WHERE.get(argv[0]) if argv else None
    completing = any(key.endswith("_COMPLETE") and key.startswith("_") for key in os.environ)
    for module in sorted(set(WHERE.values())) if named is None or completing else [named]:
        importlib.import_module(f"conscious.cli.{module}")
    return app


def everything() -> typer.Typer:
    return load([])


__all__ = ["WHERE", "app", "everything", "load"]
