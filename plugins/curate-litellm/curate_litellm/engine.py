"""The ``litellm`` engine: any provider LiteLLM speaks (``provider/model``) through
``litellm.acompletion``, with curate's own retries, concurrency bound and error isolation."""

from __future__ import annotations

import asyncio
import logging
import os
import re
from typing import Any

from pydantic import Field, field_validator

from curate import (Backoff, ChatEngine, ChatRequest, ChatResult, check_env_name, Completion, EngineError,
                    is_retryable, MAX_RETRY_AFTER, OnResult, retry_after_seconds, RetryParams, run_sync)

log = logging.getLogger("curate.litellm")

MAX_REASON_CHARS = 500
_SCHEMA_NAME = re.compile(r"[^A-Za-z0-9_-]+")
#: LiteLLM exceptions that are worth another attempt whatever their status says.
TRANSIENT = ("Timeout", "APIConnectionError", "RateLimitError", "ServiceUnavailableError", "InternalServerError",
             "BadGatewayError")


def import_litellm() -> Any:
    """LiteLLM, imported on first use (it is large) and quiet: no download of its price map at
    import (there may be no network), no telemetry, no debug banners."""
    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    try:
        import litellm
    except ImportError:
        raise EngineError("engine litellm: the litellm package is not installed: pip install litellm "
                          "(or pip install curate-litellm)") from None
    litellm.telemetry = False
    litellm.suppress_debug_info = True
    return litellm


class LiteLLMParams(RetryParams):
    model: str = Field(description="`provider/model` as LiteLLM names it: `openai/gpt-4o-mini`, "
                                   "`anthropic/claude-haiku-4-5`, `gemini/gemini-2.0-flash`, `ollama/llama3`, "
                                   "`openai/<name>` with `api_base` for any OpenAI-compatible server.")
    api_base: str | None = Field(None, description="Server root, for self-hosted or proxied models (e.g. "
                                                    "`http://127.0.0.1:8000/v1`); default: the provider's.")
    api_key_env: str | None = Field(
        None, description="Name of the environment variable holding the API key, passed to LiteLLM (the key itself "
                          "never goes in a recipe). `null`: LiteLLM reads the provider's usual variable "
                          "(OPENAI_API_KEY, ANTHROPIC_API_KEY, ...).")
    max_in_flight: int = Field(32, ge=1, le=10_000, description="Requests in flight at once.")
    extra_params: dict[str, Any] = Field(
        default_factory=dict,
        description="Extra keyword arguments for `litellm.acompletion` (last, so they win), e.g. `{top_k: 20}` or "
                    "`{reasoning_effort: low}`. Part of the identity.")

    @field_validator("model")
    @classmethod
    def _provider(cls, value: str) -> str:
        if "/" not in value.strip("/"):
            raise ValueError(f"model must be `provider/model` (e.g. openai/{value} or anthropic/{value}), got "
                             f"{value!r}: the provider is part of what makes answers differ")
        return value

    @field_validator("api_key_env")
    @classmethod
    def _env_name(cls, value: str | None) -> str | None:
        return check_env_name(value, "OPENAI_API_KEY")

    @field_validator("extra_params")
    @classmethod
    def _no_secrets(cls, value: dict[str, Any]) -> dict[str, Any]:
        for key in value:
            name = key.lower()
            if any(word in name for word in ("key", "secret", "password")) or (
                    "token" in name and not name.endswith("tokens")):
                raise ValueError(f"extra_params must not carry {key!r}: keys go in the environment variable named by "
                                 "api_key_env, never in a recipe")
        return value



