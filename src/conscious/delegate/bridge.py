"""Inside a sandbox cell with no network: ``python -m conscious.delegate.bridge SOCKET PORT -- ARGV``.

Listens on ``127.0.0.1:PORT`` inside the cell and relays each connection to the daemon's proxy
at the unix socket ``SOCKET`` (bound into the cell), then runs ARGV and exits with its code.
The proxy decides which hosts are reached; this only carries bytes. Plain threads and sockets:
it starts before every agent, so it imports nearly nothing.
"""

from __future__ import annotations

import contextlib
import signal
import socket
import subprocess
import sys
import threading


def _pipe(src: socket.socket, dst: socket.socket) -> None:
    try:
        while data := src.recv(65536):
            dst.sendall(data)
    except OSError:
        pass
    finally:
        for s in (src, dst):
            with contextlib.suppress(OSError):
                s.shutdown(socket.SHUT_RDWR)


def _relay(client: socket.socket, path: str) -> None:
    upstream = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        upstream.connect(path)
    except OSError:
        client.close()
        upstream.close()
        return
    threading.Thread(target=_pipe, args=(upstream, client), daemon=True).start()
    _pipe(client, upstream)
    client.close()
    upstream.close()


def _serve(listener: socket.socket, path: str) -> None:
    while True:
        client, _ = listener.accept()
        threading.Thread(target=_relay, args=(client, path), daemon=True).start()


def main(argv: list[str]) -> int:
    if len(argv) < 4 or argv[2] != "--":
        print("usage: python -m conscious.delegate.bridge SOCKET PORT -- ARGV", file=sys.stderr)
        return 2
    path, port, command = argv[0], int(argv[1]), argv[3:]
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", port))
    listener.listen(64)
    threading.Thread(target=_serve, args=(listener, path), daemon=True).start()
    try:
        child = subprocess.Popen(command)
    except OSError as exc:
        print(f"conscious: could not start {command[0]}: {exc.strerror or exc}", file=sys.stderr)
        return 127
    # A stop meant for the agent reaches it; this process ends when it does.
    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, lambda n, _f: child.send_signal(n))
    return child.wait()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
