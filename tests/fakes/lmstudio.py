"""A faithful in-tree fake of LM Studio's local server, for tests.

LM Studio cannot run on CI machines, so `conscious`'s LM Studio backend is tested
against this fake instead. It holds no model: generation is forwarded to an
OpenAI-compatible `upstream` (a real llama.cpp ``llama-server``), while everything
LM Studio adds on top -- the model catalogue, JIT loading with ``ttl``, auto-evict,
its error bodies, the ``/api/v0`` extras -- is reproduced here from the docs.

Documentation followed (lmstudio-ai/docs, rendered at https://lmstudio.ai/docs):

* REST API v1 (LM Studio 0.4): ``GET /api/v1/models`` (source ``1_developer/2_rest/list.md``:
  ``models[]`` with ``key``, ``type``, ``loaded_instances[].config.context_length``,
  ``max_context_length``), ``POST /api/v1/models/load`` (``load.md``: ``model`` and
  ``config.context_length``; answers ``model_instance_id``, ``config``, ``load_time_seconds``),
  ``POST /api/v1/models/unload`` (``instance_id``). ``version="0.3"`` makes the fake an LM Studio
  before 0.4: the v1 routes are unexpected endpoints. API tokens (``quickstart.md``: "include it
  in the Authorization header ... Bearer"): with ``api_token`` every route wants it; the 401
  body is a guess (the docs show none).
* REST API v0: https://lmstudio.ai/docs/developer/rest/endpoints
  (source ``1_developer/2_rest/endpoints.md``) -- ``GET /api/v0/models`` and
  ``/api/v0/models/{model}`` entries (id, object, type, publisher, arch,
  compatibility_type, quantization, state, max_context_length), and the
  ``stats`` / ``model_info`` / ``runtime`` fields of ``POST /api/v0/chat/completions``
  and ``/api/v0/completions``.
* OpenAI compatibility: https://lmstudio.ai/docs/developer/openai-compat/models,
  .../chat-completions, .../completions, .../embeddings, .../structured-output
  -- ``/v1/models`` "may include all downloaded models when Just-In-Time loading
  is enabled"; ``response_format`` takes ``{"type": "json_schema", "json_schema": ...}``.
* Idle TTL and Auto-Evict: https://lmstudio.ai/docs/developer/core/ttl-and-auto-evict
  -- the ``ttl`` request field applies when the request JIT-loads the model;
  with Auto-Evict on (the default) at most one JIT-loaded model stays loaded and
  models loaded otherwise are untouched.
* API changelog: https://lmstudio.ai/docs/developer/api-changelog -- ``capabilities``
  in ``GET /api/v0/models`` (0.3.16); ``response_format.type`` accepts ``"text"`` (0.3.18).

Shapes the docs do not show, taken from observed LM Studio responses:

* ``loaded_context_length`` appears in ``/api/v0/models`` only for loaded models
  (newer releases; widely parsed by clients, e.g. next to ``max_context_length``).
* ``/v1/models`` entries are ``{"id", "object": "model", "owned_by": "organization_owner"}``.
* Unknown model: HTTP 400 ``{"error": {"message": "Invalid model identifier \\"x\\".
  Please specify a valid downloaded model (e.g., a, b).", "type": "invalid_request_error",
  "param": "model", "code": "model_not_found"}}``
  (https://github.com/assafelovic/gpt-researcher/issues/1556; 0.3.5 used 404 and
  another message: https://github.com/letta-ai/letta/pull/1876).
* No model loaded and none JIT-loadable: HTTP 400 ``{"error": {"message": "No models
  loaded. Please load a model in the developer page or use the 'lms load' command.",
  "type": "invalid_request_error", "param": "model", "code": null}}``
  (https://github.com/lmstudio-ai/lmstudio-bug-tracker/issues/1730, 0.4.8).
* ``response_format.type == "json_object"``: HTTP 400
  ``{"error": "'response_format.type' must be 'json_schema' or 'text'"}``
  (https://github.com/lmstudio-ai/lmstudio-bug-tracker/issues/189, /307).
* Any route LM Studio lacks (``/tokenize``, ``/props``, ...): HTTP **200** with
  ``{"error": "Unexpected endpoint or method. (POST /tokenize)"}`` -- clients must
  look at the body, not the status, to notice a missing endpoint.
* ``GET /api/v0/models/{unknown}``: 404 (clients test for it); the body is a guess.

Deliberate simplifications: model ids match exactly (no ``@quant`` suffixes); the
single-loaded-model leniency of lmstudio-bug-tracker#619 is not reproduced (an unknown
id is always an error); idle TTLs are recorded, never expired.

Test-only, NOT part of LM Studio: ``POST /__fake__/load`` with ``{"model",
"context_length", "ttl"}``. The real ``lms load`` talks to LM Studio over its private
websocket API; the stand-in ``tests/fakes/bin/lms`` calls this endpoint instead (it finds
the fake through ``CONSCIOUS_FAKE_LMSTUDIO_URL``). It loads the model as ``lms load``
does: not JIT-loaded (so auto-evict leaves it alone), at ``context_length`` if given,
else at the context it last ran with, else its maximum. Loading a loaded model again
changes nothing (LM Studio would add a second instance). Unknown id: 404.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import AsyncIterator, Mapping
from dataclasses import KW_ONLY, dataclass, field
from types import TracebackType
from typing import Any, Literal

import httpx
import uvicorn
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response, StreamingResponse

ModelState = Literal["loaded", "not-loaded"]
ModelType = Literal["llm", "vlm", "embeddings"]

FAKE_LOAD_PATH = "/__fake__/load"
"""Test-only control endpoint (see the module docstring); LM Studio has no such route."""

NO_MODELS_LOADED = "No models loaded. Please load a model in the developer page or use the 'lms load' command."
RESPONSE_FORMAT_ERROR = "'response_format.type' must be 'json_schema' or 'text'"

# lmstudio-js stop reasons for the OpenAI finish reasons llama-server reports.
_STOP_REASONS = {
    "stop": "eosFound",
    "length": "maxPredictedTokensReached",
    "tool_calls": "toolCalls",
}
_RUNTIME = {
    "name": "llama.cpp-linux-x86_64-avx2",
    "version": "1.0.0",
    "supported_formats": ["gguf"],
}


@dataclass
class FakeModel:
    """One downloaded model as LM Studio reports it; mutated in place by the fake.

    ``loaded_context_length`` is the context the model runs with once loaded (so a
    JIT load reports it); it is only listed while ``state == "loaded"``. ``ttl`` and
    ``jit_loaded`` are written by the fake when a request JIT-loads the model.
    """

    id: str
    _: KW_ONLY
    state: ModelState = "loaded"
    max_context_length: int = 4096
    loaded_context_length: int | None = None
    arch: str = "llama"
    quantization: str = "Q4_K_M"
    type: ModelType = "llm"
    publisher: str = "lmstudio-community"
    compatibility_type: str = "gguf"
    capabilities: list[str] = field(default_factory=list)
    ttl: int | None = None
    jit_loaded: bool = False

    def v1_entry(self) -> dict[str, Any]:
        """The object `GET /api/v1/models` lists for this model."""
        instances = []
        if self.state == "loaded":
            instances = [
                {"id": self.id, "config": {"context_length": self.loaded_context_length or self.max_context_length}}
            ]
        return {
            "type": "embedding" if self.type == "embeddings" else "llm",
            "publisher": self.publisher,
            "key": self.id,
            "display_name": self.id,
            "architecture": self.arch,
            "quantization": {"name": self.quantization, "bits_per_weight": 4},
            "size_bytes": 1,
            "params_string": None,
            "loaded_instances": instances,
            "max_context_length": self.max_context_length,
            "format": self.compatibility_type,
        }

    def v0_entry(self) -> dict[str, Any]:
        """The object `GET /api/v0/models` lists for this model."""
        entry: dict[str, Any] = {
            "id": self.id,
            "object": "model",
            "type": self.type,
            "publisher": self.publisher,
            "arch": self.arch,
            "compatibility_type": self.compatibility_type,
            "quantization": self.quantization,
            "state": self.state,
            "max_context_length": self.max_context_length,
        }
        if self.state == "loaded" and self.loaded_context_length is not None:
            entry["loaded_context_length"] = self.loaded_context_length
        if self.capabilities:
            entry["capabilities"] = list(self.capabilities)
        return entry


def _openai_error(message: str, *, code: str | None, status: int = 400) -> JSONResponse:
    """LM Studio's OpenAI-style error envelope for request problems about `model`."""
    error = {"message": message, "type": "invalid_request_error", "param": "model", "code": code}
    return JSONResponse({"error": error}, status_code=status)


