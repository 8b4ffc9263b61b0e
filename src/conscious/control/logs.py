"""Where the daemon's log goes: a rotating file, and — under systemd, or when asked — stdout.

On stdout the lines are structured: ``key=value`` text (journald stores the line; its
``<N>`` prefix sets the priority) or one JSON object per line. In that mode the live events
(observations, decisions, delegations) are logged too, since nobody watches a terminal.
"""

from __future__ import annotations

import json
import logging
import logging.handlers
import os
import sys
from datetime import UTC, datetime
from typing import Any, TextIO

from conscious.config import Config
from conscious.control.events import Event
from conscious.paths import Paths

log = logging.getLogger("conscious")
events_log = logging.getLogger("conscious.events")

_SYSLOG_PRIORITY = {logging.DEBUG: 7, logging.INFO: 6, logging.WARNING: 4, logging.ERROR: 3, logging.CRITICAL: 2}
_RESERVED = set(vars(logging.makeLogRecord({}))) | {"message", "asctime"}


def _fields(record: logging.LogRecord) -> dict[str, Any]:
    return {k: v for k, v in vars(record).items() if k not in _RESERVED and not k.startswith("_")}


def _value(v: Any) -> str:
    text = v if isinstance(v, str) else json.dumps(v, default=str, ensure_ascii=False)
    return json.dumps(text, ensure_ascii=False) if (not text or any(c in text for c in ' ="\n')) else text


class KeyValueFormatter(logging.Formatter):
    """``level=info logger=conscious msg="…" key=value`` — grep- and journald-friendly."""

    def __init__(self, journald: bool = False) -> None:
        super().__init__()
        self.journald = journald

    def format(self, record: logging.LogRecord) -> str:
        parts = {"level": record.levelname.lower(), "logger": record.name, "msg": record.getMessage()}
        parts.update(_fields(record))
        if record.exc_info:
            parts["error"] = self.formatException(record.exc_info).splitlines()[-1]
        line = " ".join(f"{k}={_value(v)}" for k, v in parts.items())
        return f"<{_SYSLOG_PRIORITY.get(record.levelno, 6)}>{line}" if self.journald else line


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        data: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
            **_fields(record),
        }
        if record.exc_info:
            data["exception"] = self.formatException(record.exc_info)
        return json.dumps(data, default=str, ensure_ascii=False)


def to_stdout(config: Config, environ: dict[str, str] | None = None) -> bool:
    env = os.environ if environ is None else environ
    return config.log_stdout if config.log_stdout is not None else bool(env.get("JOURNAL_STREAM"))


def setup_logging(config: Config, paths: Paths, stream: TextIO | None = None) -> None:
    handlers: list[logging.Handler] = []
    if config.log_to_file:
        log_file = config.log_file or paths.log_file
        log_file.parent.mkdir(parents=True, exist_ok=True)
        rotating = logging.handlers.RotatingFileHandler(
            log_file, maxBytes=config.log_max_bytes, backupCount=config.log_backups, encoding="utf-8"
        )
        rotating.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        handlers.append(rotating)
    if to_stdout(config):
        console = logging.StreamHandler(stream or sys.stdout)
        journald = bool(os.environ.get("JOURNAL_STREAM"))
        console.setFormatter(JsonFormatter() if config.log_format == "json" else KeyValueFormatter(journald))
        handlers.append(console)
    root = logging.getLogger("conscious")
    for old in root.handlers:
        old.close()
    root.handlers[:] = handlers or [logging.NullHandler()]
    root.setLevel(config.log_level)
    root.propagate = False


_FIELDS = ("id", "verdict", "confidence", "latency_ms", "state", "agent", "severity", "status", "what")
"""The parts of an event's data a log line carries as fields."""


def _summary(event: Event) -> str:
    d = event.data
    if event.type == "observation":
        return f"{d.get('source')}/{d.get('event_type')} {d.get('target')}"
    if event.type == "decision":
        target = f" → {d.get('target_agent')}: {d.get('command')}" if d.get("action") == "delegate" else ""
        return f"#{d.get('id')} {d.get('action')}{target}"
    if event.type == "task":
        return f"task #{d.get('id')} {d.get('agent')} {d.get('what')} {d.get('state', '')}".strip()
    if event.type in ("info", "warn"):
        return str(d.get("text"))
    return event.type


def log_event(event: Event) -> None:
    """A live event as one structured log line (tokens left out: the decision says it all)."""
    if event.type == "token":
        return
    warning = event.type == "warn" or event.data.get("severity") in ("warning", "error", "critical")
    extra = {"event": event.type, "event_id": event.id, **{k: v for k, v in event.data.items() if k in _FIELDS}}
    events_log.log(logging.WARNING if warning else logging.INFO, _summary(event), extra=extra)
