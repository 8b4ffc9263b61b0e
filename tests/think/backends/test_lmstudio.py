"""LM Studio's REST surface, against the in-tree fake built from its documentation, which
forwards generation to the real llama-server."""

from __future__ import annotations

import asyncio
import ipaddress
import json
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from conscious.config import Config
from conscious.control.terminal import Terminal
from conscious.daemon.assemble import build
from conscious.errors import ConsciousError, LLMUnavailable, ModelNotFound
from conscious.journal import Journal
from conscious.model import Observation
from conscious.paths import Paths
from conscious.think.backends.base import Limits
from conscious.think.backends.embedded import EmbeddedServer
from conscious.think.backends.lmstudio import LMStudioBackend, lms_load
from conscious.think.connection import connect, is_lmstudio
from conscious.think.context import ContextWindow
from conscious.think.prompt import default_system_prompt
from conscious.think.thinker import Thinker
from tests.fakes.lmstudio import FakeLMStudio, FakeModel

QWEN = "qwen2.5-7b-instruct"


def catalogue() -> list[FakeModel]:
    return [
        FakeModel(QWEN, state="loaded", max_context_length=32768, loaded_context_length=4096),
        FakeModel("deepseek-r1-distill-qwen-7b", state="not-loaded", max_context_length=131072),
    ]


@pytest.fixture
def lmstudio(llama_server: EmbeddedServer) -> Iterator[FakeLMStudio]:
    """LM Studio before 0.4: the v0 REST API, models loaded with `lms` (0.4 is tested below)."""
    with FakeLMStudio(models=catalogue(), upstream=llama_server.url, version="0.3") as server:
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
    assert body["response_format"]["json_schema"]["schema"]["anyOf"][0]["required"]


async def test_startup_probe_prefers_lmstudio_when_it_answers(lmstudio: FakeLMStudio, paths: Paths) -> None:
    config = Config.load(paths, lmstudio_probe_url=f"{lmstudio.url}/v1")
    connection = await connect(config)
    try:
        assert connection.embedded is None
        assert connection.info.server == "lmstudio" and connection.context_length == 4096
    finally:
        await connection.aclose()


async def test_jit_model_by_name(lmstudio: FakeLMStudio, paths: Paths) -> None:
    # The fake serves SmolLM2 under the R1 name: held to the schema, not to R1's profile.
    config = Config.load(
        paths, llm_url=f"{lmstudio.url}/v1", model="deepseek-r1-distill-qwen-7b", ttl=600, schema_dialect="json_schema"
    )
    connection = await connect(config)
    try:
        assert connection.profile is not None and connection.profile.name == "deepseek-r1"
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
    orch = await build(config, paths, journal, connection, Terminal(quiet=True))
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


# -- loading the configured model at start-up with the `lms` CLI (stand-in: tests/fakes/bin/lms)

DEEPSEEK = "deepseek-r1-distill-qwen-7b"


