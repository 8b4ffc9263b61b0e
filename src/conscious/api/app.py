"""The control API: a window onto the journal, plus the live stream.

It reads the journal and writes only what the CLI may write — the inbox and the answers to
approvals. Every route but the page itself needs ``Authorization: Bearer <token>``; without
it the answer is 401 and nothing changes. That, the Host and the body's size are checked by
``Admission`` before any body is read. Shapes are documented in docs/api.md.
"""

from __future__ import annotations

import asyncio
import json
import secrets
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime, timedelta
from importlib.resources import files
from typing import Annotated, Any, Literal, Protocol

from fastapi import APIRouter, Depends, FastAPI, Header, HTTPException, Query, Request, status
from fastapi import Path as InPath
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, Response, StreamingResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel, Field, field_validator

from conscious.api.admission import NEEDS_TOKEN, NOT_A_HOOK, Admission
from conscious.control.events import EventBus
from conscious.control.facade import Answer, Daemon, Kind, Listing
from conscious.errors import BadQuery, BadRequest, ConsciousError
from conscious.model import request as user_request

KEEPALIVE = 15.0
"""Seconds between SSE comments on a quiet stream (proxies and browsers close idle ones)."""


class Control(Daemon, Protocol):
    """What the API needs from the running daemon: the facade, and what only the API serves."""

    bus: EventBus
    stopping: asyncio.Event

    def known(self, approval_id: int) -> bool:
        """Whether the approval was ever asked for."""

    def series(self, since: str) -> dict[str, Any]: ...

    def worktrees(self) -> list[dict[str, Any]]: ...

    def has_worktree(self, task_id: int) -> bool: ...

    def metrics(self) -> bytes: ...

    def hook(self, task_id: int, token: str, event: str, payload: dict[str, Any]) -> dict[str, Any] | None:
        """An agent's hook asks about one of its tool calls (None: not this task's token)."""


class TellBody(BaseModel):
    text: str
    """What you want done or known: the same as ``conscious tell``."""

    @field_validator("text")
    @classmethod
    def _text(cls, text: str) -> str:
        try:
            return str(user_request(text).details["text"])
        except BadRequest as exc:
            raise ValueError(str(exc)) from None


class HookBody(BaseModel):
    event: Literal["pre-tool-use", "session-start"]
    payload: dict[str, Any] = Field(default_factory=dict)
    """What Claude Code gave the hook on stdin."""


class AnswerBody(BaseModel):
    reason: str | None = Field(default=None, max_length=2000)
    """Why (a denial's reason is told to the model)."""
    always: bool = False
    """Keep the answer as a rule in the daemon's config file."""
    pattern: str | None = None
    """With ``always``: the rule's regular expression (default: this exact command)."""


# At module level: FastAPI resolves the routes' annotations (strings, with PEP 563) in the
# module's namespace, not the factory's.
bearer = HTTPBearer(auto_error=False)
# SQLite's INTEGER holds no more: a larger id made sqlite3 raise, and the client got a 500.
ROW_ID_MAX = 2**63 - 1
RowId = Annotated[int | None, Query(ge=0, le=ROW_ID_MAX)]
Cursor = RowId
Id = Annotated[int, InPath(ge=0, le=ROW_ID_MAX)]


class PageQuery(BaseModel):
    """Where a list's page begins (newest first); the fields of a subclass are its filters."""

    limit: int = Field(50, ge=1, le=500)
    before: int | None = Field(None, ge=0, le=ROW_ID_MAX)
    after: int | None = Field(None, ge=0, le=ROW_ID_MAX)

    def listing(self, kind: Kind, *, routine: bool = True) -> Listing:
        filters = self.model_dump(exclude={"limit", "before", "after", "routine"})
        return Listing(kind, self.limit, self.before, self.after, routine, filters)


class ObservationsQuery(PageQuery):
    source: str | None = None
    event_type: str | None = None
    severity: str | None = None
    status: str | None = None
    decision_id: int | None = Field(None, ge=0, le=ROW_ID_MAX)


class DecisionsQuery(PageQuery):
    limit: int = Field(20, ge=1, le=500)
    action_type: str | None = None
    verdict: str | None = None
    origin: str | None = None
    target_agent: str | None = None
    routine: bool = True
    """With the routine decisions (rules that needed no judgement)."""


class TasksQuery(PageQuery):
    agent: str | None = None
    state: str | None = None


