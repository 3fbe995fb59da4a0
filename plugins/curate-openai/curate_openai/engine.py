"""The ``openai`` engine: any OpenAI-compatible ``/chat/completions`` server, many requests in
flight over one aiohttp session, retries with backoff, one failure fails only its request."""

from __future__ import annotations

import asyncio
import logging
import os
import weakref
from typing import Any, Literal
from urllib.parse import urlsplit

from pydantic import Field, field_validator

from curate import (Backoff, BatchParams, ChatEngine, ChatRequest, ChatResult, check_env_name,
                    describe_error as _describe, EngineError, EngineRun, env_proxy, is_local_host, is_retryable,
                    LoopThread, OnResult, post_retrying, retry_after_seconds, RetryParams, run_pool, run_sync,
                    SharedSession)
from curate_openai import wire

log = logging.getLogger("curate.openai")

USER_AGENT = "curate-openai/0.1"
#: Longest wait for ``GET /models`` in :meth:`OpenAIEngine.start`.
START_TIMEOUT = 30.0
#: Served model names listed in an "unknown model" error.
MAX_LISTED_MODELS = 30


class OpenAIParams(BatchParams, RetryParams):  # batch: true sends through the Batch API (curate_openai.batch)
    model: str = Field(description="Model name as the server knows it (vLLM: the path or `--served-model-name`).")
    base_url: str = Field("https://api.openai.com/v1",
                          description="Server root that `/chat/completions` and `/models` hang off, e.g. "
                                      "`http://127.0.0.1:8000/v1` for `vllm serve`.")
    api_key_env: str | None = Field(
        "OPENAI_API_KEY",
        description="Name of the environment variable holding the API key (the key itself never goes in a "
                    "recipe). Sent as `Authorization: Bearer`. `null`: never send a key. An unset variable is "
                    "fine for local servers.")
    max_in_flight: int = Field(128, ge=1, le=10_000,
                               description="Requests in flight at once (one connection each). 64-256 keeps a "
                                           "vLLM/SGLang server busy; lower it for rate-limited hosted APIs.")
    extra_body: dict[str, Any] = Field(
        default_factory=dict,
        description="Extra JSON fields merged into every request body (last, so they win), e.g. vLLM's "
                    "`{top_k: 20, repetition_penalty: 1.05}` or `{chat_template_kwargs: {enable_thinking: false}}`.")
    max_tokens_field: Literal["max_tokens", "max_completion_tokens"] = Field(
        "max_tokens", description="Body field carrying `max_tokens`; OpenAI's reasoning models want "
                                  "`max_completion_tokens`.")

    @field_validator("base_url")
    @classmethod
    def _url(cls, value: str) -> str:
        parts = urlsplit(value.strip())
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"base_url must be an http(s) URL such as http://127.0.0.1:8000/v1, got {value!r}")
        if parts.username or parts.password:
            raise ValueError("base_url must not carry credentials; put the key in the environment variable "
                             "named by api_key_env")
        return value.strip().rstrip("/")

    @field_validator("api_key_env")
    @classmethod
    def _env_name(cls, value: str | None) -> str | None:
        return check_env_name(value, "OPENAI_API_KEY")




