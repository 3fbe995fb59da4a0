"""Batch jobs: the provider-neutral half of every batch engine (OpenAI Batch, Anthropic Message
Batches, a third party's).

A provider's batch API takes a file of requests, answers them within hours at about half the live
price, and hands back a file of results. :class:`BatchChatEngine` owns everything that does not
depend on the provider:

* a request's custom id is its request-cache fingerprint (stable across processes); identical
  requests are sent once and the answer goes to each;
* requests are split into batches within the provider's limits (requests and bytes per batch), and
  at most ``batch_max_in_progress`` batches of the engine run at once;
* every batch is recorded under ``RUN_DIR/engines/<name>/batches/`` as soon as it exists (custom
  ids before upload, then file ids, the batch id, each state change; written then renamed), so a
  rerun after a crash, Ctrl-C or a reboot resumes polling it and never submits it again;
* a finished batch is downloaded and its answers go to ``on_result`` (the request cache), so they
  are never downloaded again; requests it did not answer (expired, cancelled, failed, or a
  retryable error) are resubmitted, alone, up to ``batch_max_attempts`` submissions in all; any
  other per-request error becomes ``ChatResult(error=<the provider's message>)``;
* ``status.json`` beside them says how each batch stands (``curate status`` prints it);
* without waiting (``curate run --no-wait``) it submits, polls once, and raises
  :class:`curate.BatchesPending` while a batch is still running.

A provider implements :meth:`BatchChatEngine.batch_line`, :meth:`~BatchChatEngine.submit`,
:meth:`~BatchChatEngine.poll` and :meth:`~BatchChatEngine.download` (and, to close the gap
between "created" and "recorded", :meth:`~BatchChatEngine.find_submitted`). Transient failures
of those calls (5xx, 429, a reset connection) are raised as :class:`TransientEngineError` and
retried here with backoff.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
import random
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, TypeVar

from pydantic import Field

from curate.engine import ChatEngine, ChatRequest, ChatResult, EngineError, EngineParams, EngineRun, OnResult
from curate.errors import BatchesPending
from curate.files import read_json, write_json

log = logging.getLogger("curate.batch")
T = TypeVar("T")

#: Attempts of one provider call (upload, create, poll, download) before the stage fails; the
#: batches stay recorded, so a rerun resumes.
CALL_ATTEMPTS = 8
#: A record that was written but whose batch was never created (the process died in between).
ABANDONED = "abandoned"
PREPARING = "preparing"


class TransientEngineError(EngineError):
    """A call to the provider failed in a way that may pass (5xx, 429, timeout, reset connection);
    the caller retries it with backoff. Any other :class:`EngineError` is final."""


class BatchParams(EngineParams):
    """The batch settings every batch-capable engine shares (subclass it for an engine's params;
    override a default to match the provider's limits). None of them is part of the engine
    identity: a stage switched between live and batch keeps its cached answers."""

    batch: bool = Field(False, description="Send requests as batch jobs (about half the price; answers within the "
                                           "provider's window, 24 h) instead of one by one. Live and batch answers "
                                           "share the request cache.")
    batch_poll_interval: float = Field(30.0, gt=0, description="Seconds between polls of running batches; grows by "
                                                               "half after each poll that changed nothing.")
    batch_poll_max: float = Field(300.0, gt=0, description="Longest wait between polls, in seconds.")
    batch_max_requests: int = Field(50_000, ge=1, description="Requests per batch (the provider's limit).")
    batch_max_bytes: int = Field(200_000_000, ge=1024, description="Bytes per batch file (the provider's limit).")
    batch_max_in_progress: int = Field(20, ge=1, description="Batches of this engine running at once; more wait "
                                                             "until one finishes (stay under the account's queue "
                                                             "limit).")
    batch_max_attempts: int = Field(3, ge=1, le=20, description="Submissions per request in all: a request that an "
                                                                "expired, cancelled or failed batch did not answer, "
                                                                "or that got a retryable error, is resubmitted "
                                                                "alone until then.")


#: Params of :class:`BatchParams`; never part of an identity.
BATCH_FIELDS = frozenset(BatchParams.model_fields) - frozenset(EngineParams.model_fields)


@dataclass
class BatchStatus:
    """What :meth:`BatchChatEngine.poll` learnt about one batch."""

    #: the provider's word: ``validating``, ``in_progress``, ``completed``, ``expired``, ...
    state: str
    #: no more answers will come: download what there is
    finished: bool
    #: ``total``, ``completed``, ``failed`` requests
    counts: dict[str, int] = field(default_factory=dict)
    #: why the batch as a whole failed, expired or was cancelled
    error: str | None = None
    #: ids to remember (output file ids, a results URL), kept in the batch's record
    provider: dict[str, Any] = field(default_factory=dict)


@dataclass
class BatchItemError:
    """A request the batch did not answer. ``retryable``: resubmit it (within the attempts)."""

    message: str
    retryable: bool = True


@dataclass
class BatchJob:
    """One submitted batch as recorded in the run directory (what a provider's methods get)."""

    key: str
    custom_ids: list[str]
    id: str | None = None
    state: str = PREPARING
    finished: bool = False
    submitted_at: str | None = None
    counts: dict[str, int] = field(default_factory=dict)
    error: str | None = None
    #: provider ids: input/output file ids, ...; set with :meth:`remember`
    provider: dict[str, Any] = field(default_factory=dict)
    #: submission number of custom ids resubmitted (absent: the first)
    attempts: dict[str, int] = field(default_factory=dict)
    _save: Callable[["BatchJob"], None] | None = field(default=None, repr=False, compare=False)

    def remember(self, **ids: Any) -> None:
        """Record provider ids the moment they exist (an uploaded file before the batch is created)."""
        self.provider.update(ids)
        if self._save is not None:
            self._save(self)

    def attempt(self, custom_id: str) -> int:
        return self.attempts.get(custom_id, 1)

    def to_json(self) -> dict[str, Any]:
        return {k: v for k, v in dataclasses.asdict(self).items() if not k.startswith("_")}


class BatchStore:
    """The batch records of one engine in one run directory: ``batches/NNNNN.json`` (one file per
    batch, rewritten on change) and ``status.json``."""

    def __init__(self, engine: str, state_dir: Path):
        self.engine, self.dir = engine, state_dir
        self.jobs: list[BatchJob] = []
        for path in sorted((state_dir / "batches").glob("*.json")):
            data = read_json(path)
            if isinstance(data, dict) and "key" in data:
                fields = {f.name for f in dataclasses.fields(BatchJob) if not f.name.startswith("_")}
                self.jobs.append(BatchJob(**{k: v for k, v in data.items() if k in fields}, _save=self.save))

    def new(self, custom_ids: list[str], attempts: dict[str, int]) -> BatchJob:
        seq = int(self.jobs[-1].key) + 1 if self.jobs else 1
        job = BatchJob(f"{seq:05d}", custom_ids, attempts={k: n for k, n in attempts.items() if n > 1},
                       _save=self.save)
        self.jobs.append(job)
        self.save(job)
        return job

    def save(self, job: BatchJob) -> None:
        write_json(job.to_json(), self.dir / "batches" / f"{job.key}.json")

    def running(self) -> list[BatchJob]:
        return [j for j in self.jobs if j.id and not j.finished]

    def write_status(self) -> None:
        shown = [j for j in self.jobs if j.id]
        states: dict[str, int] = {}
        for j in shown:
            states[j.state] = states.get(j.state, 0) + 1
        total = sum(j.counts.get("total") or len(j.custom_ids) for j in shown)
        done = sum(j.counts.get("completed", 0) for j in shown)
        summary = (f"{len(shown)} batch{'es' if len(shown) != 1 else ''}: "
                   + ", ".join(f"{n} {s}" for s, n in sorted(states.items())) + f"; {done:,}/{total:,} requests done")
        write_json({"engine": self.engine, "summary": summary if shown else "no batches",
                    "batches": [{"id": j.id, "state": j.state, "counts": {
                        "total": j.counts.get("total") or len(j.custom_ids), "completed": j.counts.get("completed", 0),
                        "failed": j.counts.get("failed", 0)}, "submitted_at": j.submitted_at} for j in shown],
                    "updated": _now()}, self.dir / "status.json")


def _now() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")


class BatchChatEngine(ChatEngine):
    """A chat engine that answers through a provider's batch API. Subclass it and implement the
    provider's part; the base does splitting, quotas, persistence, resume, retries and waiting.

    Its params should subclass :class:`BatchParams` (or override :meth:`limit`). The runner
    calls :meth:`bind` with the run directory before :meth:`start`.
    """

    Params = BatchParams
    #: time.sleep, swapped by tests
    _sleep: Callable[[float], None] = staticmethod(time.sleep)

    def __init__(self, params: Any = None, **kwargs: Any):
        super().__init__(params, **kwargs)
        self.run: EngineRun | None = None

    def identity_exclude(self) -> set[str]:
        return set(BATCH_FIELDS)

    def bind(self, run: EngineRun) -> None:
        self.run = run

    def limit(self, name: str) -> Any:
        """A batch setting: ``poll_interval``, ``poll_max``, ``max_requests``, ``max_bytes``,
        ``max_in_progress``, ``max_attempts`` (the params' ``batch_<name>``)."""
        return getattr(self.params, f"batch_{name}", BatchParams.model_fields[f"batch_{name}"].default)

    # --- the provider's part ----------------------------------------------------------------
    def batch_line(self, request: ChatRequest, custom_id: str) -> bytes:
        """One request as a line of the provider's batch file (no newline)."""
        raise NotImplementedError

    def submit(self, job: BatchJob, payload: bytes) -> str:
        """Upload ``payload`` (the JSONL lines) and create the batch; return its id. Call
        ``job.remember(...)`` with every id as soon as it exists (an uploaded file's id), and reuse
        those already in ``job.provider`` (this may be a retry). Raise
        :class:`TransientEngineError` for a failure worth retrying."""
        raise NotImplementedError

    def poll(self, job: BatchJob) -> BatchStatus:
        """The batch's state and counts."""
        raise NotImplementedError

    def download(self, job: BatchJob) -> Iterable[tuple[str, ChatResult | BatchItemError]]:
        """The answers of a finished batch: ``(custom_id, ChatResult or BatchItemError)``.
        Custom ids left out count as not answered (resubmitted)."""
        raise NotImplementedError

    def find_submitted(self, job: BatchJob) -> str | None:
        """The id of a batch created from ``job`` whose id was never recorded (the process died,
        or the create call's answer was lost), or ``None``. Called before such a job is
        resubmitted; the default knows no way to look and returns ``None``."""
        return None

    # --- the machinery ----------------------------------------------------------------------
    def generate(self, requests: list[ChatRequest], on_result: OnResult | None = None) -> list[ChatResult]:
        if not requests:
            return []
        if self.run is None:
            raise EngineError(f"engine {self.name!r}: a batch engine needs a run directory to record its batches; "
                              "run it through a recipe (or call bind(curate.EngineRun(name, state_dir, wait)))")
        return _Job(self, self.run, requests, on_result).run()

    def call(self, what: str, fn: Callable[[], T]) -> T:
        """``fn()`` with :class:`TransientEngineError` retried (backoff with full jitter)."""
        base = min(1.0, self.limit("poll_interval"))
        for attempt in range(1, CALL_ATTEMPTS + 1):
            try:
                return fn()
            except TransientEngineError as exc:
                if attempt == CALL_ATTEMPTS:
                    raise EngineError(f"engine {self.name!r}: {what} failed {CALL_ATTEMPTS} times, last: {exc}. "
                                      "The submitted batches are recorded in the run directory; rerun the same "
                                      "command to resume") from None
                delay = random.uniform(0, min(self.limit("poll_max"), base * 2 ** (attempt - 1)))
                log.info("engine %s: %s failed (%s); retry %d in %.1f s", self.name, what, exc, attempt, delay)
                self._sleep(delay)
        raise AssertionError("unreachable")


class _Job:
    """One ``generate`` call: which requests are answered, queued, or inside which batch."""

    def __init__(self, engine: BatchChatEngine, run: EngineRun, requests: list[ChatRequest],
                 on_result: OnResult | None):
        self.engine, self.bound, self.on_result = engine, run, on_result
        ident = engine.identity()
        self.requests: dict[str, list[ChatRequest]] = {}  # custom id -> requests (identical ones share it)
        for req in requests:
            self.requests.setdefault(req.fingerprint(ident), []).append(req)
        self.order = requests
        self.results: dict[str, ChatResult] = {}  # request id -> result
        self.store = BatchStore(run.name, run.state_dir)
        #: custom id -> the newest batch holding it (answers come from that one only)
        self.owner: dict[str, BatchJob] = {}
        for job in self.store.jobs:
            if job.state == ABANDONED:
                continue
            for cid in job.custom_ids:
                if cid in self.requests:
                    self.owner[cid] = job
        self.queue: list[tuple[str, int]] = [(cid, 1) for cid in self.requests if cid not in self.owner]
        self.submitted: list[str] = []

    def run(self) -> list[ChatResult]:
        e = self.engine
        self._recover()
        interval = delay = e.limit("poll_interval")
        first = True
        while True:
            changed = self._poll_all()
            self._submit_within_quota()
            self.store.write_status()
            mine = self._mine()
            if not mine and not self.queue:
                break
            if not self.bound.wait:  # batches still running (or queued behind the quota): stop here
                waiting = self.store.running() if self.queue else mine
                raise BatchesPending([j.id for j in waiting if j.id], submitted=self.submitted, engine=self.bound.name)
            if first and self.submitted:
                log.info("engine %s: submitted %d batch(es) (%s); waiting for them. Interrupting is safe: rerun the "
                         "same command to resume", self.bound.name, len(self.submitted), ", ".join(self.submitted))
            first = False
            delay = interval if changed else min(delay * 1.5, e.limit("poll_max"))
            e._sleep(delay)
        missing = [r for r in self.order if r.id not in self.results]
        assert not missing, f"batch engine left {len(missing)} requests unanswered"
        return [self.results[r.id] for r in self.order]

    def _mine(self) -> list[BatchJob]:
        """Running batches that hold requests of this call."""
        live = {id(j) for j in self.owner.values() if not j.finished}
        return [j for j in self.store.jobs if id(j) in live]

    # --- resume -----------------------------------------------------------------------------
    def _recover(self) -> None:
        """Records written before their batch existed: find the batch, else forget the record."""
        for job in self.store.jobs:
            if job.id or job.state == ABANDONED:
                continue
            found = self.engine.call(f"looking up batch {job.key}", lambda: self.engine.find_submitted(job))
            if found:
                job.id, job.state, job.submitted_at = found, "submitted", job.submitted_at or _now()
            else:
                job.state, job.finished = ABANDONED, True
                for cid in job.custom_ids:
                    if self.owner.get(cid) is job:
                        del self.owner[cid]
                        self.queue.append((cid, job.attempt(cid)))
            self.store.save(job)
        # Batches that finished while nobody was looking (or before a crash mid-download).
        done = {id(j): j for j in self.owner.values() if j.finished}
        for job in done.values():
            self._settle(job)

    # --- polling ----------------------------------------------------------------------------
    def _poll_all(self) -> bool:
        """Poll every running batch of the engine (others use the quota too); settle finished ones."""
        changed = False
        for job in self.store.running():
            status = self.engine.call(f"polling batch {job.id}", lambda: self.engine.poll(job))
            if status.counts != job.counts:
                changed = True
                job.counts = dict(status.counts)
            if status.state != job.state or status.finished or status.provider:
                before = (job.state, dict(job.provider))
                job.state, job.finished = status.state, status.finished
                job.error = status.error or job.error
                job.provider.update(status.provider)
                if (job.state, job.provider) != before or job.finished:
                    changed = True
                    self.store.save(job)
            if job.finished and any(self.owner.get(cid) is job for cid in job.custom_ids):
                self._settle(job)
        return changed

    def _settle(self, job: BatchJob) -> None:
        """Hand out a finished batch's answers; queue what it did not answer, within the attempts."""
        wanted = [cid for cid in job.custom_ids if self.owner.get(cid) is job and cid in self.requests
                  and not self._answered(cid)]
        if not wanted:
            return
        items: dict[str, ChatResult | BatchItemError] = {}
        if job.state not in (ABANDONED,):
            items = self.engine.call(f"downloading batch {job.id}", lambda: dict(self.engine.download(job)))
        why = f"the batch {job.id} ended {job.state}" + (f": {job.error}" if job.error else "")
        max_attempts = self.engine.limit("max_attempts")
        for cid in wanted:
            item = items.get(cid)
            if isinstance(item, ChatResult) and item.ok:
                self._deliver(cid, item)
                continue
            if isinstance(item, ChatResult):
                item = BatchItemError(item.error or "failed", retryable=True)
            err = item or BatchItemError(f"not answered: {why}", retryable=True)
            attempt = job.attempt(cid)
            if err.retryable and attempt < max_attempts:
                del self.owner[cid]
                self.queue.append((cid, attempt + 1))
            else:
                tail = f" (batch {job.id}, {attempt} submission{'s' if attempt != 1 else ''})"
                self._deliver(cid, ChatResult("", error=err.message + tail))

    def _answered(self, cid: str) -> bool:
        return self.requests[cid][0].id in self.results

    def _deliver(self, cid: str, result: ChatResult) -> None:
        for req in self.requests[cid]:
            one = dataclasses.replace(result, id=req.id, batch=True, cached=False)
            self.results[req.id] = one
            if self.on_result is not None:
                self.on_result(one)

    # --- submitting -------------------------------------------------------------------------
    def _submit_within_quota(self) -> None:
        e = self.engine
        while self.queue and len(self.store.running()) < e.limit("max_in_progress"):
            chunk = self._next_chunk()
            if chunk:
                self._submit(chunk)

    def _next_chunk(self) -> list[tuple[str, int, bytes]]:
        """Requests from the queue up to the per-batch limits (a request over the byte limit fails alone)."""
        e = self.engine
        max_requests, max_bytes = e.limit("max_requests"), e.limit("max_bytes")
        chunk: list[tuple[str, int, bytes]] = []
        size = 0
        while self.queue and len(chunk) < max_requests:
            cid, attempt = self.queue[0]
            line = e.batch_line(self.requests[cid][0], cid)
            if len(line) + 1 > max_bytes:
                self.queue.pop(0)
                self._deliver(cid, ChatResult("", error=f"request too large for one batch file ({len(line) + 1:,} "
                                                       f"bytes; the limit is {max_bytes:,})"))
                continue
            if size + len(line) + 1 > max_bytes:
                break
            self.queue.pop(0)
            chunk.append((cid, attempt, line))
            size += len(line) + 1
        return chunk

    def _submit(self, chunk: list[tuple[str, int, bytes]]) -> None:
        e = self.engine
        job = self.store.new([cid for cid, _, _ in chunk], {cid: n for cid, n, _ in chunk})
        payload = b"".join(line + b"\n" for _, _, line in chunk)

        tried = False

        def create() -> str:
            nonlocal tried
            if tried and job.provider:
                # The last create may have worked and only its answer been lost: never create twice.
                found = e.find_submitted(job)  # a failed look-up is retried, never skipped
                if found:
                    return found
            tried = True
            return e.submit(job, payload)

        try:
            job.id = e.call(f"submitting batch {job.key} ({len(chunk):,} requests)", create)
        except BaseException:
            if not job.provider:  # nothing reached the provider: the record can go
                job.state, job.finished = ABANDONED, True
                self.store.save(job)
            raise
        job.state, job.submitted_at = "submitted", _now()
        job.counts = {"total": len(chunk), "completed": 0, "failed": 0}
        self.store.save(job)
        self.submitted.append(job.id)
        for cid in job.custom_ids:
            self.owner[cid] = job


__all__ = ["BatchChatEngine", "BatchParams", "BatchJob", "BatchStatus", "BatchItemError", "BatchStore",
           "TransientEngineError", "BATCH_FIELDS", "CALL_ATTEMPTS"]
