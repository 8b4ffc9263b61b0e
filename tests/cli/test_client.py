"""The CLI's way to the daemon, attacked where it can break: a daemon that holds its journal
but whose API no longer answers (killed mid-command, wedged). Every call falls back to the
journal, nothing is lost, and the API is not asked again once it failed."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from conscious.api.token import ensure_token
from conscious.cli.client import Reached
from conscious.control.facade import Listing
from conscious.errors import ConsciousError
from conscious.journal import Journal
from conscious.paths import Paths
from conscious.system.lock import single_instance


def a_closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
    return port  # closed again: nothing listens there


def test_a_daemon_whose_api_is_gone_is_reached_through_its_journal(tmp_path: Path) -> None:
    paths = Paths.resolve(tmp_path / "home")
    paths.ensure()
    journal = Journal(paths.journal)
    journal.set_identity(daemon={"running": True, "api_url": f"http://127.0.0.1:{a_closed_port()}"})
    ensure_token(paths.state_dir)
    # The daemon holds its journal, so the CLI looks for its API.
    with single_instance(paths.journal), Reached(paths) as daemon:
        assert daemon.live  # found, not yet asked
        first = daemon.tell("fix the flaky upload test")
        assert not daemon.live  # asked once, refused: the journal from now on
        second = daemon.tell("and the slow one")
        assert daemon.status()["counts"]["pending"] == 2
        assert daemon.page(Listing("observations", 5))["items"][0]["id"] == second
    assert [o.id for o in journal.pending()] == [first, second]  # both kept, in order
    journal.close()


def test_no_journal_is_one_line_and_nothing_is_made(tmp_path: Path) -> None:
    paths = Paths.resolve(tmp_path / "home")
    with pytest.raises(ConsciousError, match="start `conscious run` first"):
        Reached(paths)
    assert not paths.journal.exists()
    with Reached(paths, make=True) as daemon:  # `tell` makes it: what is told is kept
        assert daemon.tell("hello") == 1 and not daemon.live