def create_app(control: Control, token: str, *, host: str | None = None) -> FastAPI:
    """``host``: the configured ``api_host``, a name the API answers to besides the loopback ones.
    Every route but the page's and the hooks' wants the API's token."""
    app = FastAPI(title="conscious", version="1", docs_url=None, redoc_url=None, openapi_url="/api/openapi.json")
    app.add_middleware(Admission, token=token, hosts=[host] if host else [])
    app.add_exception_handler(RequestValidationError, _invalid)  # type: ignore[arg-type]
    auth = [Depends(_authorised(token))]
    app.include_router(_page())
    app.include_router(_hooks(control))
    for routes in (_lists(control), _asks(control), _work(control), _live(control)):
        app.include_router(routes, dependencies=auth)
    return app


async def _invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
    # One line, and never the input echoed back (a 100 KB request came back whole).
    first = exc.errors()[0] if exc.errors() else {}
    where = ".".join(str(p) for p in first.get("loc", ()) if p != "body") or "request"
    message = str(first.get("msg", "invalid request")).removeprefix("Value error, ")
    return JSONResponse({"detail": f"{where}: {message}"[:300]}, status_code=422)


def _authorised(token: str) -> Callable[..., Awaitable[None]]:
    async def authorised(credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]) -> None:
        if credentials is None or not secrets.compare_digest(credentials.credentials.encode(), token.encode()):
            # Admission has refused it already; this stays for a route mounted without it.
            raise HTTPException(status.HTTP_401_UNAUTHORIZED, NEEDS_TOKEN, headers={"WWW-Authenticate": "Bearer"})

    return authorised


# Every action is ``async``: it runs on the daemon's own thread, where its journal connections
# and state live (a sync route would run in a worker thread). Reads are plain functions: FastAPI
# runs them in its worker threads, each with a journal connection of its own
# (``control.reader()``), so a slow one never holds the loop's thread.


def _page() -> APIRouter:
    """The live page and its files (no token: the page reads it from the URL fragment)."""
    router = APIRouter()

    static = files("conscious.api") / "static"

    @router.get("/", response_class=HTMLResponse, include_in_schema=False)
    async def live_page() -> str:
        # No data in the page itself: it reads the token from the URL fragment and asks the API.
        return (static / "index.html").read_text(encoding="utf-8")

    @router.get("/static/{name}", include_in_schema=False)
    async def asset(name: str) -> Response:
        kinds = {".js": "text/javascript", ".css": "text/css", ".svg": "image/svg+xml"}
        suffix = name[name.rfind(".") :] if "." in name else ""
        item = static / name
        if "/" in name or suffix not in kinds or not item.is_file():
            raise HTTPException(404, "no such file")
        return Response(item.read_bytes(), media_type=kinds[suffix])

    return router


def _hooks(control: Control) -> APIRouter:
    """What Claude Code's hooks in a task ask (each task's own token, not the API's)."""
    router = APIRouter()

    @router.post("/api/hooks/{task_id}")
    async def hook(task_id: Id, body: HookBody, x_conscious_hook: Annotated[str, Header()] = "") -> dict[str, Any]:
        # Not the API's token: each running task has its own, good for this route only.
        answer = control.hook(task_id, x_conscious_hook, body.event, body.payload)
        if answer is None:
            raise HTTPException(status.HTTP_403_FORBIDDEN, NOT_A_HOOK)
        return answer

    return router


def _lists(control: Control) -> APIRouter:
    """The journal, page by page: status, observations, decisions, tasks."""
    router = APIRouter()

    @router.get("/api/status")
    def get_status() -> dict[str, Any]:
        return control.status()

    def listing(asked: Listing) -> dict[str, Any]:
        try:
            return control.page(asked)
        except BadQuery as exc:
            raise HTTPException(422, str(exc)) from None

    @router.get("/api/observations")
    def observations(query: Annotated[ObservationsQuery, Query()]) -> dict[str, Any]:
        return listing(query.listing("observations"))

    @router.get("/api/decisions")
    def decisions(query: Annotated[DecisionsQuery, Query()]) -> dict[str, Any]:
        return listing(query.listing("decisions", routine=query.routine))

    @router.get("/api/tasks")
    def tasks(query: Annotated[TasksQuery, Query()]) -> dict[str, Any]:
        return listing(query.listing("tasks"))

    return router


