"""Anthropic's Messages wire format: request bodies out, results in.

A curate request is OpenAI-shaped (``system`` messages among the others, ``n`` samples, a JSON
schema); the Messages API takes ``system`` as a top-level field, one sample per request, and has
no JSON-schema mode, so structured output is asked for by forcing a single tool whose
``input_schema`` is the schema and reading the tool's input back as JSON text."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from curate import ChatRequest, Completion

try:  # orjson is several times faster at the sizes a chat body has; json is the fallback.
    import orjson

    def dumps(obj: Any) -> bytes:
        return orjson.dumps(obj)

    loads = orjson.loads
except ImportError:  # pragma: no cover - orjson is a declared dependency
    def dumps(obj: Any) -> bytes:
        return json.dumps(obj, ensure_ascii=False).encode()

    loads = json.loads

MAX_REASON_CHARS = 500
#: Anthropic's temperature range is [0, 1] (OpenAI's is [0, 2]).
MAX_TEMPERATURE = 1.0
#: Anthropic stop reasons under the names curate's stages know (``filter.response`` drops
#: ``length``); others (``pause_turn``) pass through as they are.
FINISH_REASONS = {"end_turn": "stop", "stop_sequence": "stop", "tool_use": "stop", "max_tokens": "length",
                  "refusal": "content_filter"}
#: The property a non-object schema is wrapped in (a tool's input must be an object).
WRAPPED = "value"
_TOOL_NAME = re.compile(r"[^A-Za-z0-9_-]+")


@dataclass(frozen=True)
class Tool:
    """The forced tool a JSON-schema request is sent with, and how to read its input back."""

    name: str
    wrapped: bool  # the schema is not an object: the answer is input["value"]


def tool_for(schema: dict[str, Any]) -> Tool:
    """Tool names must match ``^[a-zA-Z0-9_-]{1,64}$``; use the schema's title when it has one."""
    title = schema.get("title") if isinstance(schema, dict) else None
    name = _TOOL_NAME.sub("_", str(title or "respond")).strip("_")[:64] or "respond"
    return Tool(name, wrapped=not (isinstance(schema, dict) and schema.get("type") == "object"))


def tool_schema(schema: dict[str, Any]) -> dict[str, Any]:
    """The tool's ``input_schema``: the schema, or an object wrapping it (``$defs`` stay at the
    root, where its ``$ref``s point)."""
    if not tool_for(schema).wrapped:
        return schema
    inner = {k: v for k, v in schema.items() if k != "$defs"}
    outer: dict[str, Any] = {"type": "object", "properties": {WRAPPED: inner}, "required": [WRAPPED]}
    if "$defs" in schema:
        outer["$defs"] = schema["$defs"]
    return outer


def request_body(req: ChatRequest, model: str, *, extra_body: dict[str, Any] | None = None) -> dict[str, Any]:
    """The JSON body of ``POST /v1/messages`` for one sample of ``req``.

    Raises ``ValueError`` for what the Messages API cannot do (logprobs, a temperature over 1),
    so that the request fails with that reason instead of a 400 per attempt."""
    s = req.sampling
    if s.logprobs is not None:
        raise ValueError("the Anthropic Messages API returns no logprobs; remove `logprobs` from the stage")
    if s.temperature > MAX_TEMPERATURE:
        raise ValueError(f"temperature {s.temperature:g} is above Anthropic's maximum of 1; use 0..1")
    system = [str(m.get("content") or "") for m in req.messages if m.get("role") == "system"]
    body: dict[str, Any] = {
        "model": model,
        "max_tokens": s.max_tokens,
        "messages": [{"role": m["role"], "content": m.get("content") or ""}
                     for m in req.messages if m.get("role") != "system"],
        "temperature": s.temperature,
    }
    if system:  # lifted out of the conversation: the API has no system role
        body["system"] = "\n\n".join(system)
    if s.top_p != 1.0:  # recent Claude models reject temperature and top_p together; send it only when set
        body["top_p"] = s.top_p
    if s.stop:
        body["stop_sequences"] = list(s.stop)
    if req.json_schema is not None:
        tool = tool_for(req.json_schema)
        body["tools"] = [{"name": tool.name, "description": "Record the answer. Its input is the whole answer.",
                          "input_schema": tool_schema(req.json_schema)}]
        body["tool_choice"] = {"type": "tool", "name": tool.name}
    if extra_body:
        body.update(extra_body)
    return body


@dataclass
class Sample:
    """One Messages API answer: a completion and its tokens."""

    completion: Completion
    prompt_tokens: int
    completion_tokens: int


def parse_message(data: Any, json_schema: dict[str, Any] | None = None) -> Sample | str:
    """A ``message`` object as a :class:`Sample`, or a string saying why it is unusable."""
    if not isinstance(data, dict):
        return f"invalid response: expected a JSON object, got {type(data).__name__}"
    if data.get("type") == "error" or "error" in data:
        return f"server error in a 200 response: {error_reason(data)}"
    content = data.get("content")
    if not isinstance(content, list):
        return "invalid response: no content"
    stop = data.get("stop_reason")
    if stop == "refusal":
        return "refusal: the model declined to answer (stop_reason: refusal)"
    if json_schema is not None:
        tool = tool_for(json_schema)
        uses = [b for b in content if isinstance(b, dict) and b.get("type") == "tool_use"]
        if not uses:
            return f"no tool_use block for the JSON-schema tool {tool.name!r} (stop_reason: {stop})"
        answer = uses[0].get("input")
        if tool.wrapped and isinstance(answer, dict):
            answer = answer.get(WRAPPED)
        text = json.dumps(answer, ensure_ascii=False)
    else:  # thinking blocks and the like are not the answer
        text = "".join(str(b.get("text") or "") for b in content if isinstance(b, dict) and b.get("type") == "text")
    usage = data.get("usage") or {}
    prompt = sum(int(usage.get(k) or 0) for k in ("input_tokens", "cache_creation_input_tokens",
                                                   "cache_read_input_tokens"))
    return Sample(Completion(text, FINISH_REASONS.get(stop, stop) if stop else None), prompt,
                  int(usage.get("output_tokens") or 0))


def error_reason(data: Any) -> str:
    """The reason in an Anthropic error body, ``{"type": "error", "error": {"type", "message"}}``
    (nested deeper in batch results), or in a proxy's other shapes."""
    node = data
    for _ in range(4):  # errored batch results nest {"error": {"error": {...}}}
        if isinstance(node, dict) and isinstance(node.get("error"), dict):
            node = node["error"]
        else:
            break
    if isinstance(node, dict):
        message = node.get("message") or node.get("detail")
        if isinstance(message, str) and message:
            kind = node.get("type")
            return _clip(f"{kind}: {message}" if isinstance(kind, str) and kind not in ("error", "") else message)
        if isinstance(node.get("error"), str):
            return _clip(node["error"])
    return _clip(data if isinstance(data, str) else json.dumps(data))


def body_reason(raw: bytes) -> str:
    """The reason in a raw error response body, JSON or not."""
    try:
        return error_reason(loads(raw))
    except ValueError:
        return _clip(raw.decode("utf-8", "replace").strip() or "(empty body)")


def _clip(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= MAX_REASON_CHARS else text[:MAX_REASON_CHARS] + "..."