def _no_models_loaded() -> JSONResponse:
    return _openai_error(NO_MODELS_LOADED, code=None)


def _model_not_found(model: str, valid: list[str]) -> JSONResponse:
    examples = ", ".join(valid[:3])
    message = f'Invalid model identifier "{model}". Please specify a valid downloaded model (e.g., {examples}).'
    return _openai_error(message, code="model_not_found")


class _Server:
    """The fake's mutable state and route logic, shared by all handlers.

    Handlers run on the uvicorn thread while tests read and edit models from
    theirs, so every touch of the model table holds `lock`.
    """

    def __init__(self, *, upstream: str | None, models: list[FakeModel], jit: bool, auto_evict: bool) -> None:
        self.upstream = upstream.rstrip("/") if upstream else None
        self.models: dict[str, FakeModel] = {m.id: m for m in models}
        self.jit = jit
        self.auto_evict = auto_evict
        self.requests: list[dict[str, Any]] = []
        self.request_paths: list[str] = []
        self.lock = threading.Lock()

    def loaded(self) -> list[FakeModel]:
        return [m for m in self.models.values() if m.state == "loaded"]

    def resolve(self, body: Mapping[str, Any]) -> FakeModel | JSONResponse:
        """Pick the model a request targets, JIT-loading it as LM Studio would."""
        with self.lock:
            requested = body.get("model")
            if not isinstance(requested, str) or not requested:
                # LM Studio serves an absent model field with a loaded model.
                loaded = self.loaded()
                return loaded[0] if loaded else _no_models_loaded()
            model = self.models.get(requested)
            if model is not None and model.state == "loaded":
                return model
            if model is not None and self.jit:
                self._jit_load(model, body.get("ttl"))
                return model
            loaded = self.loaded()
            if model is not None and not loaded:
                return _no_models_loaded()
            visible = self.models.values() if self.jit else loaded
            return _model_not_found(requested, [m.id for m in visible])

    def cli_load(self, model: FakeModel, context_length: int | None, ttl: int | None) -> None:
        """What ``lms load`` does to the model table; the caller holds `lock`."""
        model.state = "loaded"
        model.jit_loaded = False
        model.ttl = ttl
        model.loaded_context_length = context_length or model.loaded_context_length or model.max_context_length

    def _jit_load(self, model: FakeModel, ttl: object) -> None:
        if self.auto_evict:
            for other in self.models.values():
                if other.jit_loaded and other is not model:
                    other.state = "not-loaded"
                    other.jit_loaded = False
                    other.ttl = None
        model.state = "loaded"
        model.jit_loaded = True
        model.ttl = ttl if isinstance(ttl, int) and not isinstance(ttl, bool) else None


