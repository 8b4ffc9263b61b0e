"""LM Studio's REST surface, against the in-tree fake built from its documentation, which
forwards generation to the real llama-server."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest

from conscious.config import Config
from conscious.console import Reporter
from conscious.daemon import build
from conscious.errors import ModelNotFound
from conscious.journal import Journal
from conscious.model import Observation
from conscious.paths import Paths
from conscious.think.backends.base import Limits
from conscious.think.backends.embedded import EmbeddedServer
from conscious.think.backends.lmstudio import LMStudioBackend
from conscious.think.connect import connect, is_lmstudio
from conscious.think.context import ContextWindow
from conscious.think.prompt import default_system_prompt
from conscious.think.thinker import Thinker
from tests.fakes.lmstudio import FakeLMStudio, FakeModel

QWEN = "qwen2.5-7b-instruct"


@pytest.fixture
def lmstudio(llama_server: EmbeddedServer) -> Iterator[FakeLMStudio]:
    models = [
        FakeModel(QWEN, state="loaded", max_context_length=32768, loaded_context_length=4096),
        FakeModel("deepseek-r1-distill-qwen-7b", state="not-loaded", max_context_length=131072),
    ]
    with FakeLMStudio(models=models, upstream=llama_server.url) as server:
        yield server


async def test_it_is_recognised_and_its_model_facts_are_read(lmstudio: FakeLMStudio) -> None:
    assert await is_lmstudio(f"{lmstudio.url}/v1") is True
    backend = LMStudioBackend(f"{lmstudio.url}/v1")
    try:
        info = await backend.info()
    finally:
        await backend.aclose()
    assert (info.model, info.context_length, info.loaded, info.server) == (QWEN, 4096, True, "lmstudio")


async def test_llama_server_is_not_mistaken_for_lmstudio(llama_server: EmbeddedServer) -> None:
    assert await is_lmstudio(llama_server.url) is False


async def test_unknown_model_is_one_clear_error(lmstudio: FakeLMStudio) -> None:
    backend = LMStudioBackend(f"{lmstudio.url}/v1", model="no-such-model")
    try:
        with pytest.raises(ModelNotFound, match="no-such-model"):
            await backend.info()
    finally:
        await backend.aclose()


async def test_decisions_flow_with_ttl_and_a_schema_and_tokens_fall_back(lmstudio: FakeLMStudio) -> None:
    backend = LMStudioBackend(f"{lmstudio.url}/v1", ttl=3600)
    try:
        await backend.info()
        n = await backend.tokenize("hello world")
        window = ContextWindow(default_system_prompt(), 900, 3000)
        thought = await Thinker(backend, window, Limits(max_tokens=400, temperature=0.0)).think("a file changed")
    finally:
        await backend.aclose()
    assert not backend.exact_tokens and n > 0  # LM Studio has no /tokenize
    assert thought.error is None, thought.raw
    body = [r for r in lmstudio.requests if "messages" in r][-1]
    assert body["model"] == QWEN and body["ttl"] == 3600
    assert body["response_format"]["type"] == "json_schema"
    assert body["response_format"]["json_schema"]["schema"]["required"]


async def test_startup_probe_prefers_lmstudio_when_it_answers(lmstudio: FakeLMStudio, paths: Paths) -> None:
    config = Config.load(paths, lmstudio_probe_url=f"{lmstudio.url}/v1")
    connection = await connect(config)
    try:
        assert connection.embedded is None
        assert connection.info.server == "lmstudio" and connection.context_length == 4096
    finally:
        await connection.aclose()


async def test_jit_model_by_name(lmstudio: FakeLMStudio, paths: Paths) -> None:
    config = Config.load(paths, llm_url=f"{lmstudio.url}/v1", model="deepseek-r1-distill-qwen-7b", ttl=600)
    connection = await connect(config)
    try:
        assert connection.info.loaded is False and connection.context_length == 131072
        thought = await Thinker(
            connection.backend,
            ContextWindow(default_system_prompt(), 900, 3000),
            Limits(max_tokens=400, temperature=0.0),
        ).think("hello")
        assert thought.error is None
    finally:
        await connection.aclose()
    model = lmstudio.models["deepseek-r1-distill-qwen-7b"]
    assert model.state == "loaded" and model.ttl == 600


async def test_a_refused_schema_dialect_falls_back_to_one_the_server_accepts(lmstudio: FakeLMStudio) -> None:
    # LM Studio refuses {"type": "json_object"}; the backend must find json_schema by itself.
    backend = LMStudioBackend(f"{lmstudio.url}/v1", dialect="json_object")
    try:
        await backend.info()
        window = ContextWindow(default_system_prompt(), 900, 3000)
        thought = await Thinker(backend, window, Limits(max_tokens=400, temperature=0.0)).think("a file changed")
    finally:
        await backend.aclose()
    formats = [r["response_format"]["type"] for r in lmstudio.requests if "messages" in r]
    assert formats == ["json_object", "json_schema"]
    assert backend.dialect == "json_schema" and thought.error is None


async def test_a_jit_loaded_model_resizes_the_window_to_its_loaded_context(
    lmstudio: FakeLMStudio, paths: Paths, tmp_path: Path
) -> None:
    lmstudio.models["deepseek-r1-distill-qwen-7b"].loaded_context_length = 4096
    watched = tmp_path / "w"
    watched.mkdir()
    config = Config.load(
        paths,
        llm_url=f"{lmstudio.url}/v1",
        model="deepseek-r1-distill-qwen-7b",
        watch=[watched],
        temperature=0.0,
        max_tokens=400,
    )
    connection = await connect(config)
    journal = Journal(paths.journal)
    orch = await build(config, paths, journal, connection, Reporter(quiet=True))
    orch.observers = []
    assert connection.context_length == 131072  # not loaded yet: only its maximum is known
    journal.append(Observation(source="user", event_type="request", target="inbox", details={"text": "hi"}))
    stop = asyncio.Event()
    runner = asyncio.create_task(orch.run(stop))
    try:
        async with asyncio.timeout(120):
            while journal.pending_count():
                await asyncio.sleep(0.1)
    finally:
        stop.set()
        await runner
        await connection.aclose()
    assert connection.info.loaded and connection.context_length == 4096
    assert orch.thinker.window.budget == 4096 - config.reserve_tokens - config.max_tokens