@pytest.fixture
def lms_log(paths: Paths, fake_agents: Path, lmstudio: FakeLMStudio, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The stand-in `lms` first on PATH, pointed at the fake; returns its argv log.

    Depends on `paths` so its clearing of CONSCIOUS_* runs before these are set."""
    monkeypatch.setenv("CONSCIOUS_FAKE_LMSTUDIO_URL", lmstudio.url)
    return fake_agents


def lms_calls(log: Path) -> list[list[str]]:
    if not log.exists():
        return []
    return [rec["argv"] for line in log.read_text().splitlines() if (rec := json.loads(line))["prog"] == "lms"]


@pytest.mark.parametrize(
    ("context_length", "ttl", "probe", "argv"),
    [
        (8192, 600, False, ["load", DEEPSEEK, "--context-length", "8192", "--ttl", "600"]),
        (8192, None, True, ["load", DEEPSEEK, "--context-length", "8192"]),
        # None set: the model's profile (deepseek-r1) says what to load it with.
        (None, 600, False, ["load", DEEPSEEK, "--context-length", "8192", "--ttl", "600"]),
    ],
)
async def test_a_configured_model_that_is_not_loaded_is_loaded_with_lms(
    lmstudio: FakeLMStudio,
    paths: Paths,
    lms_log: Path,
    context_length: int | None,
    ttl: int | None,
    probe: bool,
    argv: list[str],
) -> None:
    url = f"{lmstudio.url}/v1"
    where = {"lmstudio_probe_url": url} if probe else {"llm_url": url}
    config = Config.load(paths, model=DEEPSEEK, context_length=context_length, ttl=ttl, **where)
    connection = await connect(config)
    await connection.aclose()
    assert lms_calls(lms_log) == [argv]
    model = lmstudio.models[DEEPSEEK]
    assert (model.state, model.jit_loaded, model.ttl) == ("loaded", False, ttl)
    assert connection.embedded is None and connection.info.loaded is True
    # The window is sized from what the server reports after the load, not from the config.
    assert connection.info.context_length == 8192 == connection.context_length


async def test_loaded_without_options_the_server_reports_the_context_it_chose(
    lmstudio: FakeLMStudio, paths: Paths, lms_log: Path
) -> None:
    lmstudio.models[DEEPSEEK].loaded_context_length = 16384  # what LM Studio would pick
    # A profile that names no context: LM Studio chooses.
    config = Config.load(paths, llm_url=f"{lmstudio.url}/v1", model=DEEPSEEK, profiles={"plain": {}}, profile="plain")
    connection = await connect(config)
    await connection.aclose()
    assert lms_calls(lms_log) == [["load", DEEPSEEK]]
    assert connection.info.loaded and connection.context_length == 16384


async def test_an_already_loaded_model_is_not_loaded_again(lmstudio: FakeLMStudio, paths: Paths, lms_log: Path) -> None:
    config = Config.load(paths, llm_url=f"{lmstudio.url}/v1", model=QWEN, context_length=8192, ttl=600)
    connection = await connect(config)
    await connection.aclose()
    assert lms_calls(lms_log) == []
    assert connection.info.loaded and connection.info.context_length == 4096


async def test_no_model_named_means_no_lms(lmstudio: FakeLMStudio, paths: Paths, lms_log: Path) -> None:
    connection = await connect(Config.load(paths, llm_url=f"{lmstudio.url}/v1"))
    await connection.aclose()
    assert lms_calls(lms_log) == [] and connection.info.model == QWEN


async def test_a_model_lmstudio_does_not_have_is_one_clear_error_without_lms(
    lmstudio: FakeLMStudio, paths: Paths, lms_log: Path
) -> None:
    # `lms load` matches names loosely: an unknown name must not reach it.
    config = Config.load(paths, llm_url=f"{lmstudio.url}/v1", model="no-such-model")
    with pytest.raises(ModelNotFound, match="has no model 'no-such-model'") as caught:
        await connect(config)
    assert "\n" not in str(caught.value)
    assert lms_calls(lms_log) == []


async def test_lms_refusing_an_unknown_model_is_one_clear_error(lmstudio: FakeLMStudio, lms_log: Path) -> None:
    with pytest.raises(ModelNotFound) as caught:
        await lms_load("no-such-model", 4096, None)
    message = str(caught.value)
    assert "\n" not in message and message.startswith("`lms load no-such-model` failed (exit 1): Model not found")
    assert 'No model found that matches path "no-such-model"' in message
    assert lms_calls(lms_log) == [["load", "no-such-model", "--context-length", "4096"]]


async def test_a_failed_load_at_startup_stops_the_connection_with_lms_s_reason(
    lmstudio: FakeLMStudio, paths: Paths, lms_log: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("CONSCIOUS_FAKE_LMSTUDIO_URL")  # lms finds no LM Studio to talk to
    config = Config.load(paths, llm_url=f"{lmstudio.url}/v1", model=DEEPSEEK)
    with pytest.raises(ModelNotFound, match="Failed to start or connect to local LM Studio API server") as caught:
        await connect(config)
    assert "\n" not in str(caught.value)
    assert lmstudio.models[DEEPSEEK].state == "not-loaded"


async def test_a_load_that_outlasts_the_timeout_is_killed_and_reported(
    lmstudio: FakeLMStudio, lms_log: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CONSCIOUS_FAKE_MODE", "slow")
    monkeypatch.setenv("CONSCIOUS_FAKE_SLEEP", "30")
    async with asyncio.timeout(15):
        with pytest.raises(LLMUnavailable, match=r"did not finish within 1s"):
            await lms_load(DEEPSEEK, timeout=1.0)
    assert lms_calls(lms_log) == [["load", DEEPSEEK]]
    assert lmstudio.models[DEEPSEEK].state == "not-loaded"


async def test_lms_load_off_leaves_the_model_to_jit(lmstudio: FakeLMStudio, paths: Paths, lms_log: Path) -> None:
    config = Config.load(paths, llm_url=f"{lmstudio.url}/v1", model=DEEPSEEK, lms_load=False)
    connection = await connect(config)
    await connection.aclose()
    assert lms_calls(lms_log) == []
    assert connection.info.loaded is False and lmstudio.models[DEEPSEEK].state == "not-loaded"


async def test_without_lms_on_path_the_model_is_left_to_jit(
    lmstudio: FakeLMStudio, paths: Paths, lms_log: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    empty = tmp_path / "no-lms"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))
    assert await lms_load(DEEPSEEK, 4096, 600) is False
    config = Config.load(paths, llm_url=f"{lmstudio.url}/v1", model=DEEPSEEK, context_length=4096)
    connection = await connect(config)
    await connection.aclose()
    assert lms_calls(lms_log) == []
    assert connection.info.loaded is False and lmstudio.models[DEEPSEEK].state == "not-loaded"


def outward_address() -> str | None:
    """This machine's address on its default route (a UDP connect sends nothing)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.connect(("192.0.2.1", 9))
        except OSError:
            return None
        address: str = probe.getsockname()[0]
    return None if ipaddress.ip_address(address).is_loopback else address


async def test_a_remote_lmstudio_is_not_given_to_the_local_lms(paths: Paths, lms_log: Path) -> None:
    # `lms` would load into this machine's LM Studio, not the one at the URL.
    address = outward_address()
    if address is None:
        pytest.skip("no non-loopback address to serve the fake on")
    with FakeLMStudio(models=[FakeModel(DEEPSEEK, state="not-loaded")], host=address, version="0.3") as remote:
        config = Config.load(paths, llm_url=f"{remote.url}/v1", model=DEEPSEEK)
        connection = await connect(config)
        await connection.aclose()
    assert lms_calls(lms_log) == []
    assert connection.info.loaded is False


# -- LM Studio 0.4: the v1 REST API, and API tokens


async def test_0_4_facts_come_from_v1_and_a_model_is_loaded_through_it_with_our_context(
    llama_server: EmbeddedServer, paths: Paths, lms_log: Path
) -> None:
    with FakeLMStudio(models=catalogue(), upstream=llama_server.url) as v1:
        backend = LMStudioBackend(f"{v1.url}/v1")
        try:
            info = await backend.info()
        finally:
            await backend.aclose()
        assert (info.model, info.context_length, info.loaded) == (QWEN, 4096, True) and backend.v1 is True
        config = Config.load(paths, llm_url=f"{v1.url}/v1", model=DEEPSEEK, context_length=16384)
        connection = await connect(config)
        await connection.aclose()
        assert lms_calls(lms_log) == []  # no CLI: the REST API loaded it
        assert v1.requests[-1] == {"model": DEEPSEEK, "config": {"context_length": 16384}}
        assert connection.info.loaded and connection.context_length == 16384


async def test_a_token_protected_lmstudio_is_recognised_and_used_with_the_token(
    llama_server: EmbeddedServer, paths: Paths
) -> None:
    with FakeLMStudio(models=catalogue(), upstream=llama_server.url, api_token="sk-lm-secret") as locked:
        refused = Config.load(paths, llm_url=f"{locked.url}/v1")
        with pytest.raises(ConsciousError):
            await connect(refused)
        config = Config.load(paths, llm_url=f"{locked.url}/v1", api_key="sk-lm-secret", max_tokens=16)
        connection = await connect(config)
        try:
            assert connection.info.model == QWEN and connection.info.context_length == 4096
            reply = [
                part
                async for part in connection.backend.stream(
                    [{"role": "user", "content": "Say hi."}], None, Limits(max_tokens=8)
                )
            ]
        finally:
            await connection.aclose()
        assert reply and locked.requests[-1]["model"] == QWEN
