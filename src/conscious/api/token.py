"""The control API's bearer token: random, made on first start, kept in a 0600 file beside
the journal's state so that only this user's processes (the CLI, a script) can read it."""

from __future__ import annotations

import os
import secrets
from pathlib import Path


def token_path(state_dir: Path) -> Path:
    return state_dir / "api-token"


def ensure_token(state_dir: Path) -> str:
    """The token, created (0600, atomically: never readable by others, even for a moment) if absent."""
    path = token_path(state_dir)
    token = read_token(state_dir)
    if token is None:
        return _create(path)
    if path.stat().st_mode & 0o077:
        path.chmod(0o600)  # copied around or restored from a backup: make it private again
    return token


def _create(path: Path) -> str:
    token = secrets.token_urlsafe(32)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(token + "\n")
    os.replace(tmp, path)
    return token


def read_token(state_dir: Path) -> str | None:
    path = token_path(state_dir)
    if not path.exists():
        return None
    return path.read_text().strip() or None
