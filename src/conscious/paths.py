"""Where state lives: XDG directories, or one folder when a home is given.

A home (``--home`` or ``CONSCIOUS_HOME``) holds everything — config, journal, logs — so
several daemons, and the tests, never share a journal by accident.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path


def _xdg(var: str, fallback: str) -> Path:
    value = os.environ.get(var)
    return Path(value) if value else Path.home() / fallback


@dataclass(frozen=True)
class Paths:
    config_dir: Path
    data_dir: Path
    state_dir: Path

    @classmethod
    def resolve(cls, home: Path | str | None = None) -> Paths:
        home = home or os.environ.get("CONSCIOUS_HOME") or None
        if home:
            root = Path(home).expanduser().resolve()
            return cls(root, root, root)
        return cls(
            _xdg("XDG_CONFIG_HOME", ".config") / "conscious",
            _xdg("XDG_DATA_HOME", ".local/share") / "conscious",
            _xdg("XDG_STATE_HOME", ".local/state") / "conscious",
        )

    @property
    def config_file(self) -> Path:
        return self.config_dir / "config.toml"

    @property
    def journal(self) -> Path:
        return self.data_dir / "journal.db"

    @property
    def log_file(self) -> Path:
        return self.state_dir / "conscious.log"

    def ensure(self) -> None:
        for d in {self.config_dir, self.data_dir, self.state_dir}:
            d.mkdir(parents=True, exist_ok=True)
