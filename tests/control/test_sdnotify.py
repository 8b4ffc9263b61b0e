"""The notify protocol against a real AF_UNIX datagram socket standing in for systemd."""

from __future__ import annotations

import logging
import os
import socket
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from conscious.control.sdnotify import STATUS_MAX, Notifier, watchdog_interval


@pytest.fixture
def manager(tmp_path: Path) -> Iterator[tuple[socket.socket, str]]:
    """A bound socket, as systemd's, and the NOTIFY_SOCKET value that names it."""
    path = tmp_path / "n"  # sun_path holds 107 bytes; keep it short
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind(str(path))
        sock.settimeout(5)
        yield sock, str(path)


def test_ready_with_status(manager: tuple[socket.socket, str]) -> None:
    sock, address = manager
    notifier = Notifier.from_env({"NOTIFY_SOCKET": address})
    assert notifier.enabled
    assert notifier.ready("watching 2 folders")
    assert sock.recv(4096) == b"READY=1\nSTATUS=watching 2 folders"


def test_each_state_is_one_datagram(manager: tuple[socket.socket, str]) -> None:
    sock, address = manager
    notifier = Notifier.from_env({"NOTIFY_SOCKET": address})
    notifier.ready()
    notifier.watchdog()
    notifier.status("deciding")
    notifier.stopping()
    notifier.stopping("waiting for 1 delegation")
    assert [sock.recv(4096) for _ in range(5)] == [
        b"READY=1",
        b"WATCHDOG=1",
        b"STATUS=deciding",
        b"STOPPING=1",
        b"STOPPING=1\nSTATUS=waiting for 1 delegation",
    ]


def test_status_is_one_capped_line(manager: tuple[socket.socket, str]) -> None:
    sock, address = manager
    notifier = Notifier.from_env({"NOTIFY_SOCKET": address})
    # A newline would start a new KEY=VALUE assignment: "READY=1" smuggled in by a task title.
    notifier.status("first line\nREADY=1\r\nthird")
    assert sock.recv(4096) == b"STATUS=first line READY=1 third"
    notifier.status("x" * 5000)
    assert sock.recv(8192) == b"STATUS=" + b"x" * STATUS_MAX


def test_abstract_socket() -> None:
    name = f"conscious-test-{uuid.uuid4().hex}"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind("\0" + name)
        sock.settimeout(5)
        notifier = Notifier.from_env({"NOTIFY_SOCKET": "@" + name})
        assert notifier.ready("up")
        assert sock.recv(4096) == b"READY=1\nSTATUS=up"


def test_reads_the_process_environment_by_default(
    manager: tuple[socket.socket, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    sock, address = manager
    monkeypatch.setenv("NOTIFY_SOCKET", address)
    Notifier.from_env().watchdog()
    assert sock.recv(4096) == b"WATCHDOG=1"


@pytest.mark.parametrize("environ", [{}, {"NOTIFY_SOCKET": ""}])
def test_without_systemd_nothing_happens(environ: dict[str, str], caplog: pytest.LogCaptureFixture) -> None:
    notifier = Notifier.from_env(environ)
    assert not notifier.enabled
    assert not notifier.ready("up")
    assert not notifier.status("x")
    assert not notifier.watchdog()
    assert not notifier.stopping()
    assert caplog.records == []


def test_a_missing_socket_is_logged_once_and_never_raises(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    notifier = Notifier.from_env({"NOTIFY_SOCKET": str(tmp_path / "gone")})
    assert notifier.enabled
    with caplog.at_level(logging.DEBUG, logger="conscious"):
        assert not notifier.ready()
        assert not notifier.watchdog()
        assert not notifier.stopping()
    assert len(caplog.records) == 1
    assert caplog.records[0].name == "conscious"
    assert str(tmp_path / "gone") in caplog.records[0].getMessage()


def test_a_non_unix_address_disables_with_a_warning(caplog: pytest.LogCaptureFixture) -> None:
    notifier = Notifier.from_env({"NOTIFY_SOCKET": "vsock:2:1234"})
    assert not notifier.enabled
    assert not notifier.ready()
    assert [r.name for r in caplog.records] == ["conscious"]


@pytest.mark.parametrize(
    ("environ", "expected"),
    [
        ({}, None),
        ({"WATCHDOG_USEC": "60000000"}, 30.0),
        ({"WATCHDOG_USEC": "1000000", "WATCHDOG_PID": "{pid}"}, 0.5),
        ({"WATCHDOG_USEC": "60000000", "WATCHDOG_PID": ""}, 30.0),
        ({"WATCHDOG_USEC": "60000000", "WATCHDOG_PID": "1"}, None),  # meant for another process
        ({"WATCHDOG_USEC": "60000000", "WATCHDOG_PID": "main"}, None),
        ({"WATCHDOG_USEC": "0"}, None),
        ({"WATCHDOG_USEC": "-5"}, None),
        ({"WATCHDOG_USEC": "60s"}, None),
        ({"WATCHDOG_PID": "{pid}"}, None),
    ],
)
def test_watchdog_interval(environ: dict[str, str], expected: float | None) -> None:
    environ = {k: v.format(pid=os.getpid()) for k, v in environ.items()}
    assert watchdog_interval(environ) == expected
