"""Admission: what a request must show, in its headers, before a byte of its body is read.

FastAPI reads and parses a body before a route's dependencies run, the token check among
them: an anonymous client could make the daemon hold as much as it cared to send. So this
ASGI middleware, in front of the app, looks at the headers alone: the Host must name this
server (a page on another site whose name is rebound to 127.0.0.1 sends that name), the
token must be right, and a declared length must be small; then the body is counted as it
arrives, for when no length was declared. A refusal is one line of JSON, never the input.
"""

from __future__ import annotations

import ipaddress
import json
import re
import secrets
from collections.abc import Collection
from dataclasses import dataclass, field

from starlette.datastructures import Headers
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from conscious.system.net import is_loopback

MAX_BODY = 1024 * 1024
"""Bytes a request body may hold. The largest honest body is a hook's tool call (a file an
agent writes, as JSON); the inbox takes 20,000 characters. Anything bigger is a mistake or
an attack, and the daemon keeps its memory for its own work."""

NEEDS_TOKEN = "a bearer token is needed (the daemon's api-token file)"
NOT_A_HOOK = "not a running task's hook token"

# A Host header: a name or an IPv4 address, or an IPv6 address in brackets; then maybe a port.
_HOST = re.compile(r"(?:\[(?P<v6>[0-9a-f:.]+)\]|(?P<name>[^:\[\]/@\s]+))(?::\d{1,5})?")


@dataclass(frozen=True)
class Refusal:
    status: int
    detail: str
    headers: dict[str, str] = field(default_factory=dict)

    async def send(self, send: Send) -> None:
        body = json.dumps({"detail": self.detail}).encode()
        headers = {**self.headers, "content-type": "application/json", "content-length": str(len(body))}
        raw = [(k.lower().encode(), v.encode()) for k, v in headers.items()]
        await send({"type": "http.response.start", "status": self.status, "headers": raw})
        await send({"type": "http.response.body", "body": body})


class Admission:
    def __init__(self, app: ASGIApp, *, token: str, hosts: Collection[str] = (), limit: int = MAX_BODY) -> None:
        self.app = app
        self._token = token.encode()
        self._hosts = frozenset(h.strip("[]").lower() for h in hosts)
        self._limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        refusal = self.refusal(scope)
        if refusal is not None:
            await refusal.send(send)
            return
        body = _Counted(receive, send, self._limit)
        await self.app(scope, body.receive, body.send)

    def refusal(self, scope: Scope) -> Refusal | None:
        headers = Headers(scope=scope)
        server = scope.get("server")
        if not self._serves(headers.get("host", ""), server[0] if server else None):
            return Refusal(421, "this server does not answer to that Host")
        if (unauthorised := self._unauthorised(scope["path"], headers)) is not None:
            return unauthorised
        if _declared(headers.get("content-length", "")) > self._limit:
            return _too_large(self._limit)
        return None

    def _serves(self, host: str, local: str | None) -> bool:
        found = _HOST.fullmatch(host.lower())
        if found is None:
            return False
        name = found["v6"] or found["name"]
        return is_loopback(name) or _unspecified(name) or name == local or name in self._hosts

    def _unauthorised(self, path: str, headers: Headers) -> Refusal | None:
        if path == "/" or path.startswith("/static/"):
            return None  # the page holds no data: it reads the token from its URL's fragment
        if path.startswith("/api/hooks/"):
            # Each task's hook has its own token, which only the daemon checks, with the body;
            # without any token there is nothing to check.
            return None if headers.get("x-conscious-hook") else Refusal(403, NOT_A_HOOK)
        scheme, _, given = headers.get("authorization", "").partition(" ")
        if scheme.lower() == "bearer" and secrets.compare_digest(given.strip().encode(), self._token):
            return None
        return Refusal(401, NEEDS_TOKEN, {"WWW-Authenticate": "Bearer"})


class _Counted:
    """The body as the app reads it, counted: past the limit the client is answered 413 and
    the app is told the client has gone, which ends its reading; its own answer is dropped."""

    def __init__(self, receive: Receive, send: Send, limit: int) -> None:
        self._receive, self._send, self._limit = receive, send, limit
        self._seen = 0
        self._answered = False
        self._refused = False

    async def receive(self) -> Message:
        if self._refused:
            return {"type": "http.disconnect"}
        message = await self._receive()
        if message["type"] == "http.request":
            self._seen += len(message.get("body", b""))
            if self._seen > self._limit:
                self._refused = True
                if not self._answered:
                    await _too_large(self._limit).send(self._send)
                return {"type": "http.disconnect"}
        return message

    async def send(self, message: Message) -> None:
        if self._refused:
            return
        self._answered = True
        await self._send(message)


def _declared(length: str) -> int:
    """A Content-Length, as a number (0 when absent or not one: the body is counted instead)."""
    digits = length.strip().lstrip("0")
    if not (digits.isascii() and digits.isdigit()):
        return 0
    return int(digits) if len(digits) <= 19 else 2**64  # no int() of a thousand digits


def _unspecified(name: str) -> bool:
    # A server on every address publishes 0.0.0.0 or [::] as its own, and local clients use it.
    # A rebound name is a name, never this.
    try:
        return ipaddress.ip_address(name).is_unspecified
    except ValueError:
        return False


def _too_large(limit: int) -> Refusal:
    return Refusal(413, f"a request body may hold at most {limit} bytes")
