"""The live half of the ``anthropic`` engine: its params, key handling, ``start()`` and
``POST /v1/messages`` — many requests in flight over one aiohttp session, retries with backoff,
one failure fails only its request."""

from __future__ import annotations

import asyncio
import logging
import os
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlsplit

from pydantic import Field, field_validator

from curate import (Backoff, BatchParams, ChatRequest, ChatResult, check_env_name, describe_error as describe,
                    EngineError, env_proxy, is_local_host, is_retryable, OnResult, post_retrying, retry_after_seconds,
                    RetryParams, run_pool, run_sync)
from curate_anthropic import wire

log = logging.getLogger("curate.anthropic")

USER_AGENT = "curate-anthropic/0.1"
#: Longest wait for ``GET /v1/models/{model}`` in :meth:`AnthropicEngine.start`.
START_TIMEOUT = 30.0


class AnthropicParams(BatchParams, RetryParams):
    model: str = Field(description="Claude model id or alias, e.g. `claude-sonnet-4-5` or `claude-haiku-4-5`.")
    base_url: str = Field("https://api.anthropic.com",
                          description="API root that `/v1/messages` hangs off (a trailing `/v1` is dropped), "
                                      "e.g. a gateway's URL.")
    api_key_env: str | None = Field(
        "ANTHROPIC_API_KEY",
        description="Name of the environment variable holding the API key (the key itself never goes in a "
                    "recipe). Sent as `x-api-key`. `null`: never send a key (a local gateway).")
    anthropic_version: str = Field("2023-06-01", description="The `anthropic-version` header: the API version.")
    max_in_flight: int = Field(32, ge=1, le=10_000,
                               description="Requests in flight at once (one connection each); mind your "
                                           "organisation's rate limits.")
    extra_body: dict[str, Any] = Field(
        default_factory=dict,
        description="Extra JSON fields merged into every request body (last, so they win), e.g. `{top_k: 40}` "
                    "or `{metadata: {user_id: team-a}}`. Part of the identity.")

    # Message Batches limits: 100,000 requests or 256 MB per batch.
    batch_max_requests: int = Field(100_000, ge=1, le=100_000, description="Requests per batch (Anthropic: at "
                                                                            "most 100,000).")
    batch_max_bytes: int = Field(256_000_000, ge=1024, le=256_000_000,
                                 description="Bytes of requests per batch (Anthropic: at most 256 MB).")

    @field_validator("base_url")
    @classmethod
    def _url(cls, value: str) -> str:
        parts = urlsplit(value.strip())
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"base_url must be an http(s) URL such as https://api.anthropic.com, got {value!r}")
        if parts.username or parts.password:
            raise ValueError("base_url must not carry credentials; put the key in the environment variable "
                             "named by api_key_env")
        url = value.strip().rstrip("/")
        return url[:-3] if url.endswith("/v1") else url  # the paths carry /v1, as in Anthropic's own clients

    @field_validator("api_key_env")
    @classmethod
    def _env_name(cls, value: str | None) -> str | None:
        return check_env_name(value, "ANTHROPIC_API_KEY")



@dataclass
class _Failed:
    reason: str
    attempts: int



