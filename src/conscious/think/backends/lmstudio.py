"""LM Studio: the OpenAI-compatible surface plus its native REST API's model facts.

LM Studio 0.4's ``/api/v1/models`` (else, on older versions, ``/api/v0/models``) says which
models are loaded and their real context length; ``/api/v1/models/load`` loads one at the
context length we will budget for (before 0.4: the ``lms`` CLI, ``lms_load``). An API token,
when LM Studio requires one, goes on every route, native and OpenAI-compatible alike. Requests
carry ``ttl`` so a JIT-loaded model stays resident between decisions.
"""

from __future__ import annotations

import re
import shutil
from collections.abc import AsyncGenerator, Sequence
from typing import Any

import httpx

from conscious.errors import CommandNotFound, LLMError, LLMUnavailable, ModelNotFound
from conscious.system.process import run_process
from conscious.think.backends.base import Limits, Message, ModelInfo, Usage
from conscious.think.backends.openai_compat import OpenAICompatBackend, positive_int


class LMStudioBackend(OpenAICompatBackend):
    server = "lmstudio"

    def __init__(self, url: str, *, ttl: int | None = None, **kwargs: Any) -> None:
        super().__init__(url, **kwargs)
        self.ttl = ttl
        self.v1: bool | None = None
        """Whether this LM Studio speaks the v1 REST API (None: not asked yet)."""

    async def native_models(self) -> list[dict[str, Any]]:
        """Each model in the v0 shape: ``id``, ``type``, ``state``, ``loaded_context_length``,
        ``max_context_length`` (read from v1 where it exists)."""
        if self.v1 is not False:
            data = await self._get_json(f"{self.root}/api/v1/models")
            if isinstance(data, dict) and isinstance(data.get("models"), list):
                self.v1 = True
                return [_from_v1(m) for m in data["models"] if isinstance(m, dict)]
            self.v1 = False
        data = await self._get_json(f"{self.root}/api/v0/models")
        if isinstance(data, dict) and isinstance(data.get("data"), list):
            return [m for m in data["data"] if isinstance(m, dict)]
        return []

    async def load(self, model: str, context_length: int | None) -> bool:
        """Load ``model`` through the v1 API; False when this LM Studio has none (before 0.4)."""
        if not self.v1:
            return False
        body: dict[str, Any] = {"model": model}
        if context_length:
            body["config"] = {"context_length": context_length}
        try:
            response = await self.http.post(f"{self.root}/api/v1/models/load", json=body, timeout=LMS_LOAD_TIMEOUT)
        except httpx.HTTPError as exc:
            raise LLMUnavailable(f"LM Studio at {self.root} did not load {model}: {exc!r}"[:300]) from None
        if response.status_code >= 400:
            raise LLMError(f"LM Studio at {self.root} refused to load {model}: {_one_line(response.text)}")
        return True

    async def info(self) -> ModelInfo:
        models = [m for m in await self.native_models() if m.get("type", "llm") in ("llm", "vlm") and m.get("id")]
        if not models:
            return await super().info()
        chosen: dict[str, Any] | None
        if self.model:
            chosen = next((m for m in models if m.get("id") == self.model), None)
            if chosen is None:
                known = ", ".join(str(m.get("id")) for m in models[:5])
                raise ModelNotFound(f"LM Studio at {self.url} has no model {self.model!r} (it has: {known})")
        else:
            chosen = next((m for m in models if m.get("state") == "loaded"), None)
            if chosen is None:
                raise ModelNotFound(f"LM Studio at {self.url} has no model loaded; load one or set --model")
        self.model = str(chosen["id"])
        ctx = positive_int(chosen.get("loaded_context_length")) or positive_int(chosen.get("max_context_length"))
        return ModelInfo(
            model=self.model,
            context_length=ctx,
            loaded=chosen.get("state") == "loaded",
            server=self.server,
        )

    def stream(
        self, messages: Sequence[Message], schema: dict[str, Any] | None, limits: Limits
    ) -> AsyncGenerator[str | Usage, None]:
        if self.ttl is not None and "ttl" not in limits.extra:
            limits = Limits(**{**limits.__dict__, "extra": {**limits.extra, "ttl": self.ttl}})
        return super().stream(messages, schema, limits)


LMS_LOAD_TIMEOUT = 300.0
"""Seconds ``lms load`` may take: a large model read from a slow disk takes minutes."""

_ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


async def lms_load(
    model: str,
    context_length: int | None = None,
    ttl: int | None = None,
    *,
    lms: str = "lms",
    timeout: float = LMS_LOAD_TIMEOUT,
) -> bool:
    """``lms load <model> [--context-length N] [--ttl T]``; False, doing nothing, when there is no `lms`.

    A failed load is ``ModelNotFound`` and one that outlasts `timeout` ``LLMUnavailable``,
    each one line carrying what `lms` said.
    """
    binary = shutil.which(lms)
    if binary is None:
        return False
    argv = [binary, "load", model]
    if context_length is not None:
        argv += ["--context-length", str(context_length)]
    if ttl is not None:
        argv += ["--ttl", str(ttl)]
    try:
        result = await run_process(argv, timeout=timeout)
    except CommandNotFound as exc:
        raise LLMError(f"cannot run lms to load {model!r}: {exc}") from None
    if result.timed_out:
        raise LLMUnavailable(f"`lms load {model}` did not finish within {timeout:.0f}s")
    if result.exit_code != 0:
        said = _one_line(result.stderr) or _one_line(result.stdout) or "no output"
        raise ModelNotFound(f"`lms load {model}` failed (exit {result.exit_code}): {said}")
    return True


def _from_v1(model: dict[str, Any]) -> dict[str, Any]:
    instances = [i for i in model.get("loaded_instances") or [] if isinstance(i, dict)]
    config = instances[0].get("config") if instances else None
    return {
        "id": model.get("key"),
        "type": model.get("type"),
        "state": "loaded" if instances else "not-loaded",
        "loaded_context_length": config.get("context_length") if isinstance(config, dict) else None,
        "max_context_length": model.get("max_context_length"),
    }


def _one_line(text: str, limit: int = 300) -> str:
    # The whole message, folded: lms's errors are a title, the cause, then hints, so its
    # last line alone would be a hint such as "lms ls".
    folded = " ".join(line.strip() for line in _ANSI.sub("", text).splitlines() if line.strip())
    return folded if len(folded) <= limit else folded[: limit - 1] + "…"