class LiteLLMEngine(ChatEngine):
    """Any provider LiteLLM supports (`provider/model`), through `litellm.acompletion`."""

    name = "litellm"
    Params = LiteLLMParams
    supports_json_schema = True  # LiteLLM maps response_format to each provider's way

    def __init__(self, params: Any = None, **kwargs: Any):
        super().__init__(params, **kwargs)
        self.retries = 0
        self.failures = 0
        self._sleep = asyncio.sleep  # backoff waits; tests swap in a recorder

    def identity(self) -> dict[str, Any]:
        p = self.params
        ident: dict[str, Any] = {"backend": self.name, "model": p.model}
        if p.api_base:
            ident["api_base"] = p.api_base.rstrip("/")
        if p.extra_params:
            ident["extra_params"] = p.extra_params
        return ident

    # --- key ------------------------------------------------------------------------------
    def _api_key(self) -> str | None:
        env = self.params.api_key_env
        return (os.environ.get(env) or None) if env else None

    def _redact(self, text: str) -> str:
        key = self._api_key()
        return text.replace(key, "***") if key and len(key) >= 4 else text

    # --- start ----------------------------------------------------------------------------
    def start(self) -> None:
        litellm = import_litellm()
        p = self.params
        if p.api_key_env and not self._api_key():
            raise EngineError(f"engine litellm ({p.model}): no API key: the environment variable {p.api_key_env} is "
                              f"not set. Export it (export {p.api_key_env}=...), or set `api_key_env: null` to let "
                              "LiteLLM read the provider's usual variable")
        try:
            litellm.get_llm_provider(p.model, api_base=p.api_base)
        except Exception as exc:  # noqa: BLE001 - LiteLLM's way to say "unknown provider"
            raise EngineError(self._redact(f"engine litellm: LiteLLM does not know the model {p.model!r} "
                                           f"({_clip(str(exc))}); name it `provider/model`, see "
                                           "https://docs.litellm.ai/docs/providers")) from None

    # --- generate -------------------------------------------------------------------------
    def generate(self, requests: list[ChatRequest], on_result: OnResult | None = None) -> list[ChatResult]:
        if not requests:
            return []
        litellm = import_litellm()
        return run_sync(lambda: self._generate(litellm, requests, on_result))

    async def _generate(self, litellm: Any, requests: list[ChatRequest],
                        on_result: OnResult | None) -> list[ChatResult]:
        results: list[ChatResult | None] = [None] * len(requests)
        limit = asyncio.Semaphore(self.params.max_in_flight)

        async def one(i: int) -> None:
            async with limit:
                results[i] = await self._complete(litellm, requests[i])
            if on_result is not None:
                on_result(results[i])  # type: ignore[arg-type]

        tasks = [asyncio.ensure_future(one(i)) for i in range(len(requests))]
        try:
            await asyncio.gather(*tasks)
        except BaseException:  # on_result raised, or Ctrl-C: abandon the rest
            for t in tasks:
                t.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            raise
        return results  # type: ignore[return-value]

    def _kwargs(self, req: ChatRequest) -> dict[str, Any]:
        p, s = self.params, req.sampling
        kwargs: dict[str, Any] = {"model": p.model, "messages": req.messages, "temperature": s.temperature,
                                  "top_p": s.top_p, "max_tokens": s.max_tokens, "timeout": p.timeout,
                                  "num_retries": 0}  # retries are ours, with the openai engine's rules
        if s.n != 1:
            kwargs["n"] = s.n
        if s.seed is not None:
            kwargs["seed"] = s.seed
        if s.stop:
            kwargs["stop"] = list(s.stop)
        if s.logprobs is not None:
            kwargs["logprobs"], kwargs["top_logprobs"] = True, s.logprobs
        if req.json_schema is not None:
            title = req.json_schema.get("title") if isinstance(req.json_schema, dict) else None
            name = _SCHEMA_NAME.sub("_", str(title or "response")).strip("_")[:64] or "response"
            kwargs["response_format"] = {"type": "json_schema",
                                         "json_schema": {"name": name, "schema": req.json_schema, "strict": True}}
        if p.api_base:
            kwargs["api_base"] = p.api_base
        key = self._api_key()
        if key:
            kwargs["api_key"] = key
        kwargs.update(p.extra_params)
        return kwargs

    async def _complete(self, litellm: Any, req: ChatRequest) -> ChatResult:
        """One request, with retries; never raises for a failed request."""
        p = self.params
        backoff = Backoff(p.backoff_base, p.backoff_max)
        reason = ""
        for attempt in range(1, p.max_attempts + 1):
            retry_after = None
            try:
                response = await litellm.acompletion(**self._kwargs(req))
                return self._parse(req, response, attempt)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - every failure is this request's only
                status = _status(exc)
                reason = f"{type(exc).__name__}" + (f" (HTTP {status})" if status else "") + f": {_clip(str(exc))}"
                transient = type(exc).__name__ in TRANSIENT or (status is not None and is_retryable(status))
                if not transient:
                    return self._failed(req, reason, attempt)
                retry_after = _retry_after(exc)
                if retry_after is not None and retry_after > MAX_RETRY_AFTER:
                    return self._failed(req, f"{reason}; the server asks to retry after {retry_after:.0f} s, over "
                                             f"the {MAX_RETRY_AFTER:.0f} s limit", attempt)
            if attempt < p.max_attempts:
                delay = backoff.delay(attempt, retry_after)
                self.retries += 1
                log.debug("litellm request %s: %s; retry %d/%d in %.2f s", req.id, self._redact(reason), attempt,
                          p.max_attempts - 1, delay)
                await self._sleep(delay)
        return self._failed(req, reason, p.max_attempts)

    def _parse(self, req: ChatRequest, response: Any, attempt: int) -> ChatResult:
        completions: list[Completion] = []
        for choice in sorted(response.choices, key=lambda c: getattr(c, "index", 0) or 0):
            content = choice.message.content
            if not isinstance(content, str):
                return self._failed(req, f"choice {choice.index}: no text content (tool call or empty message)",
                                    attempt)
            logprobs = getattr(choice, "logprobs", None)
            if logprobs is not None and not isinstance(logprobs, list):
                logprobs = getattr(logprobs, "content", None)
                logprobs = [lp.model_dump() if hasattr(lp, "model_dump") else lp for lp in logprobs or []] or None
            completions.append(Completion(content, choice.finish_reason, logprobs))
        if not completions:
            return self._failed(req, "invalid response: no choices", attempt)
        usage = getattr(response, "usage", None)
        return ChatResult(req.id, completions, prompt_tokens=int(getattr(usage, "prompt_tokens", 0) or 0),
                          completion_tokens=int(getattr(usage, "completion_tokens", 0) or 0))

    def _failed(self, req: ChatRequest, reason: str, attempts: int) -> ChatResult:
        self.failures += 1
        tail = f" (after {attempts} attempt{'s' if attempts != 1 else ''})" if attempts else ""
        return ChatResult(req.id, error=self._redact(reason + tail))


def _status(exc: BaseException) -> int | None:
    status = getattr(exc, "status_code", None)
    return status if isinstance(status, int) and status >= 100 else None


def _retry_after(exc: BaseException) -> float | None:
    response = getattr(exc, "response", None)
    headers = getattr(response, "headers", None)
    if headers is None:
        return None
    try:
        return retry_after_seconds({k.lower(): v for k, v in headers.items()})
    except Exception:  # noqa: BLE001 - a malformed header is no header
        return None


def _clip(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= MAX_REASON_CHARS else text[:MAX_REASON_CHARS] + "..."
