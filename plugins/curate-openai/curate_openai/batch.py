"""The OpenAI Batch API half of the ``openai`` engine (``batch: true``).

Requests are written as batch JSONL (``{"custom_id", "method": "POST", "url":
"/v1/chat/completions", "body"}``, the body exactly as the live engine sends it), uploaded to the
Files API (``purpose=batch``), submitted to ``/v1/batches`` (``completion_window: 24h``), polled,
and the ``output_file_id`` / ``error_file_id`` files downloaded. Everything else — custom ids,
splitting, quotas, the records in the run directory, resume, retries — is
:class:`curate.BatchChatEngine`'s.

The calls are few and large, so they use the standard library (one blocking call at a time), not
the live engine's connection pool.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
import uuid
from typing import TYPE_CHECKING, Any, Iterable

from curate import (BatchChatEngine, BatchItemError, BatchJob, BatchStatus, ChatRequest, ChatResult, EngineError,
                    is_retryable, TransientEngineError)
from curate_openai import wire

if TYPE_CHECKING:
    from curate_openai.engine import OpenAIEngine

ENDPOINT = "/v1/chat/completions"
COMPLETION_WINDOW = "24h"
FINISHED = frozenset({"completed", "failed", "expired", "cancelled"})
#: Pages of ``GET /batches`` (100 each, newest first) searched for a batch whose id was lost.
LOOKUP_PAGES = 10


class OpenAIBatches(BatchChatEngine):
    """OpenAI's Batch API for an :class:`~curate_openai.engine.OpenAIEngine` with ``batch: true``
    (same params, same identity: live and batch answers share the request cache)."""

    name = "openai"
    supports_json_schema = True

    def __init__(self, engine: "OpenAIEngine"):
        super().__init__(engine.params)
        self.engine = engine

    def identity(self) -> dict[str, Any]:
        return self.engine.identity()

    # --- the provider's part ----------------------------------------------------------------
    def batch_line(self, request: ChatRequest, custom_id: str) -> bytes:
        p = self.params
        body = wire.request_body(request, p.model, max_tokens_field=p.max_tokens_field, extra_body=p.extra_body)
        return wire.dumps({"custom_id": custom_id, "method": "POST", "url": ENDPOINT, "body": body})

    def submit(self, job: BatchJob, payload: bytes) -> str:
        file_id = job.provider.get("input_file_id")
        if not file_id:
            file_id = self._upload(payload, f"curate-{job.key}.jsonl")["id"]
            job.remember(input_file_id=file_id)
        batch = self._json("POST", "/batches", {"input_file_id": file_id, "endpoint": ENDPOINT,
                                                "completion_window": COMPLETION_WINDOW,
                                                "metadata": {"curate_batch": job.key}})
        return str(batch["id"])

    def find_submitted(self, job: BatchJob) -> str | None:
        file_id = job.provider.get("input_file_id")
        if not file_id:
            return None  # nothing was uploaded, so nothing can have been created
        after = None
        for _ in range(LOOKUP_PAGES):
            page = self._json("GET", "/batches?limit=100" + (f"&after={after}" if after else ""))
            for batch in page.get("data") or []:
                if batch.get("input_file_id") == file_id:
                    return str(batch["id"])
            if not page.get("has_more") or not page.get("data"):
                return None
            after = page["data"][-1]["id"]
        return None

    def poll(self, job: BatchJob) -> BatchStatus:
        batch = self._json("GET", f"/batches/{job.id}")
        state = str(batch.get("status"))
        counts = batch.get("request_counts") or {}
        errors = (batch.get("errors") or {}).get("data") or []
        error = "; ".join(f"{e.get('code')}: {e.get('message')}" for e in errors[:3]) or None
        keep = {k: batch[k] for k in ("output_file_id", "error_file_id") if batch.get(k)}
        return BatchStatus(state, state in FINISHED, {k: int(counts.get(k) or 0) for k in ("total", "completed", "failed")},
                           error=error, provider=keep)

    def download(self, job: BatchJob) -> Iterable[tuple[str, ChatResult | BatchItemError]]:
        for key in ("output_file_id", "error_file_id"):
            file_id = job.provider.get(key)
            if not file_id:
                continue
            for raw in self._call("GET", f"/files/{file_id}/content").splitlines():
                if raw.strip():
                    yield self._item(wire.loads(raw))

    @staticmethod
    def _item(line: dict[str, Any]) -> tuple[str, ChatResult | BatchItemError]:
        cid = str(line.get("custom_id"))
        response = line.get("response") or {}
        error = line.get("error")
        if error and not response:  # never run: batch_expired, batch_cancelled, ...
            return cid, BatchItemError(f"{error.get('code')}: {error.get('message')}", retryable=True)
        status = int(response.get("status_code") or 0)
        body = response.get("body")
        if status == 200:
            result = wire.parse_result(cid, body)
            return cid, (BatchItemError(result.error) if result.error else result)
        return cid, BatchItemError(f"HTTP {status}: {wire.error_reason(body)}", retryable=is_retryable(status))

    # --- HTTP -------------------------------------------------------------------------------
    def _json(self, method: str, path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
        data = None if body is None else json.dumps(body).encode()
        raw = self._call(method, path, data, "application/json")
        try:
            out = wire.loads(raw)
        except ValueError:
            raise TransientEngineError(f"{method} {path}: the answer is not JSON: {wire.body_reason(raw)}") from None
        if not isinstance(out, dict):
            raise EngineError(f"{method} {path}: expected a JSON object, got {type(out).__name__}")
        return out

    def _upload(self, payload: bytes, filename: str) -> dict[str, Any]:
        boundary = uuid.uuid4().hex
        body = (f'--{boundary}\r\nContent-Disposition: form-data; name="purpose"\r\n\r\nbatch\r\n'
                f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="{filename}"\r\n'
                "Content-Type: application/jsonl\r\n\r\n").encode() + payload + f"\r\n--{boundary}--\r\n".encode()
        raw = self._call("POST", "/files", body, f"multipart/form-data; boundary={boundary}")
        return wire.loads(raw)

    def _call(self, method: str, path: str, data: bytes | None = None, content_type: str | None = None) -> bytes:
        """One HTTP call; 408/409/429/5xx and connection errors are transient, other 4xx final."""
        p = self.params
        headers = {k: v for k, v in self.engine._headers().items() if k != "Content-Type"}
        if content_type:
            headers["Content-Type"] = content_type
        req = urllib.request.Request(f"{p.base_url}{path}", data=data, method=method, headers=headers)
        where = f"OpenAI batch API ({method} {p.base_url}{path.split('?')[0]})"
        try:
            with urllib.request.urlopen(req, timeout=p.timeout) as resp:
                return resp.read()
        except urllib.error.HTTPError as exc:
            reason = self.engine._redact(f"HTTP {exc.code}: {wire.body_reason(exc.read())}")
            if is_retryable(exc.code):
                raise TransientEngineError(f"{where}: {reason}") from None
            hint = ""
            if exc.code in (401, 403):
                hint = f"; set the environment variable {p.api_key_env} to a valid key" if p.api_key_env else ""
            elif exc.code == 404 and not p.base_url.endswith("/v1"):
                hint = " (is base_url missing /v1?)"
            raise EngineError(f"{where}: {reason}{hint}") from None
        except (urllib.error.URLError, OSError) as exc:  # refused, reset, timed out
            reason = getattr(exc, "reason", exc)
            raise TransientEngineError(f"{where}: connection error: {reason}") from None
