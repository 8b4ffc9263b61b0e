"""Any OpenAI-compatible server: llama.cpp's llama-server, LM Studio, Ollama, vLLM."""

from __future__ import annotations

from collections.abc import AsyncGenerator, Sequence
from typing import Any, cast

import httpx
import openai
from openai import AsyncOpenAI

from conscious.config import SchemaDialect
from conscious.errors import ContextOverflow, LLMError, LLMRejected, LLMUnavailable, ModelNotFound
from conscious.think.backends.base import Limits, Message, ModelInfo, TokenLogprob, Usage, estimate_tokens


def server_root(base_url: str) -> str:
    """``http://host:port/v1`` → ``http://host:port`` (where llama.cpp's extras live)."""
    url = base_url.rstrip("/")
    return url[: -len("/v1")] if url.endswith("/v1") else url


def translate(exc: Exception, url: str) -> LLMError:
    """One clear line for any client error; only outages are retryable."""
    if isinstance(exc, openai.APITimeoutError | httpx.TimeoutException):
        return LLMUnavailable(f"LLM server at {url} timed out")
    if isinstance(exc, openai.APIConnectionError | httpx.TransportError):
        # The transport's own words tell a refused connection from one the server dropped.
        cause = exc.__cause__ if isinstance(exc, openai.APIConnectionError) and exc.__cause__ else exc
        reason = str(cause).strip().splitlines()[0][:160] if str(cause).strip() else type(cause).__name__
        return LLMUnavailable(f"cannot reach LLM server at {url} ({reason})")
    if isinstance(exc, openai.APIStatusError):
        message = _error_message(exc)
        if exc.status_code >= 500 or exc.status_code in (401, 403):
            # Down, or refusing our credentials: either way, wait for it (nothing is decided meanwhile).
            return LLMUnavailable(f"LLM server at {url} failed ({exc.status_code}): {message}")
        if exc.status_code == 404 or ("model" in message.lower() and "not" in message.lower()):
            return ModelNotFound(f"LLM server at {url}: {message}")
        if _overflow(exc, message):
            return ContextOverflow(f"LLM server at {url}: the prompt exceeds the model's context ({message})")
        return LLMRejected(f"LLM server at {url} rejected the request ({exc.status_code}): {message}")
    return LLMError(f"LLM server at {url}: {exc}")


def _overflow(exc: openai.APIStatusError, message: str) -> bool:
    """Whether the server refused the prompt for its length: llama-server says so by the
    error's type; LM Studio and others only in words."""
    body = exc.body
    err = body.get("error", body) if isinstance(body, dict) else None
    if isinstance(err, dict) and err.get("type") == "exceed_context_size_error":
        return True
    text = message.lower()
    return "context" in text and any(w in text for w in ("exceed", "too long", "overflow", "larger", "size"))


def _error_message(exc: openai.APIStatusError) -> str:
    body = exc.body
    if isinstance(body, dict):
        err = body.get("error", body)
        if isinstance(err, dict):
            return str(err.get("message", err))[:300]
        return str(err)[:300]
    if isinstance(body, str) and body:
        return body[:300]
    return str(exc.message)[:300]


def response_format(dialect: SchemaDialect, schema: dict[str, Any] | None) -> dict[str, Any] | None:
    if schema is None or dialect == "none":
        return None
    if dialect == "json_object":
        return {"type": "json_object", "schema": schema}
    return {"type": "json_schema", "json_schema": {"name": "decision", "strict": True, "schema": schema}}