class OpenAIEngine(ChatEngine):
    """Any OpenAI-compatible chat completions server: OpenAI, vLLM serve, SGLang, llama.cpp, TGI."""

    name = "openai"
    Params = OpenAIParams
    supports_json_schema = True

    def __init__(self, params: Any = None, **kwargs: Any):
        super().__init__(params, **kwargs)
        #: Retries and failed requests since the engine was made (all generate calls).
        self.retries = 0
        self.failures = 0
        self._sleep = asyncio.sleep  # backoff waits; tests swap in a recorder
        # One event loop and one connection pool for all generate calls, made on first use.
        self._loop, self._pool = LoopThread(), SharedSession()
        weakref.finalize(self, self._loop.close, self._pool.close)  # an engine nobody closed
        self._batches: Any = None  # the Batch API half, with `batch: true`

    def bind(self, run: EngineRun) -> None:
        if self.params.batch:
            self.batches().bind(run)

    def batches(self) -> Any:
        """The Batch API half of this engine (:class:`curate_openai.batch.OpenAIBatches`)."""
        if self._batches is None:
            from curate_openai.batch import OpenAIBatches

            self._batches = OpenAIBatches(self)
        return self._batches

    # --- identity -------------------------------------------------------------------------
    def identity(self) -> dict[str, Any]:
        p = self.params
        ident: dict[str, Any] = {"backend": self.name, "model": p.model, "base_url": p.base_url}
        if p.extra_body:  # changes outputs (sampling knobs, templates)
            ident["extra_body"] = p.extra_body
        return ident

    def identity_exclude(self) -> set[str]:
        return {"api_key_env", "max_in_flight", "timeout", "max_attempts", "backoff_base", "backoff_max",
                "max_tokens_field"}

    # --- key ------------------------------------------------------------------------------
    def _api_key(self) -> str | None:
        env = self.params.api_key_env
        return (os.environ.get(env) or None) if env else None

    def _redact(self, text: str) -> str:
        key = self._api_key()
        return text.replace(key, "***") if key and len(key) >= 4 else text

    def _headers(self) -> dict[str, str]:
        headers = {"Content-Type": "application/json", "Accept": "application/json", "User-Agent": USER_AGENT}
        key = self._api_key()
        if key:
            headers["Authorization"] = f"Bearer {key}"
        return headers

    def _session(self, timeout: float, limit: int) -> Any:
        import aiohttp

        # generate keeps one session (connection pool) across its calls (SharedSession). No trust_env:
        # it costs two thread hops per request (netrc, proxy lookup); the proxy is looked up once
        # instead (_env_proxy). No cookies.
        connector = aiohttp.TCPConnector(limit=limit, limit_per_host=0, ttl_dns_cache=300, keepalive_timeout=30)
        return aiohttp.ClientSession(connector=connector, headers=self._headers(), cookie_jar=aiohttp.DummyCookieJar(),
                                     timeout=aiohttp.ClientTimeout(total=timeout))

    # --- start ----------------------------------------------------------------------------
    def start(self) -> None:
        p = self.params
        host = urlsplit(p.base_url).hostname or ""
        if p.api_key_env and not self._api_key() and not is_local_host(host):
            raise EngineError(
                f"engine openai ({p.model} at {p.base_url}): no API key: the environment variable "
                f"{p.api_key_env} is not set. Export it (export {p.api_key_env}=...), or set `api_key_env: null` "
                "if this server needs no key")
        try:
            run_sync(self._check_server)
        except EngineError as exc:
            raise EngineError(self._redact(str(exc))) from None

    async def _check_server(self) -> None:
        import aiohttp

        p = self.params
        url = f"{p.base_url}/models"
        where = f"engine openai ({p.model})"
        backoff = Backoff(p.backoff_base, p.backoff_max)
        timeout = min(p.timeout, START_TIMEOUT)
        async with self._session(timeout, 1) as session:
            for attempt in range(1, p.max_attempts + 1):
                retry_after = None
                try:
                    async with session.get(url, proxy=env_proxy(url)) as resp:
                        raw = await resp.read()
                        status = resp.status
                        retry_after = retry_after_seconds(resp.headers)
                except aiohttp.ClientConnectorError as exc:
                    raise EngineError(
                        f"{where}: cannot reach the OpenAI-compatible server at {p.base_url} ({_connect_reason(exc)}). "
                        f"Start one, e.g. `vllm serve {p.model} --host 127.0.0.1 --port 8000` (then base_url: "
                        "http://127.0.0.1:8000/v1), or fix `base_url`") from None
                except (asyncio.TimeoutError, TimeoutError, aiohttp.ClientError) as exc:
                    reason = f"no answer within {timeout:g} s" if isinstance(exc, (asyncio.TimeoutError, TimeoutError)) \
                        else _describe(exc)
                    status, raw = 0, reason.encode()
                if status == 200:
                    return self._check_model(raw, where)
                reason = wire.body_reason(raw) if status else raw.decode()
                if status in (401, 403):
                    env = p.api_key_env
                    fix = (f"set the environment variable {env} to a valid key" if env else
                           "set `api_key_env` to the name of the environment variable holding the key")
                    raise EngineError(f"{where}: {p.base_url} refused the API key (HTTP {status}: {reason}); {fix}")
                if status == 404:
                    hint = "" if p.base_url.endswith("/v1") else \
                        " (OpenAI-compatible servers usually serve under /v1: is base_url missing it?)"
                    log.warning("%s: GET %s returned 404; not checking that the model is served%s", where, url, hint)
                    return None
                if status and not is_retryable(status):
                    log.warning("%s: GET %s returned HTTP %d (%s); not checking that the model is served",
                                where, url, status, reason)
                    return None
                if attempt < p.max_attempts:
                    wait = None if retry_after is None else min(retry_after, p.backoff_max)
                    await self._sleep(backoff.delay(attempt, wait))
            what = f"HTTP {status}: {reason}" if status else reason
            raise EngineError(f"{where}: the server at {p.base_url} is not healthy: GET /models failed "
                              f"{p.max_attempts} time(s), last: {what}")

    def _check_model(self, raw: bytes, where: str) -> None:
        p = self.params
        try:
            data = wire.loads(raw)
            served = [m["id"] for m in data["data"] if isinstance(m, dict) and "id" in m]
        except (ValueError, KeyError, TypeError):
            log.warning("%s: %s/models did not return a model list; not checking the model", where, p.base_url)
            return
        if served and p.model not in served:
            listed = ", ".join(served[:MAX_LISTED_MODELS]) + (" ..." if len(served) > MAX_LISTED_MODELS else "")
            raise EngineError(f"{where}: model {p.model!r} is not served by {p.base_url}; it serves: {listed}. "
                              "Set `model` to one of these (vLLM: the name given to --served-model-name, "
                              "else the model path it was started with)")

    # --- generate -------------------------------------------------------------------------
    def generate(self, requests: list[ChatRequest], on_result: OnResult | None = None) -> list[ChatResult]:
        if not requests:
            return []
        if self.params.batch:  # same identity, same request cache: only the transport differs
            return self.batches().generate(requests, on_result)
        return self._loop.run(lambda: self._generate(requests, on_result))

    async def _generate(self, requests: list[ChatRequest], on_result: OnResult | None) -> list[ChatResult]:
        p = self.params
        url = f"{p.base_url}/chat/completions"
        proxy = env_proxy(url)
        session = await self._pool.get(lambda: self._session(p.timeout, p.max_in_flight))
        return await run_pool(len(requests), p.max_in_flight,
                              lambda i: self._complete(session, url, proxy, requests[i]), on_result)

    def close(self) -> None:
        """Close the connections and stop the engine's event loop (a later call starts them again)."""
        self._loop.close(self._pool.close)

    async def _complete(self, session: Any, url: str, proxy: str | None, req: ChatRequest) -> ChatResult:
        """One request, with retries; never raises for a failed request."""
        p = self.params
        try:
            body = wire.dumps(wire.request_body(req, p.model, max_tokens_field=p.max_tokens_field,
                                                extra_body=p.extra_body))
        except (TypeError, ValueError) as exc:
            return self._failed(req, f"cannot encode the request as JSON: {exc}", 0)

        def on_ok(raw: bytes, attempt: int) -> ChatResult | str:
            try:
                data = wire.loads(raw)
            except ValueError:
                return f"HTTP 200 with a body that is not JSON: {wire.body_reason(raw)}"
            result = wire.parse_result(req.id, data)
            return self._failed(req, result.error, attempt) if result.error else result

        return await post_retrying(
            session, url, proxy, body, params=p, on_ok=on_ok, fail=lambda reason, n: self._failed(req, reason, n),
            on_retry=lambda reason, attempt, delay: self._retry(req.id, reason, attempt, delay),
            body_reason=wire.body_reason,
            not_found_hint="" if p.base_url.endswith("/v1") else "is base_url missing /v1?")

    async def _retry(self, request_id: str, reason: str, attempt: int, delay: float) -> None:
        self.retries += 1
        log.debug("%s request %s: %s; retry %d/%d in %.2f s", self.name, request_id, self._redact(reason), attempt,
                  self.params.max_attempts - 1, delay)
        await self._sleep(delay)

    def _failed(self, req: ChatRequest, reason: str, attempts: int) -> ChatResult:
        self.failures += 1
        tail = f" (after {attempts} attempt{'s' if attempts != 1 else ''})" if attempts else ""
        return ChatResult(req.id, error=self._redact(reason + tail))


def _connect_reason(exc: Any) -> str:
    os_error = getattr(exc, "os_error", None)
    if isinstance(os_error, ConnectionRefusedError):
        return "connection refused"
    return _describe(os_error or exc)
