"""A child's append-only log, kept to a size while the child still writes to it."""

from __future__ import annotations

import os
from pathlib import Path

from conscious.system.rotate import rotate


def test_a_log_over_its_size_is_kept_aside_and_the_writer_goes_on_at_its_start(tmp_path: Path) -> None:
    log = tmp_path / "llama-server.log"
    fd = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_APPEND)  # as the child holds it
    os.write(fd, b"x" * 2000)
    assert rotate(log, max_bytes=1000)
    os.write(fd, b"after\n")
    os.close(fd)
    assert log.read_bytes() == b"after\n"
    assert (tmp_path / "llama-server.log.1").read_bytes() == b"x" * 2000
    assert not rotate(log, max_bytes=1000) and not rotate(tmp_path / "missing.log")