class OpenAICompatBackend:
    """Streams chat completions; asks llama.cpp's ``/tokenize`` and ``/props`` when present."""

    server = "openai-compatible"

    def __init__(
        self,
        url: str,
        *,
        model: str | None = None,
        api_key: str = "lm-studio",
        dialect: SchemaDialect = "auto",
        timeout: float = 120.0,
    ) -> None:
        self.url = url.rstrip("/")
        self.root = server_root(self.url)
        self.model = model
        self.dialect: SchemaDialect = "json_schema" if dialect == "auto" else dialect
        self.exact_tokens = True
        self.logprobs = True
        """Ask for log-probabilities when a thought wants them (off once the server refuses them)."""
        # The key on the native routes too: a token-protected LM Studio asks for it on all of them.
        self.http = httpx.AsyncClient(
            timeout=httpx.Timeout(timeout, connect=5.0), headers={"Authorization": f"Bearer {api_key}"}
        )
        self.client = AsyncOpenAI(base_url=self.url, api_key=api_key, max_retries=0, timeout=timeout)

    async def aclose(self) -> None:
        await self.client.close()
        await self.http.aclose()

    async def _get_json(self, url: str) -> Any:
        try:
            response = await self.http.get(url)
        except httpx.HTTPError as exc:
            raise translate(exc, self.url) from None
        if response.status_code >= 400:
            return None
        try:
            return response.json()
        except ValueError:
            return None

    async def list_models(self) -> list[str]:
        try:
            page = await self.client.models.list()
            return [str(m.id) for m in page.data if getattr(m, "id", None)]
        except (openai.OpenAIError, httpx.HTTPError) as exc:
            raise translate(exc, self.url) from None
        except (AttributeError, TypeError, ValueError) as exc:
            raise LLMRejected(f"LLM server at {self.url} listed its models oddly: {exc!r}"[:300]) from None

    async def info(self) -> ModelInfo:
        models = await self.list_models()
        model = self.model or (models[0] if models else None)
        if model is None:
            raise ModelNotFound(f"LLM server at {self.url} has no model loaded")
        self.model = model
        props = await self._get_json(f"{self.root}/props")
        n_ctx: object = None
        if isinstance(props, dict):
            settings = props.get("default_generation_settings")
            n_ctx = (settings.get("n_ctx") if isinstance(settings, dict) else None) or props.get("n_ctx")
        return ModelInfo(model=model, context_length=positive_int(n_ctx), server=self.server)

    async def tokenize(self, text: str) -> int:
        if self.exact_tokens:
            try:
                response = await self.http.post(f"{self.root}/tokenize", json={"content": text})
            except httpx.TransportError as exc:
                raise translate(exc, self.url) from None
            except httpx.HTTPError:
                return estimate_tokens(text)
            if response.status_code >= 500:
                return estimate_tokens(text)  # e.g. still loading: ask again next time
            try:
                return len(response.json()["tokens"])
            except (ValueError, KeyError, TypeError):
                # No tokenizer here (LM Studio answers unknown routes with 200 and an error).
                self.exact_tokens = False
        return estimate_tokens(text)

    def request(self, messages: Sequence[Message], schema: dict[str, Any] | None, limits: Limits) -> dict[str, Any]:
        """The request body, minus ``stream``; split out so it can be inspected."""
        body: dict[str, Any] = {
            "model": self.model or "local-model",
            "messages": list(messages),
            "max_tokens": limits.max_tokens,
            "temperature": limits.temperature,
            "top_p": limits.top_p,
        }
        extra: dict[str, Any] = {"top_k": limits.top_k, **limits.extra}
        if limits.logprobs and self.logprobs:
            body["logprobs"] = True
            body["top_logprobs"] = limits.logprobs
        fmt = response_format(self.dialect, schema)
        if fmt is not None:
            body["response_format"] = fmt
        body["extra_body"] = extra
        return body

    async def stream(
        self, messages: Sequence[Message], schema: dict[str, Any] | None, limits: Limits
    ) -> AsyncGenerator[str | Usage, None]:
        tried: list[SchemaDialect] = []
        while True:
            body = self.request(messages, schema, limits)
            try:
                stream = await self.client.chat.completions.create(
                    stream=True, stream_options={"include_usage": True}, **body
                )
                break
            except (openai.OpenAIError, httpx.HTTPError) as exc:
                error = translate(exc, self.url)
                # Servers speak different structured-output dialects: on a refusal that names
                # it, fall back to the next one and remember what worked.
                if limits.logprobs and self.logprobs and isinstance(error, LLMRejected) and "logprob" in str(error):
                    self.logprobs = False  # not offered by this server: ask without them from now on
                    continue
                tried.append(self.dialect)
                nxt = next((d for d in DIALECTS if d not in tried), None)
                if schema is None or not isinstance(error, LLMRejected) or not _about_format(error) or nxt is None:
                    raise error from None
                self.dialect = nxt
        usage = Usage()
        try:
            async for chunk in stream:
                extra = chunk.model_extra or {}
                timings = extra.get("timings")
                if isinstance(timings, dict):
                    usage.processed_tokens = _int(timings.get("prompt_n"), usage.processed_tokens)
                    usage.cached_tokens = _int(timings.get("cache_n"), usage.cached_tokens)
                    usage.completion_tokens = _int(timings.get("predicted_n"), usage.completion_tokens)
                    usage.prompt_ms = timings.get("prompt_ms", usage.prompt_ms)
                    usage.predicted_ms = timings.get("predicted_ms", usage.predicted_ms)
                if chunk.usage is not None:
                    u = chunk.usage
                    usage.completion_tokens = u.completion_tokens
                    details = u.prompt_tokens_details
                    if details is not None and details.cached_tokens is not None:
                        usage.cached_tokens = details.cached_tokens
                    usage.prompt_tokens = u.prompt_tokens
                for choice in chunk.choices:
                    if choice.logprobs is not None and choice.logprobs.content:
                        usage.logprobs += [
                            TokenLogprob(c.token, c.logprob, tuple((a.token, a.logprob) for a in c.top_logprobs or ()))
                            for c in choice.logprobs.content
                        ]
                    if choice.delta.content:
                        yield choice.delta.content
        except (openai.OpenAIError, httpx.HTTPError) as exc:
            raise translate(exc, self.url) from None
        except (AttributeError, TypeError, ValueError, KeyError) as exc:
            raise LLMRejected(f"LLM server at {self.url} sent a malformed stream: {exc!r}"[:300]) from None
        finally:
            await stream.close()
        yield usage


def positive_int(value: object) -> int | None:
    """A context length from a server's JSON, or None when it is not a usable number."""
    try:
        n = int(value)  # type: ignore[call-overload]
    except (TypeError, ValueError, OverflowError):
        return None
    return n if n > 0 else None


DIALECTS: tuple[SchemaDialect, ...] = ("json_schema", "json_object", "none")


def _about_format(error: LLMError) -> bool:
    text = str(error).lower()
    return any(word in text for word in ("response_format", "json_schema", "json_object", "schema", "grammar"))


def _int(value: object, default: int | None) -> int | None:
    return int(cast(int, value)) if isinstance(value, int | float) else default
