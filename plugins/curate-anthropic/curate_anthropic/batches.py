"""The batch half of the ``anthropic`` engine: Anthropic's Message Batches API.

``curate.BatchChatEngine`` does the splitting, quotas, records in the run directory, resume,
resubmission and waiting; this module only speaks the provider's part::

    POST /v1/messages/batches               {"requests": [{"custom_id", "params"}, ...]} (inline, no upload)
    GET  /v1/messages/batches/{id}          processing_status (in_progress, canceling, ended), request_counts
    GET  {results_url}                      JSONL: {"custom_id", "result": {"type": succeeded | errored |
                                            canceled | expired, "message" | "error"}}
    GET  /v1/messages/batches?limit=N       to find a batch whose create answer was lost

Custom ids must match ``^[a-zA-Z0-9_-]{1,64}$``: the base's id (a 64-hex-digit request
fingerprint) fits. The API has no ``n``, so a request for ``n`` samples is ``n`` lines whose ids
are the fingerprint's first 59 digits and ``-<k>``; its answer is whole when every sample
succeeded. Samples that did are kept (in this process) and only the others are resubmitted.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import logging
from typing import Any, Iterable
from urllib.parse import urlsplit

from curate import (BatchItemError, BatchJob, BatchStatus, ChatRequest, ChatResult, EngineError, TransientEngineError)
from curate_anthropic import wire
from curate import describe_error as describe, env_proxy, is_retryable, run_sync

log = logging.getLogger("curate.anthropic")

#: Sample lines use ``<first 59 digits>-<k>``: at most 64 characters for k < 1000.
SAMPLE_PREFIX = 59
MAX_SAMPLES = 1000  # a request for more fails alone (checked by the engine before batching)
#: Per-request error types worth a resubmission (the provider's trouble, not the request's).
RETRYABLE_ERRORS = ("api_error", "overloaded_error", "rate_limit_error", "timeout_error")
#: How far back (seconds) a lost batch may have been created before its record says.
CLOCK_SKEW = 300
#: Batches listed when looking for one whose create answer was lost.
LIST_LIMIT = 100


def sample_ids(custom_id: str, n: int) -> list[str]:
    return [custom_id] if n == 1 else [f"{custom_id[:SAMPLE_PREFIX]}-{k}" for k in range(n)]


class AnthropicBatches:
    """Mixed into :class:`curate_anthropic.AnthropicEngine` (which is a ``curate.BatchChatEngine``)."""

    params: Any
    name: str

    def _batch_init(self) -> None:
        #: custom id -> (samples, JSON schema) of the requests of the current generate call, to
        #: read their answers back (download only gets custom ids)
        self._shapes: dict[str, tuple[int, dict[str, Any] | None]] = {}
        #: sample line id -> its answer, for requests some of whose samples a batch did not answer
        self._samples: dict[str, wire.Sample] = {}

    def remember_shapes(self, requests: list[ChatRequest], identity: dict[str, Any]) -> None:
        for req in requests:
            self._shapes[req.fingerprint(identity)] = (req.sampling.n, req.json_schema)

    # --- the provider's part of curate.BatchChatEngine ------------------------------------------
    def batch_line(self, request: ChatRequest, custom_id: str) -> bytes:
        params = wire.request_body(request, self.params.model, extra_body=self.params.extra_body)
        return b"\n".join(wire.dumps({"custom_id": sid, "params": params})
                          for sid in sample_ids(custom_id, request.sampling.n) if sid not in self._samples)

    def submit(self, job: BatchJob, payload: bytes) -> str:
        lines = [line for line in payload.split(b"\n") if line.strip()]
        body = b'{"requests":[' + b",".join(lines) + b"]}"
        # Recorded before the create call: should its answer be lost, find_submitted looks for it.
        job.remember(create_started=_now(), lines=len(lines))
        data = self._call("POST", "/v1/messages/batches", body, f"creating batch {job.key}")
        batch_id = data.get("id") if isinstance(data, dict) else None
        if not isinstance(batch_id, str):
            raise EngineError(f"engine anthropic: creating a batch returned no id: {str(data)[:300]}")
        return batch_id

    def poll(self, job: BatchJob) -> BatchStatus:
        data = self._call("GET", f"/v1/messages/batches/{job.id}", None, f"polling batch {job.id}")
        counts = data.get("request_counts") or {}
        succeeded = int(counts.get("succeeded") or 0)
        failed = sum(int(counts.get(k) or 0) for k in ("errored", "canceled", "expired"))
        total = succeeded + failed + int(counts.get("processing") or 0)
        state = str(data.get("processing_status") or "unknown")
        lost = [f"{counts[k]} {k}" for k in ("expired", "canceled", "errored") if counts.get(k)]
        provider = {"results_url": data["results_url"]} if data.get("results_url") else {}
        n = self._samples_per_request(job)
        return BatchStatus(state, finished=state == "ended", error=", ".join(lost) or None, provider=provider,
                           counts={"total": total // n, "completed": succeeded // n, "failed": failed // n})

    def download(self, job: BatchJob) -> Iterable[tuple[str, ChatResult | BatchItemError]]:
        url = job.provider.get("results_url") or ""
        if _origin(url) != _origin(self.params.base_url):  # the key goes only where base_url points
            url = f"/v1/messages/batches/{job.id}/results"
        raw = self._call("GET", url, None, f"downloading batch {job.id}", raw=True)
        by_line: dict[str, Any] = {}
        for line in raw.split(b"\n"):
            if line.strip():
                item = wire.loads(line)
                by_line[str(item.get("custom_id"))] = item.get("result") or {}
        for cid in job.custom_ids:
            n, schema = self._shapes.get(cid, (1, None))
            yield cid, self._read(sample_ids(cid, n), by_line, schema)

    def find_submitted(self, job: BatchJob) -> str | None:
        """A batch created at or after the record's ``create_started`` with as many requests and
        not recorded for another job, newest first. The API keeps no custom ids or metadata on a
        batch to match exactly; answers are matched by custom id, so a wrong guess costs a
        resubmission of the requests it does not hold, never a wrong answer."""
        started = job.provider.get("create_started")
        if not started:
            return None
        since = dt.datetime.fromisoformat(started) - dt.timedelta(seconds=CLOCK_SKEW)
        lines = job.provider.get("lines") or len(job.custom_ids)
        taken = self._recorded_ids()
        data = self._call("GET", f"/v1/messages/batches?limit={LIST_LIMIT}", None, "listing batches")
        for batch in data.get("data") or []:
            if batch.get("id") in taken:
                continue
            counts = batch.get("request_counts") or {}
            try:
                created = dt.datetime.fromisoformat(str(batch.get("created_at")).replace("Z", "+00:00"))
            except ValueError:
                continue
            if created >= since and sum(int(v or 0) for v in counts.values()) == lines:
                log.info("engine anthropic: batch %s (record %s) was created although its answer was lost; "
                         "resuming it", batch.get("id"), job.key)
                return str(batch["id"])
        return None

    # --- helpers ----------------------------------------------------------------------------
    def _recorded_ids(self) -> set[str]:
        """Batch ids already recorded for this engine in the run directory (``batches/*.json``,
        written by curate's batch machinery)."""
        run = getattr(self, "run", None)
        if run is None:
            return set()
        ids = set()
        for path in (run.state_dir / "batches").glob("*.json"):
            try:
                batch_id = json.loads(path.read_text()).get("id")
            except (OSError, ValueError, AttributeError):
                continue
            if isinstance(batch_id, str):
                ids.add(batch_id)
        return ids

    def _samples_per_request(self, job: BatchJob) -> int:
        """Lines per request of ``job`` when that is a whole number (counts are shown in
        requests), else 1 (counts in lines)."""
        lines, requests = job.provider.get("lines") or len(job.custom_ids), len(job.custom_ids) or 1
        return lines // requests if lines % requests == 0 and lines >= requests else 1

    def _read(self, sids: list[str], by_line: dict[str, Any],
              schema: dict[str, Any] | None) -> ChatResult | BatchItemError:
        """A request's answer from its sample lines (and samples kept from earlier batches); the
        first problem wins."""
        problem: BatchItemError | None = None
        for sid in sids:
            result = by_line.get(sid)
            if sid in self._samples:
                continue
            kind = (result or {}).get("type")
            if kind == "succeeded":
                sample = wire.parse_message(result.get("message"), schema)  # type: ignore[union-attr]
                if isinstance(sample, str):  # a refusal or an odd answer: asking again will not help
                    return BatchItemError(self._redact(sample), retryable=False)  # type: ignore[attr-defined]
                self._samples[sid] = sample
            elif kind == "errored" and problem is None:
                reason = wire.error_reason(result.get("error") or result)  # type: ignore[union-attr]
                problem = BatchItemError(self._redact(reason),  # type: ignore[attr-defined]
                                         retryable=reason.split(":")[0] in RETRYABLE_ERRORS)
            elif problem is None:  # canceled, expired, left out: the batch's fate, not the request's
                problem = BatchItemError(f"{kind or 'no result'} in the batch", retryable=True)
        if problem is not None:
            return problem
        samples = [self._samples.pop(sid) for sid in sids]
        return ChatResult("", [s.completion for s in samples], prompt_tokens=sum(s.prompt_tokens for s in samples),
                          completion_tokens=sum(s.completion_tokens for s in samples))

    def _call(self, method: str, path: str, body: bytes | None, what: str, raw: bool = False) -> Any:
        """One API call: 5xx, 429, timeouts and connection errors raise TransientEngineError (the
        base retries them); other errors EngineError. The key is redacted from every message."""
        url = path if path.startswith("http") else f"{self.params.base_url}{path}"
        try:
            status, data = run_sync(lambda: self._fetch(method, url, body))
        except (TransientEngineError, EngineError) as exc:
            raise type(exc)(self._redact(f"engine anthropic: {what}: {exc}")) from None  # type: ignore[attr-defined]
        if status == 200:
            if raw:
                return data
            try:
                return wire.loads(data)
            except ValueError:
                raise TransientEngineError(f"engine anthropic: {what}: HTTP 200 with a body that is not JSON") \
                    from None
        redact = self._redact  # type: ignore[attr-defined]
        reason = redact(f"engine anthropic: {what}: HTTP {status}: {wire.body_reason(data)}")
        if is_retryable(status):
            raise TransientEngineError(reason)
        raise EngineError(reason)

    async def _fetch(self, method: str, url: str, body: bytes | None) -> tuple[int, bytes]:
        import aiohttp

        try:
            async with self._session(self.params.timeout, 1) as session:  # type: ignore[attr-defined]
                async with session.request(method, url, data=body, proxy=env_proxy(url)) as resp:
                    return resp.status, await resp.read()
        except (asyncio.TimeoutError, TimeoutError):
            raise TransientEngineError(f"no response within {self.params.timeout:g} s") from None
        except aiohttp.ClientError as exc:
            raise TransientEngineError(f"connection error: {describe(exc)}") from None


def _origin(url: str) -> tuple[str, str | None, int | None]:
    parts = urlsplit(url)
    return parts.scheme, parts.hostname, parts.port


def _now() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")
