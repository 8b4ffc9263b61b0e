"""The only way out of a sandbox cell: an HTTP proxy on a unix socket that reaches the
allowed hosts and nothing else.

A cell has no network of its own (``--unshare-net``); its bridge (``bridge.py``) relays
``127.0.0.1:3128`` inside to this socket outside. Agents' HTTP clients honour ``HTTPS_PROXY``
(Claude Code, npm, pip, curl, git over https), so they ``CONNECT host:443`` — the host is read
before a single byte reaches it, and TLS stays end to end. Plain ``http://`` requests to an
allowed host are passed on too. Anything else is answered 403 and counted in ``refused``.
"""

from __future__ import annotations

import asyncio
import contextlib
import fnmatch
import logging
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from urllib.parse import urlsplit

log = logging.getLogger("conscious")

HEAD_LIMIT = 16_384


def allowed(host: str, patterns: Sequence[str]) -> bool:
    host = host.lower().rstrip(".")
    for pattern in patterns:
        p = pattern.lower()
        if host == p or (p.startswith("*.") and (host.endswith(p[1:]) or host == p[2:])):
            return True
        if "*" in p[1:] and fnmatch.fnmatchcase(host, p):
            return True
    return False


class Proxy:
    def __init__(self, socket: Path, hosts: Sequence[str]) -> None:
        self.socket = socket
        self.hosts = tuple(hosts)
        self.refused: Counter[str] = Counter()
        self._server: asyncio.AbstractServer | None = None

    async def start(self) -> None:
        if self._server is not None:
            return
        self.socket.parent.mkdir(parents=True, exist_ok=True)
        self.socket.unlink(missing_ok=True)
        self._server = await asyncio.start_unix_server(self._client, path=str(self.socket), limit=HEAD_LIMIT)

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
            with contextlib.suppress(Exception):
                await self._server.wait_closed()
            self._server = None
        self.socket.unlink(missing_ok=True)

    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            await self._serve(reader, writer)
        except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, ValueError):
            pass
        finally:
            writer.close()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 30)
        method, target, _ = head.split(b"\r\n", 1)[0].decode("latin-1").split(" ", 2)
        if method == "CONNECT":
            host, _, port = target.rpartition(":")
            host = host.strip("[]")
            forward = b""
        else:
            parts = urlsplit(target)
            host, port = parts.hostname or "", str(parts.port or 80)
            path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
            forward = head.replace(target.encode("latin-1"), path.encode("latin-1"), 1)
        if not host or not port.isdigit() or not allowed(host, self.hosts):
            self.refused[host or "?"] += 1
            log.info("sandbox: refused a connection to %s:%s (not in sandbox.allow_hosts)", host, port)
            writer.write(b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
            await writer.drain()
            return
        try:
            up_reader, up_writer = await asyncio.wait_for(asyncio.open_connection(host, int(port)), 30)
        except (OSError, TimeoutError):
            writer.write(b"HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
            await writer.drain()
            return
        if forward:
            up_writer.write(forward)
        else:
            writer.write(b"HTTP/1.1 200 Connection established\r\n\r\n")
        await asyncio.gather(_pipe(reader, up_writer), _pipe(up_reader, writer))


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    except OSError:
        pass
    finally:
        with contextlib.suppress(OSError):
            writer.close()
