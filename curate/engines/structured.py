"""Typed answers from any engine.

:func:`generate_structured` asks for output matching a pydantic model. When the engine constrains
decoding to a JSON schema it is used; otherwise (and as a safety net) the text is parsed leniently
— code fences, JSON, YAML, numbered or bulleted lists — and validated. Answers that still fail are
re-asked a bounded number of times with the validation error, and then recorded as failures with
the raw output.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, replace
from typing import Any, Generic, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from curate.engine import ChatEngine, ChatRequest, ChatResult, OnResult

T = TypeVar("T", bound=BaseModel)

_FENCE = re.compile(r"```(?:json|yaml|yml)?\s*\n?(.*?)```", re.DOTALL | re.IGNORECASE)
_LIST_ITEM = re.compile(r"^\s*(?:\d+[.)]|[-*•])\s+(.+?)\s*$")


@dataclass
class StructuredResult(Generic[T]):
    id: str
    value: T | None
    raw: str | None
    error: str | None = None
    attempts: int = 1

    @property
    def ok(self) -> bool:
        return self.value is not None


def _json_loads(text: str) -> Any:
    # strict=False accepts raw control characters inside strings, which constrained decoders emit.
    return json.loads(text, strict=False)


def _candidates(text: str) -> list[Any]:
    """Plausible data structures in a model's text, most specific first."""
    found: list[Any] = []
    # The whole answer first: JSON whose strings contain fenced code must not be read from the fence.
    try:
        found.append(_json_loads(text.strip()))
    except json.JSONDecodeError:
        pass
    blocks = [m.group(1) for m in _FENCE.finditer(text)] or [text]
    for block in blocks:
        block = block.strip()
        for loader in (_json_loads, yaml.safe_load):
            try:
                found.append(loader(block))
                break
            except Exception:  # noqa: BLE001 - any parse failure just means "not this format"
                continue
        # The outermost {...} or [...] span, for answers with prose around the JSON.
        for open_, close in (("{", "}"), ("[", "]")):
            start, end = block.find(open_), block.rfind(close)
            if 0 <= start < end:
                try:
                    found.append(_json_loads(block[start:end + 1]))
                except json.JSONDecodeError:
                    pass
        items = [m.group(1) for line in block.splitlines() if (m := _LIST_ITEM.match(line))]
        if items:
            found.append(items)
    return found


def parse_lenient(text: str, model: type[T]) -> T:
    """Parse ``text`` into ``model`` or raise ``ValueError`` saying why."""
    fields = list(model.model_fields)
    errors: list[str] = []
    for data in _candidates(text):
        attempts = [data]
        # A bare list answers a model with a single list field; a bare scalar a single field.
        if len(fields) == 1 and not (isinstance(data, dict) and fields[0] in data):
            attempts.append({fields[0]: data})
        for attempt in attempts:
            try:
                return model.model_validate(attempt)
            except ValidationError as exc:
                errors.append(exc.errors()[0]["msg"])
    reason = errors[0] if errors else "no JSON, YAML or list found in the answer"
    raise ValueError(reason)


def _reask(req: ChatRequest, raw: str, error: str, schema: dict[str, Any]) -> ChatRequest:
    follow_up = (f"Your answer could not be used: {error}. Reply again with only JSON that matches this "
                 f"schema, and nothing else:\n{json.dumps(schema)}")
    return replace(req, messages=[*req.messages, {"role": "assistant", "content": raw},
                                  {"role": "user", "content": follow_up}])


def generate_structured(engine: ChatEngine, requests: list[ChatRequest], model: type[T], *,
                        max_reasks: int = 2, on_result: OnResult | None = None) -> list[list[StructuredResult[T]]]:
    """Complete ``requests`` into ``model`` instances: one list (one item per sample) per request.

    ``on_result`` sees every engine result, re-asks included (for counters and progress)."""
    schema = model.model_json_schema()
    if engine.supports_json_schema:
        requests = [replace(r, json_schema=schema) for r in requests]
    out: dict[str, list[StructuredResult[T]]] = {}
    pending: list[tuple[ChatRequest, int]] = [(r, 0) for r in requests]  # (request, re-asks so far)
    index = {r.id: i for i, r in enumerate(requests)}
    while pending:
        results: list[ChatResult] = engine.generate([r for r, _ in pending], on_result)
        retry: list[tuple[ChatRequest, int]] = []
        for (req, asked), res in zip(pending, results):
            base_id = req.id.split("~reask")[0]
            if not res.ok:
                out[base_id] = [StructuredResult(base_id, None, None, res.error, asked + 1)]
                continue
            parsed: list[StructuredResult[T]] = []
            first_failure: tuple[str, str] | None = None
            for c in res.completions:
                try:
                    parsed.append(StructuredResult(base_id, parse_lenient(c.text, model), c.text, None, asked + 1))
                except ValueError as exc:
                    parsed.append(StructuredResult(base_id, None, c.text, f"invalid answer: {exc}", asked + 1))
                    first_failure = first_failure or (c.text, str(exc))
            if first_failure and asked < max_reasks and req.sampling.n == 1:
                retry.append((replace(_reask(req, *first_failure, schema), id=f"{base_id}~reask{asked + 1}"), asked + 1))
            else:
                out[base_id] = parsed
        pending = retry
    return [out[r.id] for r in sorted(requests, key=lambda r: index[r.id])]