def create_app(
    *,
    upstream: str | None,
    models: list[FakeModel],
    jit: bool = True,
    auto_evict: bool = True,
    version: str = "0.4",
    api_token: str | None = None,
) -> FastAPI:
    """Build the fake LM Studio app.

    `upstream` is an OpenAI-compatible base URL ending in ``/v1`` (llama-server);
    without one, generation requests are validated and recorded, then answered 500.
    `models` are kept by reference, so a test can flip ``state`` between calls.
    Inspect ``app.state.requests`` (every POSTed JSON body, in order),
    ``app.state.request_paths`` (their paths) and ``app.state.models``.
    """
    server = _Server(upstream=upstream, models=models, jit=jit, auto_evict=auto_evict)
    app = FastAPI(title="fake LM Studio", docs_url=None, redoc_url=None, openapi_url=None)
    app.state.server = server
    app.state.requests = server.requests
    app.state.request_paths = server.request_paths
    app.state.models = server.models

    if api_token is not None:

        @app.middleware("http")
        async def require_token(request: Request, call_next: Any) -> Response:
            if request.headers.get("authorization") != f"Bearer {api_token}":
                error = {"message": "Invalid or missing API token", "type": "invalid_request_error"}
                return JSONResponse({"error": error}, status_code=401)
            response: Response = await call_next(request)
            return response

    if version >= "0.4":

        @app.get("/api/v1/models")
        async def v1_native_models() -> dict[str, Any]:
            with server.lock:
                return {"models": [m.v1_entry() for m in server.models.values()]}

        @app.post("/api/v1/models/load")
        async def v1_load(request: Request) -> JSONResponse:
            body = _as_dict(await request.json())
            config = _as_dict(body.get("config"))
            with server.lock:
                model = server.models.get(str(body.get("model")))
                if model is None:
                    return JSONResponse({"error": f"Model {body.get('model')!r} not found"}, status_code=404)
                server.cli_load(model, _opt_int(config.get("context_length")), None)
                server.request_paths.append("/api/v1/models/load")
                server.requests.append(body)
                loaded = {"context_length": model.loaded_context_length}
            return JSONResponse({"model_instance_id": model.id, "config": loaded, "load_time_seconds": 0.1})

        @app.post("/api/v1/models/unload")
        async def v1_unload(request: Request) -> JSONResponse:
            body = _as_dict(await request.json())
            with server.lock:
                model = server.models.get(str(body.get("instance_id")))
                if model is None or model.state != "loaded":
                    return JSONResponse({"error": "No loaded instance with that id"}, status_code=404)
                model.state, model.jit_loaded, model.ttl = "not-loaded", False, None
            return JSONResponse({"instance_id": model.id})

    @app.get("/v1/models")
    async def v1_models() -> dict[str, Any]:
        with server.lock:
            listed = list(server.models.values()) if server.jit else server.loaded()
            data = [{"id": m.id, "object": "model", "owned_by": "organization_owner"} for m in listed]
        return {"data": data, "object": "list"}

    @app.get("/api/v0/models")
    async def v0_models() -> dict[str, Any]:
        with server.lock:
            data = [m.v0_entry() for m in server.models.values()]
        return {"object": "list", "data": data}

    @app.get("/api/v0/models/{model_id:path}")
    async def v0_model(model_id: str) -> Response:
        with server.lock:
            model = server.models.get(model_id)
            entry = model.v0_entry() if model is not None else None
        if entry is None:
            return JSONResponse({"error": f'Model "{model_id}" not found'}, status_code=404)
        return JSONResponse(entry)

    async def generate(request: Request) -> Response:
        raw = await request.body()
        try:
            body = json.loads(raw)
        except ValueError:
            return JSONResponse({"error": "Request body is not valid JSON"}, status_code=400)
        if not isinstance(body, dict):
            return JSONResponse({"error": "Request body must be a JSON object"}, status_code=400)
        path = request.url.path
        with server.lock:
            server.requests.append(body)
            server.request_paths.append(path)
        response_format = body.get("response_format")
        if isinstance(response_format, dict) and response_format.get("type") not in (
            "json_schema",
            "text",
        ):
            return JSONResponse({"error": RESPONSE_FORMAT_ERROR}, status_code=400)
        model = server.resolve(body)
        if isinstance(model, JSONResponse):
            return model
        if server.upstream is None:
            return JSONResponse({"error": "fake LM Studio has no upstream"}, status_code=500)
        suffix = path.removeprefix("/api/v0").removeprefix("/v1")
        enrich = path.startswith("/api/v0/") and "embeddings" not in path and not body.get("stream")
        return await _forward(server.upstream + suffix, raw, model if enrich else None)

    for route in ("chat/completions", "completions", "embeddings"):
        for prefix in ("/v1", "/api/v0"):
            app.add_api_route(f"{prefix}/{route}", generate, methods=["POST"])

    @app.post(FAKE_LOAD_PATH)
    async def fake_load(request: Request) -> JSONResponse:
        # Test-only: stands in for the websocket API the real `lms load` uses.
        try:
            body = await request.json()
        except ValueError:
            body = None
        if not isinstance(body, dict):
            return JSONResponse({"error": "Request body must be a JSON object"}, status_code=400)
        context_length, ttl = _opt_int(body.get("context_length")), _opt_int(body.get("ttl"))
        with server.lock:
            model = server.models.get(str(body.get("model")))
            if model is None:
                known = [m.id for m in server.models.values()]
                return JSONResponse({"error": "model not found", "models": known}, status_code=404)
            server.cli_load(model, context_length, ttl)
            entry = model.v0_entry()
        return JSONResponse(entry)

    @app.api_route("/{path:path}", methods=["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"])
    async def unexpected(request: Request) -> JSONResponse:
        # LM Studio answers routes it lacks with 200 and an error body.
        message = f"Unexpected endpoint or method. ({request.method} {request.url.path})"
        return JSONResponse({"error": message})

    return app


