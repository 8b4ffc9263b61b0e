"""Serving the control API inside the daemon's own event loop (uvicorn, no thread).

The socket is bound here, before uvicorn starts, so a taken port is known at once: on the
default port another daemon is likely using it, and a free port is taken instead (the
address is published in the journal, where the CLI finds it). uvicorn must not install its
own signal handlers: the daemon's handlers decide how a stop happens.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import socket
from collections.abc import Iterator

import uvicorn
from fastapi import FastAPI

from conscious.errors import ConfigError

log = logging.getLogger("conscious")


class _Server(uvicorn.Server):
    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield  # the daemon's own handlers stay in place


def bind(host: str, port: int, *, fallback: bool) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # IPPROTO_TCP, not 0: asyncio turns Nagle off only on sockets that say they are TCP, and
    # with Nagle on, every response waits out the client's 40 ms delayed ACK.
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        if exc.errno == errno.EADDRINUSE and fallback:
            sock.bind((host, 0))
        else:
            sock.close()
            raise ConfigError(f"cannot serve the control API on {host}:{port}: {exc.strerror or exc}") from None
    sock.listen(64)
    sock.setblocking(False)
    return sock


class ApiServer:
    def __init__(self, app: FastAPI, sock: socket.socket) -> None:
        self.sock = sock
        host, port = sock.getsockname()[:2]
        self.url = f"http://{f'[{host}]' if ':' in host else host}:{port}"
        config = uvicorn.Config(
            app,
            log_config=None,
            access_log=False,
            lifespan="off",
            timeout_graceful_shutdown=2,
            ws="none",
        )
        self._server = _Server(config)
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self._task = asyncio.create_task(self._server.serve(sockets=[self.sock]), name="control-api")
        while not self._server.started and not self._task.done():
            await asyncio.sleep(0.01)
        if self._task.done():
            self._task.result()  # uvicorn failed to start: raise its error

    async def ended(self) -> str:
        """Once the server stops serving, whatever the reason: what ended it."""
        assert self._task is not None
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await asyncio.shield(self._task)
        if self._task.cancelled():
            return "cancelled"
        return repr(self._task.exception()) if self._task.exception() else "it returned"

    async def stop(self) -> None:
        if self._task is None:
            return
        if self._task.done():  # ended already (``ended`` said how): nothing to wait for
            self.sock.close()
            return
        self._server.should_exit = True
        try:
            await asyncio.wait_for(asyncio.shield(self._task), 5)
        except TimeoutError:
            self._server.force_exit = True
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        except Exception:
            log.exception("control API stopped with an error")
        finally:
            self.sock.close()
