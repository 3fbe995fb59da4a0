"""The OpenAI chat-completions wire format: request bodies out, results in."""

from __future__ import annotations

import json
import re
from typing import Any

from curate import ChatRequest, ChatResult, Completion

try:  # orjson is several times faster at the sizes a chat body has; json is the fallback.
    import orjson

    def dumps(obj: Any) -> bytes:
        return orjson.dumps(obj)

    loads = orjson.loads
except ImportError:  # pragma: no cover - orjson is a declared dependency
    def dumps(obj: Any) -> bytes:
        return json.dumps(obj, ensure_ascii=False).encode()

    loads = json.loads

_SCHEMA_NAME = re.compile(r"[^A-Za-z0-9_-]+")
MAX_REASON_CHARS = 500


def schema_name(schema: dict[str, Any]) -> str:
    """OpenAI wants ``^[A-Za-z0-9_-]{1,64}$``; use the schema's title when it has one."""
    title = schema.get("title") if isinstance(schema, dict) else None
    name = _SCHEMA_NAME.sub("_", str(title or "response")).strip("_")[:64]
    return name or "response"


def request_body(req: ChatRequest, model: str, *, max_tokens_field: str = "max_tokens",
                 extra_body: dict[str, Any] | None = None) -> dict[str, Any]:
    """The JSON body of ``POST /chat/completions`` for one request."""
    s = req.sampling
    body: dict[str, Any] = {
        "model": model,
        "messages": req.messages,
        "temperature": s.temperature,
        "top_p": s.top_p,
        max_tokens_field: s.max_tokens,
    }
    if s.n != 1:
        body["n"] = s.n
    if s.seed is not None:
        body["seed"] = s.seed
    if s.stop:
        body["stop"] = list(s.stop)
    if s.logprobs is not None:
        body["logprobs"] = True
        body["top_logprobs"] = s.logprobs
    if req.json_schema is not None:
        body["response_format"] = {
            "type": "json_schema",
            "json_schema": {"name": schema_name(req.json_schema), "schema": req.json_schema, "strict": True},
        }
    if extra_body:
        body.update(extra_body)
    return body


def parse_result(request_id: str, data: Any) -> ChatResult:
    """A 200 response body as a :class:`ChatResult` (an error result when it has no usable text)."""
    if not isinstance(data, dict):
        return ChatResult(request_id, error=f"invalid response: expected a JSON object, got {type(data).__name__}")
    if data.get("error"):
        return ChatResult(request_id, error=f"server error in a 200 response: {error_reason(data)}")
    choices = data.get("choices")
    if not isinstance(choices, list) or not choices:
        return ChatResult(request_id, error="invalid response: no choices")
    completions: list[Completion] = []
    for choice in sorted(choices, key=lambda c: c.get("index", 0) if isinstance(c, dict) else 0):
        message = choice.get("message") if isinstance(choice, dict) else None
        content = message.get("content") if isinstance(message, dict) else None
        if not isinstance(content, str):
            refusal = message.get("refusal") if isinstance(message, dict) else None
            why = f"refusal: {refusal}" if refusal else "no text content (tool call or empty message)"
            return ChatResult(request_id, error=f"choice {choice.get('index', '?')}: {why}")
        logprobs = choice.get("logprobs")
        if isinstance(logprobs, dict):
            logprobs = logprobs.get("content")
        completions.append(Completion(content, choice.get("finish_reason"), logprobs))
    usage = data.get("usage") or {}
    return ChatResult(request_id, completions, prompt_tokens=int(usage.get("prompt_tokens") or 0),
                      completion_tokens=int(usage.get("completion_tokens") or 0))


def error_reason(data: Any) -> str:
    """The human-readable reason in an error body (OpenAI ``{"error": {"message"}}``, vLLM's
    older top-level ``{"message"}``, FastAPI's ``{"detail"}``)."""
    if isinstance(data, dict):
        err = data.get("error", data)
        if isinstance(err, dict):
            for key in ("message", "detail", "msg"):
                if err.get(key):
                    text = err[key]
                    return _clip(text if isinstance(text, str) else json.dumps(text))
        elif isinstance(err, str):
            return _clip(err)
        if data.get("detail"):
            return _clip(str(data["detail"]))
    return _clip(json.dumps(data) if not isinstance(data, str) else data)


def body_reason(raw: bytes) -> str:
    """The reason in a raw error response body, JSON or not."""
    try:
        return error_reason(loads(raw))
    except ValueError:
        return _clip(raw.decode("utf-8", "replace").strip() or "(empty body)")


def _clip(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= MAX_REASON_CHARS else text[:MAX_REASON_CHARS] + "..."