class AnthropicLive:
    """The live half of the engine: key handling, the session, ``start()`` and ``POST /v1/messages``.

    Mixed into :class:`curate_anthropic.AnthropicEngine`, which adds the batch half."""

    name: str
    params: AnthropicParams

    def _live_init(self) -> None:
        #: Retries and failed requests since the engine was made (all generate calls).
        self.retries = 0
        self.failures = 0
        self._async_sleep = asyncio.sleep  # live backoff waits; tests swap in a recorder

    # --- identity -------------------------------------------------------------------------
    def identity(self) -> dict[str, Any]:
        p = self.params
        ident: dict[str, Any] = {"backend": self.name, "model": p.model, "base_url": p.base_url}
        if p.extra_body:  # changes outputs (top_k, thinking)
            ident["extra_body"] = p.extra_body
        return ident

    # --- key ------------------------------------------------------------------------------
    def _api_key(self) -> str | None:
        env = self.params.api_key_env
        return (os.environ.get(env) or None) if env else None

    def _redact(self, text: str) -> str:
        key = self._api_key()
        return text.replace(key, "***") if key and len(key) >= 4 else text

    def _headers(self) -> dict[str, str]:
        headers = {"Content-Type": "application/json", "Accept": "application/json", "User-Agent": USER_AGENT,
                   "anthropic-version": self.params.anthropic_version}
        key = self._api_key()
        if key:
            headers["x-api-key"] = key
        return headers

    def _session(self, timeout: float, limit: int) -> Any:
        import aiohttp

        # One session (connection pool) per call; the proxy is looked up once (env_proxy), no cookies.
        connector = aiohttp.TCPConnector(limit=limit, limit_per_host=0, ttl_dns_cache=300, keepalive_timeout=30)
        return aiohttp.ClientSession(connector=connector, headers=self._headers(), cookie_jar=aiohttp.DummyCookieJar(),
                                     timeout=aiohttp.ClientTimeout(total=timeout))

    def _where(self) -> str:
        return f"engine anthropic ({self.params.model})"

    # --- start ----------------------------------------------------------------------------
    def start(self) -> None:
        p = self.params
        host = urlsplit(p.base_url).hostname or ""
        if p.api_key_env and not self._api_key() and not is_local_host(host):
            raise EngineError(
                f"{self._where()}: no API key: the environment variable {p.api_key_env} is not set. Export it "
                f"(export {p.api_key_env}=...), or set `api_key_env: null` if this gateway needs no key")
        try:
            run_sync(self._check_server)
        except EngineError as exc:
            raise EngineError(self._redact(str(exc))) from None

    async def _check_server(self) -> None:
        """``GET /v1/models/{model}``: the server answers, accepts the key and knows the model
        (aliases such as ``claude-sonnet-4-5`` resolve there)."""
        import aiohttp

        p = self.params
        url = f"{p.base_url}/v1/models/{quote(p.model, safe='')}"
        where = self._where()
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
                    raise EngineError(f"{where}: cannot reach the Anthropic API at {p.base_url} "
                                      f"({describe(getattr(exc, 'os_error', None) or exc)}); check `base_url` and "
                                      "the network") from None
                except (asyncio.TimeoutError, TimeoutError, aiohttp.ClientError) as exc:
                    timed_out = isinstance(exc, (asyncio.TimeoutError, TimeoutError))
                    reason = f"no answer within {timeout:g} s" if timed_out else describe(exc)
                    status, raw = 0, reason.encode()
                if status == 200:
                    return None
                reason = wire.body_reason(raw) if status else raw.decode()
                if status in (401, 403):
                    env = p.api_key_env
                    fix = (f"set the environment variable {env} to a valid key" if env else
                           "set `api_key_env` to the name of the environment variable holding the key")
                    raise EngineError(f"{where}: {p.base_url} refused the API key (HTTP {status}: {reason}); {fix}")
                if status == 404 and "not_found_error" in reason:
                    raise EngineError(f"{where}: {p.base_url} does not know the model {p.model!r} ({reason}). Set "
                                      "`model` to a Claude model id or alias, e.g. claude-sonnet-4-5")
                if status and not is_retryable(status):
                    log.warning("%s: GET %s returned HTTP %d (%s); not checking that the model exists",
                                where, url, status, reason)
                    return None
                if attempt < p.max_attempts:
                    wait = None if retry_after is None else min(retry_after, p.backoff_max)
                    await self._async_sleep(backoff.delay(attempt, wait))
            what = f"HTTP {status}: {reason}" if status else reason
            raise EngineError(f"{where}: the API at {p.base_url} is not healthy: GET /v1/models/{p.model} failed "
                              f"{p.max_attempts} time(s), last: {what}")

    # --- generate -------------------------------------------------------------------------
    def generate_live(self, requests: list[ChatRequest], on_result: OnResult | None = None) -> list[ChatResult]:
        if not requests:
            return []
        return run_sync(lambda: self._generate(requests, on_result))

    async def _generate(self, requests: list[ChatRequest], on_result: OnResult | None) -> list[ChatResult]:
        """Every sample is its own request (the API has no ``n``); a request's result is delivered
        when its last sample is in."""
        p = self.params
        url = f"{p.base_url}/v1/messages"
        proxy = env_proxy(url)
        units = [(i, k) for i, r in enumerate(requests) for k in range(r.sampling.n)]
        samples: list[list[wire.Sample | _Failed | None]] = [[None] * r.sampling.n for r in requests]
        remaining = [r.sampling.n for r in requests]
        results: list[ChatResult | None] = [None] * len(requests)

        def on_sample(unit: tuple[int, int, wire.Sample | _Failed]) -> None:
            i, k, sample = unit
            samples[i][k] = sample
            remaining[i] -= 1
            if remaining[i] == 0:
                results[i] = self._result(requests[i], samples[i])  # type: ignore[arg-type]
                if on_result is not None:
                    on_result(results[i])  # type: ignore[arg-type]

        async with self._session(p.timeout, p.max_in_flight) as session:
            await run_pool(len(units), p.max_in_flight,
                           lambda u: self._sample(session, url, proxy, requests[units[u][0]], *units[u]), on_sample)
        return results  # type: ignore[return-value]

    async def _sample(self, session: Any, url: str, proxy: str | None, req: ChatRequest, i: int,
                      k: int) -> tuple[int, int, wire.Sample | _Failed]:
        """One sample, with retries; never raises for a failed request."""
        p = self.params
        try:
            body = wire.dumps(wire.request_body(req, p.model, extra_body=p.extra_body))
        except (TypeError, ValueError) as exc:
            return i, k, _Failed(f"cannot send the request: {exc}", 0)

        def on_ok(raw: bytes, attempt: int) -> tuple[int, int, wire.Sample | _Failed] | str:
            try:
                data = wire.loads(raw)
            except ValueError:
                return f"HTTP 200 with a body that is not JSON: {wire.body_reason(raw)}"
            sample = wire.parse_message(data, req.json_schema)
            return i, k, (_Failed(sample, attempt) if isinstance(sample, str) else sample)

        return await post_retrying(
            session, url, proxy, body, params=p, on_ok=on_ok, fail=lambda reason, n: (i, k, _Failed(reason, n)),
            on_retry=lambda reason, attempt, delay: self._retry(req.id, reason, attempt, delay),
            body_reason=wire.body_reason)

    def _result(self, req: ChatRequest, samples: list[wire.Sample | _Failed]) -> ChatResult:
        failed = [(k, s) for k, s in enumerate(samples) if isinstance(s, _Failed)]
        if failed:
            k, first = failed[0]
            which = f"sample {k + 1} of {len(samples)}: " if len(samples) > 1 else ""
            return self._failed(req, which + first.reason, first.attempts)
        ok = [s for s in samples if isinstance(s, wire.Sample)]
        return ChatResult(req.id, [s.completion for s in ok], prompt_tokens=sum(s.prompt_tokens for s in ok),
                          completion_tokens=sum(s.completion_tokens for s in ok))

    async def _retry(self, request_id: str, reason: str, attempt: int, delay: float) -> None:
        self.retries += 1
        log.debug("%s request %s: %s; retry %d/%d in %.2f s", self.name, request_id, self._redact(reason), attempt,
                  self.params.max_attempts - 1, delay)
        await self._async_sleep(delay)

    def _failed(self, req: ChatRequest, reason: str, attempts: int) -> ChatResult:
        self.failures += 1
        tail = f" (after {attempts} attempt{'s' if attempts != 1 else ''})" if attempts else ""
        return ChatResult(req.id, error=self._redact(reason + tail))
