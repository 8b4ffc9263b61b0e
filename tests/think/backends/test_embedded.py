"""The embedded default: our own llama-server, started and stopped by us."""

from __future__ import annotations

from pathlib import Path

import psutil
import pytest

from conscious.config import Config
from conscious.errors import EmbeddedServerError, ModelNotFound
from conscious.paths import Paths
from conscious.think.backends.bundled import bundled_model
from conscious.think.backends.embedded import EmbeddedServer, find_llama_server
from conscious.think.connection import connect


async def test_with_nothing_configured_it_starts_and_stops_its_own_server(paths: Paths, tmp_path: Path) -> None:
    config = Config.load(paths, probe_lmstudio=False, embedded_context_length=2048)
    connection = await connect(config, log_dir=tmp_path)
    assert connection.embedded is not None
    process = connection.embedded.process
    assert process is not None and psutil.pid_exists(process.pid)
    assert connection.info.model == "SmolLM2-135M-Instruct.Q4_1"
    assert connection.context_length == 2048
    assert connection.embedded.url.startswith("http://127.0.0.1:")
    await connection.aclose()
    assert process.returncode is not None
    assert (tmp_path / "llama-server.log").stat().st_size > 0


def test_bundled_model_and_binary_are_found() -> None:
    assert bundled_model().stat().st_size > 50_000_000
    assert find_llama_server().name == "llama-server"


def test_a_bad_binary_or_model_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(EmbeddedServerError, match="not found"):
        find_llama_server(str(tmp_path / "llama-server"))
    with pytest.raises(ModelNotFound, match="model file not found"):
        EmbeddedServer(binary=find_llama_server(), model=tmp_path / "x.gguf")


async def test_a_server_that_dies_while_starting_is_reported(tmp_path: Path) -> None:
    broken = tmp_path / "broken.gguf"
    broken.write_bytes(b"not a gguf file at all")
    server = EmbeddedServer(binary=find_llama_server(), model=broken, log_file=tmp_path / "log")
    with pytest.raises(EmbeddedServerError, match="exited"):
        await server.start(timeout=60)