async def _forward(url: str, raw: bytes, enrich_for: FakeModel | None) -> Response:
    """Send `raw` to the upstream and relay its answer byte for byte (SSE included).

    With `enrich_for`, the JSON answer gains the `/api/v0` ``stats``,
    ``model_info`` and ``runtime`` fields instead.
    """
    # LM Studio's own API token is not the engine's business: no auth header upstream.
    headers = {"content-type": "application/json", "accept-encoding": "identity"}
    client = httpx.AsyncClient(timeout=httpx.Timeout(None, connect=10.0))
    started = time.monotonic()
    try:
        upstream = await client.send(client.build_request("POST", url, content=raw, headers=headers), stream=True)
    except httpx.HTTPError as exc:
        await client.aclose()
        return JSONResponse({"error": f"upstream unreachable: {exc}"}, status_code=500)

    if enrich_for is not None:
        try:
            content = await upstream.aread()
        finally:
            await upstream.aclose()
            await client.aclose()
        return _enriched(content, upstream, enrich_for, time.monotonic() - started)

    async def relay() -> AsyncIterator[bytes]:
        # `finally` also covers a client that hangs up mid-stream.
        try:
            async for chunk in upstream.aiter_raw():
                yield chunk
        finally:
            await upstream.aclose()
            await client.aclose()

    return StreamingResponse(
        relay(),
        status_code=upstream.status_code,
        media_type=upstream.headers.get("content-type"),
    )


