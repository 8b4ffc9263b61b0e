"""systemd's notify protocol, so ``conscious run`` can be a ``Type=notify`` service.

With ``Type=notify`` systemd counts the service as started only when it says ``READY=1``
(journal open, model answering), so ``systemctl start`` and units ordered after it wait for
a daemon that really works, and ``STATUS=`` shows up in ``systemctl status``. With
``WatchdogSec=`` systemd also expects ``WATCHDOG=1`` at least that often and restarts a
daemon that stops sending it: a hung event loop is noticed, not only a dead process.

The protocol is one datagram of ``KEY=VALUE`` lines to the AF_UNIX socket named in
``$NOTIFY_SOCKET`` (a path, or ``@name`` for the abstract namespace) — small enough to write
here instead of adding a dependency. Outside systemd the variable is unset and every call
does nothing, so callers never branch.
"""

from __future__ import annotations

import logging
import os
import socket
from collections.abc import Mapping

log = logging.getLogger("conscious")

STATUS_MAX = 200
"""``systemctl status`` shows one line; longer text only gets cut there anyway."""

SEND_TIMEOUT = 1.0
"""Seconds a send may block. systemd drains the socket at once; the bound only keeps a
wedged manager from stalling the event loop for long."""


class Notifier:
    """Sends state changes to systemd; a no-op when not started by it."""

    def __init__(self, address: str | None) -> None:
        self.address = address
        """Socket address for ``sendto`` (abstract ones start with NUL), or None: do nothing."""
        self._failed = False

    @classmethod
    def from_env(cls, environ: Mapping[str, str] = os.environ) -> Notifier:
        raw = environ.get("NOTIFY_SOCKET", "")
        if not raw:
            return cls(None)
        if raw.startswith("@"):
            return cls("\0" + raw[1:])
        if raw.startswith("/"):
            return cls(raw)
        # Newer systemd may hand a VM an AF_VSOCK address ("vsock:…"); we only speak AF_UNIX.
        log.warning("NOTIFY_SOCKET=%s is not a unix socket; not notifying systemd", raw)
        return cls(None)

    @property
    def enabled(self) -> bool:
        return self.address is not None

    def ready(self, status: str | None = None) -> bool:
        return self._send("READY=1", status)

    def status(self, text: str) -> bool:
        return self._send(None, text)

    def watchdog(self) -> bool:
        return self._send("WATCHDOG=1", None)

    def stopping(self, status: str | None = None) -> bool:
        return self._send("STOPPING=1", status)

    def _send(self, state: str | None, status: str | None) -> bool:
        """True when the datagram went out. Never raises: being supervised is a bonus, and a
        broken socket must not take the daemon down; the first failure is logged, the rest
        would only repeat it every watchdog period."""
        if self.address is None:
            return False
        lines = [state] if state else []
        if status is not None:
            lines.append("STATUS=" + " ".join(status.split())[:STATUS_MAX])
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as sock:
                sock.settimeout(SEND_TIMEOUT)
                sock.sendto("\n".join(lines).encode(), self.address)
        except OSError as exc:
            if not self._failed:
                self._failed = True
                log.warning("cannot notify systemd at %s: %s", self.address.replace("\0", "@"), exc)
            return False
        return True


def watchdog_interval(environ: Mapping[str, str] = os.environ) -> float | None:
    """Seconds between ``WATCHDOG=1`` pings, or None when systemd wants none from us.

    Half the timeout, as sd_watchdog_enabled(3) recommends, so one late ping is not fatal.
    ``WATCHDOG_PID`` names the process the watchdog is meant for; a child that inherited the
    environment must not ping on its parent's behalf.
    """
    try:
        usec = int(environ.get("WATCHDOG_USEC", ""))
    except ValueError:
        return None
    if usec <= 0:
        return None
    pid = environ.get("WATCHDOG_PID", "")
    if pid:
        try:
            if int(pid) != os.getpid():
                return None
        except ValueError:
            return None
    return usec / 2 / 1_000_000
