"""LM Studio: the OpenAI-compatible surface plus its native ``/api/v0`` model facts.

``/api/v0/models`` says which models are loaded and their real context length; requests
carry ``ttl`` so a JIT-loaded model stays resident between decisions.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, Sequence
from typing import Any

from conscious.errors import ModelNotFound
from conscious.think.backends.base import Limits, Message, ModelInfo, Usage
from conscious.think.backends.openai_compat import OpenAICompatBackend, positive_int


class LMStudioBackend(OpenAICompatBackend):
    server = "lmstudio"

    def __init__(self, url: str, *, ttl: int | None = None, **kwargs: Any) -> None:
        super().__init__(url, **kwargs)
        self.ttl = ttl

    async def native_models(self) -> list[dict[str, Any]]:
        data = await self._get_json(f"{self.root}/api/v0/models")
        if isinstance(data, dict) and isinstance(data.get("data"), list):
            return [m for m in data["data"] if isinstance(m, dict)]
        return []

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