def _enriched(content: bytes, upstream: httpx.Response, model: FakeModel, elapsed: float) -> Response:
    """Add the documented `/api/v0` extras to a successful upstream completion."""
    media_type = upstream.headers.get("content-type")
    try:
        payload = json.loads(content)
    except ValueError:
        payload = None
    if upstream.status_code != 200 or not isinstance(payload, dict):
        return Response(content, status_code=upstream.status_code, media_type=media_type)
    usage = _as_dict(payload.get("usage"))
    timings = _as_dict(payload.get("timings"))
    choices = payload.get("choices") or [{}]
    finish = choices[0].get("finish_reason") if isinstance(choices[0], dict) else None
    completion_tokens = usage.get("completion_tokens") or 0
    generation_time = float(timings.get("predicted_ms", elapsed * 1000.0)) / 1000.0
    tokens_per_second = timings.get("predicted_per_second")
    if tokens_per_second is None:
        tokens_per_second = completion_tokens / generation_time if generation_time > 0 else 0.0
    payload["stats"] = {
        "tokens_per_second": float(tokens_per_second),
        "time_to_first_token": float(timings.get("prompt_ms", 0.0)) / 1000.0,
        "generation_time": generation_time,
        "stop_reason": _STOP_REASONS.get(str(finish), "eosFound"),
    }
    payload["model_info"] = {
        "arch": model.arch,
        "quant": model.quantization,
        "format": model.compatibility_type,
        "context_length": model.loaded_context_length or model.max_context_length,
    }
    payload["runtime"] = dict(_RUNTIME)
    return JSONResponse(payload)


def _opt_int(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else None


def _as_dict(value: object) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


class FakeLMStudio:
    """Runs the fake on 127.0.0.1 (a free port) in a background thread.

    A real socket rather than an ASGI transport, so the code under test talks HTTP
    exactly as it would to LM Studio (the OpenAI SDK, streaming, timeouts).
    """

    def __init__(
        self,
        *,
        models: list[FakeModel],
        upstream: str | None = None,
        jit: bool = True,
        auto_evict: bool = True,
        host: str = "127.0.0.1",
        version: str = "0.4",
        api_token: str | None = None,
    ) -> None:
        self.app = create_app(
            upstream=upstream, models=models, jit=jit, auto_evict=auto_evict, version=version, api_token=api_token
        )
        self.host = host
        self.port = 0
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self._socket: socket.socket | None = None

    @property
    def url(self) -> str:
        """Server root, e.g. ``http://127.0.0.1:PORT`` (the OpenAI base is ``url + "/v1"``)."""
        return f"http://{self.host}:{self.port}"

    @property
    def requests(self) -> list[dict[str, Any]]:
        """Every POSTed JSON body, in arrival order."""
        requests: list[dict[str, Any]] = self.app.state.requests
        return requests

    @property
    def models(self) -> dict[str, FakeModel]:
        """The live model table, keyed by id."""
        models: dict[str, FakeModel] = self.app.state.models
        return models

    def __enter__(self) -> FakeLMStudio:
        # Bind first and hand uvicorn the socket: no race for the port.
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((self.host, 0))
        self.port = sock.getsockname()[1]
        self._socket = sock
        config = uvicorn.Config(
            self.app,
            log_level="warning",
            access_log=False,
            lifespan="off",
            ws="none",
            http="h11",
            loop="asyncio",
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, kwargs={"sockets": [sock]}, daemon=True)
        self._thread.start()
        deadline = time.monotonic() + 10.0
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                self._stop()
                raise RuntimeError("fake LM Studio did not start")
            time.sleep(0.01)
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._stop()

    def _stop(self) -> None:
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=10.0)
        if self._socket is not None:
            self._socket.close()
        self._server = self._thread = self._socket = None