def _asks(control: Control) -> APIRouter:
    """What you tell the loop, and your answers to what waits for you."""
    router = APIRouter()

    @router.post("/api/inbox", status_code=201)
    async def inbox(body: TellBody) -> dict[str, Any]:
        return {"id": control.tell(body.text)}

    @router.get("/api/approvals")
    async def approvals() -> dict[str, Any]:
        return {"items": control.waiting()}

    def answer(approval_id: int, given: Answer, body: AnswerBody) -> dict[str, Any]:
        if body.pattern is not None and not body.always:
            raise HTTPException(422, "pattern goes with always")
        try:
            done = control.answer(approval_id, given, reason=body.reason, always=body.always, pattern=body.pattern)
        except ConsciousError as exc:
            raise HTTPException(409 if control.known(approval_id) else 404, str(exc)) from None
        kept_in = str(done.kept_in) if done.kept_in is not None else None
        return {
            "answer": given,
            "request": done.request,
            "pattern": done.pattern,
            "also": done.also,
            "kept_in": kept_in,
        }

    @router.post("/api/approvals/{approval_id}/approve")
    async def approve(approval_id: Id, body: AnswerBody | None = None) -> dict[str, Any]:
        return answer(approval_id, "approved", body or AnswerBody())

    @router.post("/api/approvals/{approval_id}/deny")
    async def deny(approval_id: Id, body: AnswerBody | None = None) -> dict[str, Any]:
        return answer(approval_id, "denied", body or AnswerBody())

    return router


def _work(control: Control) -> APIRouter:
    """What the agents changed, and the charts of what they and the model did."""
    router = APIRouter()

    @router.get("/api/charts")
    def charts(hours: Annotated[float, Query(gt=0, le=24 * 30)] = 24.0) -> dict[str, Any]:
        """The series the live page draws: the model's decisions and the agents' tasks."""
        since = (datetime.now(UTC) - timedelta(hours=hours)).isoformat()
        return {"since": since, **control.series(since)}

    @router.get("/api/worktrees")
    def worktrees() -> dict[str, Any]:
        return {"items": control.worktrees()}

    def on_worktree(task_id: int, action: str) -> dict[str, Any]:
        try:
            return control.worktree(task_id, action)
        except ConsciousError as exc:
            raise HTTPException(409 if control.has_worktree(task_id) else 404, str(exc)) from None

    @router.get("/api/tasks/{task_id}/diff")
    def task_diff(task_id: Id) -> dict[str, Any]:
        return on_worktree(task_id, "diff")

    @router.post("/api/tasks/{task_id}/merge")
    async def task_merge(task_id: Id, sensitive: bool = False) -> dict[str, Any]:
        # `sensitive`: a person read what the branch holds for review (`conscious diff`).
        return on_worktree(task_id, "merge-sensitive" if sensitive else "merge")

    @router.post("/api/tasks/{task_id}/discard")
    async def task_discard(task_id: Id) -> dict[str, Any]:
        return on_worktree(task_id, "discard")

    return router


def _live(control: Control) -> APIRouter:
    """The live stream and the metrics."""
    router = APIRouter()

    @router.get("/api/events")
    async def events(request: Request, after: Cursor = None) -> StreamingResponse:
        since = after if after is not None else _event_id(request.headers.get("last-event-id"))
        return StreamingResponse(
            _stream(control, since),
            media_type="text/event-stream",
            headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
        )

    @router.get("/metrics", include_in_schema=False)
    async def metrics() -> Response:
        return Response(control.metrics(), media_type="text/plain; version=0.0.4; charset=utf-8")

    return router


async def _stream(control: Control, after: int | None) -> AsyncIterator[str]:
    """``hello`` (the status now), then every event as it happens, until the daemon stops."""
    subscription = control.bus.subscribe(after)
    try:
        yield "retry: 2000\n\n"
        hello = json.dumps({"ts": _now(), "status": control.status()}, default=str, ensure_ascii=False)
        yield f"event: hello\ndata: {hello}\n\n"
        while not control.stopping.is_set():
            event = await subscription.next(timeout=KEEPALIVE)
            yield ": keep-alive\n\n" if event is None else event.sse()
        yield f"event: bye\ndata: {json.dumps({'ts': _now()})}\n\n"
    finally:
        subscription.close()


def _event_id(header: str | None) -> int | None:
    # isascii: "²" is a digit to isdigit but not to int, which raised (a 500).
    return int(header) if header and header.isascii() and header.isdigit() and len(header) <= 19 else None


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")
