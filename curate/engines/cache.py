"""Request-level resume: completed requests are stored in SQLite (WAL), committed in short batches.

The key is a fingerprint of the engine identity (backend, model, endpoint, chat template) and
the request: messages, sampling params and JSON schema for a chat engine; conversation and
response for a score engine. A rerun after ``kill -9`` sends only the requests that had not
completed; a changed model or sampling param misses the cache. Failed requests are not cached,
so a rerun retries them.

Writes are batched: a result is buffered in memory and a helper thread commits the buffer every
:data:`WRITE_WINDOW` seconds (at once when :data:`WRITE_BATCH` results wait, or when nothing was
committed for a window), and at the end of every ``generate``/``score`` call and on close. The
engine's own thread (the openai engine's event loop) never waits for SQLite, and a crash loses at
most the requests in flight plus one window of answers.

:class:`CachedEngine` also counts what its engine did (:class:`EngineUsage`): requests sent,
answered from the cache and failed, tokens, cost (with the engine's ``pricing``), and requests in
flight right now, for the run's per-stage stats and the progress display.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import sqlite3
import threading
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Callable

from curate.engine import (ChatEngine, ChatRequest, ChatResult, Engine, EngineError, OnResult, OnScore, Pricing,
                           ScoreEngine, ScoreRequest, ScoreResult)

log = logging.getLogger("curate")

#: Longest time (seconds) a completed request waits in memory before it is committed.
WRITE_WINDOW = 0.25
#: Buffered results that are committed without waiting for the window.
WRITE_BATCH = 1000


class RequestCache:
    """One connection to ``requests.sqlite`` with a write buffer and the thread that commits it."""

    def __init__(self, path: Path, window: float = WRITE_WINDOW, batch: int = WRITE_BATCH):
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path, self.window, self.batch = path, window, batch
        self._db_lock = threading.Lock()  # the connection (held through a whole commit)
        self._buf_lock = threading.Lock()  # the buffer (held only to add or swap: put never waits on SQLite)
        self._pending: dict[str, ChatResult | ScoreResult] = {}  # encoded by the committer, not the caller
        self._last_commit = 0.0  # monotonic; 0: the first result commits at once
        self._wake = threading.Event()
        self._closed = False
        #: commits made (for tests and diagnostics)
        self.commits = 0
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")  # WAL + NORMAL: durable across process crashes
        self._db.execute("CREATE TABLE IF NOT EXISTS results (key TEXT PRIMARY KEY, result TEXT NOT NULL)")
        self._flusher = threading.Thread(target=self._flush_loop, name="curate-request-cache", daemon=True)
        self._flusher.start()

    def get_many(self, keys: list[str]) -> dict[str, dict[str, Any]]:
        """Stored results by key, buffered ones included."""
        found: dict[str, dict[str, Any]] = {}
        with self._db_lock:  # a commit in progress holds it: its rows are in the buffer or the file
            with self._buf_lock:
                for key in keys:
                    if key in self._pending:
                        found[key] = self._pending[key].to_json()
            rest = [k for k in keys if k not in found]
            for start in range(0, len(rest), 500):
                chunk = rest[start:start + 500]
                marks = ",".join("?" * len(chunk))
                for key, blob in self._db.execute(f"SELECT key, result FROM results WHERE key IN ({marks})", chunk):
                    found[key] = json.loads(blob)
        return found

    def put(self, key: str, result: ChatResult | ScoreResult) -> None:
        """Buffer one result (not to be changed afterwards); it is committed within one window."""
        with self._buf_lock:
            self._pending[key] = result
            due = len(self._pending) >= self.batch or time.monotonic() - self._last_commit >= self.window
        if due and not self._wake.is_set():  # (setting it takes a lock: not once per result)
            self._wake.set()

    def flush(self) -> None:
        """Commit every buffered result now (one transaction)."""
        with self._db_lock:
            with self._buf_lock:
                if not self._pending:
                    return
                rows, self._pending = list(self._pending.items()), {}
            try:
                blobs = [(key, json.dumps(result.to_json(), ensure_ascii=False)) for key, result in rows]
                self._db.execute("BEGIN")
                self._db.executemany("INSERT OR REPLACE INTO results (key, result) VALUES (?, ?)", blobs)
                self._db.execute("COMMIT")
            except BaseException:
                if self._db.in_transaction:
                    self._db.execute("ROLLBACK")
                with self._buf_lock:  # keep them for the next try; newer puts win
                    self._pending = {**dict(rows), **self._pending}
                raise
            self._last_commit = time.monotonic()
            self.commits += 1

    def _flush_loop(self) -> None:
        warned = False
        while True:
            self._wake.wait(self.window)
            self._wake.clear()
            if self._closed:
                return
            try:
                self.flush()
            except Exception as exc:  # noqa: BLE001 - kept buffered; the flush at the end of the call raises it
                if not warned:
                    log.warning("request cache %s: cannot commit (%s); retrying", self.path, exc)
                    warned = True

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._wake.set()
        self._flusher.join()
        try:
            self.flush()
        finally:
            with self._db_lock:
                self._db.close()


@dataclass
class EngineUsage:
    """What an engine did since its :class:`CachedEngine` was made. ``in_flight`` is live."""

    #: requests the engine answered (ok or failed); answers from the request cache are not sent
    requests_sent: int = 0
    requests_cached: int = 0
    requests_failed: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    #: answered through a provider's batch API (``ChatResult.batch``)
    batch_requests: int = 0
    #: USD, when the engine has ``pricing``
    cost_usd: float = 0.0
    #: handed to the engine and not answered yet
    in_flight: int = 0

    def figures(self, priced: bool) -> dict[str, float]:
        """The counters (``in_flight`` left out; ``cost_usd`` only when priced)."""
        out: dict[str, float] = {k: v for k, v in asdict(self).items() if k != "in_flight"}
        if not priced:
            del out["cost_usd"]
        return out


def request_keys(requests: list[Any], identity: dict[str, Any]) -> list[str]:
    """``request.fingerprint(identity)`` of every request, the same strings, computed faster: the
    identity and each distinct sampling are encoded once, not once per request (this runs before
    any request of a call is sent)."""
    encode = json.JSONEncoder(sort_keys=True, ensure_ascii=False, default=str).encode  # as curate.engine._digest
    head = '{"engine": ' + encode(identity) + ', "messages": '
    sampling: dict[int, tuple[Any, str]] = {}  # id -> (the object, kept alive; its JSON)
    keys = []
    for r in requests:
        if type(r) is ChatRequest:
            known = sampling.get(id(r.sampling))
            if known is None:
                known = sampling[id(r.sampling)] = (r.sampling, encode(r.sampling.model_dump()))
            blob = f'{head}{encode(r.messages)}, "sampling": {known[1]}, "schema": {encode(r.json_schema)}}}'
        elif type(r) is ScoreRequest:
            blob = f'{head}{encode(r.messages)}, "response": {encode(r.response)}}}'
        else:  # another request type: its own fingerprint
            keys.append(r.fingerprint(identity))
            continue
        keys.append(hashlib.sha256(blob.encode()).hexdigest())
    return keys


def usage_delta(before: dict[str, float], after: dict[str, float]) -> dict[str, float]:
    """What happened between two :meth:`CachedEngine.usage_snapshot` figures."""
    return {k: (round(v - before.get(k, 0), 10) if isinstance(v, float) else v - before.get(k, 0))
            for k, v in after.items()}


def add_usage(total: dict[str, dict[str, float]], more: dict[str, dict[str, float]]) -> dict[str, dict[str, float]]:
    """Per-engine figures added (e.g. what remote workers measured, added to what this process saw)."""
    out = {name: dict(figures) for name, figures in total.items()}
    for name, figures in more.items():
        mine = out.setdefault(name, {})
        for key, value in figures.items():
            mine[key] = mine.get(key, 0) + value
    return out


class CachedEngine(Engine):
    """Wraps a chat or score engine so that completed requests are persisted and never paid for
    twice, and counts what it did (:attr:`usage`). The cache file opens on first use, so starting
    an engine writes nothing."""

    def __init__(self, inner: Engine, path: Path):
        self.inner = inner
        self.params = inner.params
        self.name = inner.name  # type: ignore[misc]
        self.capability = inner.capability  # type: ignore[misc]
        self.package, self.version = inner.package, inner.version  # type: ignore[misc]
        self.cache_path = path
        self._cache: RequestCache | None = None
        self._identity: dict[str, Any] | None = None
        self.started = False
        #: requests answered from the cache, and sent to the engine, since this wrapper was made
        self.hits = 0
        self.misses = 0
        self.usage = EngineUsage()
        self._usage_lock = threading.Lock()

    # A remote executor may ship the wrapper to a worker: connections, threads and locks stay here,
    # and the copy counts only what it does there.
    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state.update(_cache=None, _usage_lock=None, usage=EngineUsage(), started=False)
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._usage_lock = threading.Lock()

    @property
    def supports_json_schema(self) -> bool:
        return getattr(self.inner, "supports_json_schema", False)

    @property
    def pricing(self) -> Pricing | None:
        return getattr(self.inner.params, "pricing", None)

    def identity(self) -> dict[str, Any]:
        if self._identity is None:  # final before start (see Engine.identity); computed once
            self._identity = self.inner.identity()
        return self._identity

    def usage_snapshot(self) -> dict[str, float]:
        """The counters now (see :class:`EngineUsage`); subtract two with :func:`usage_delta`."""
        with self._usage_lock:
            return self.usage.figures(priced=self.pricing is not None)

    def bind(self, run: Any) -> None:
        self.inner.bind(run)  # a batch engine records its jobs in the run directory

    def start(self) -> None:
        if not self.started:
            self.inner.start()
            self.started = True

    def _open(self) -> RequestCache:
        if not self.started:
            self.start()
        if self._cache is None:
            self._cache = RequestCache(self.cache_path)
        return self._cache

    def generate(self, requests: list[ChatRequest], on_result: OnResult | None = None) -> list[ChatResult]:
        if not isinstance(self.inner, ChatEngine):
            raise EngineError(f"engine {self.name!r} is a score engine; it cannot generate")
        return self._cached(requests, on_result, ChatResult.from_json, self.inner.generate)

    def score(self, requests: list[ScoreRequest], on_result: OnScore | None = None) -> list[ScoreResult]:
        if not isinstance(self.inner, ScoreEngine):
            raise EngineError(f"engine {self.name!r} is a chat engine; it cannot score")
        return self._cached(requests, on_result, ScoreResult.from_json, self.inner.score)

    def _cached(self, requests: list[Any], on_result: Callable[[Any], None] | None,
                from_json: Callable[[str, dict[str, Any]], Any], call: Callable[..., list[Any]]) -> list[Any]:
        cache = self._open()
        ident = self.identity()
        keys = request_keys(requests, ident)
        stored = cache.get_many(list(dict.fromkeys(keys)))
        results: dict[int, Any] = {}
        todo: list[Any] = []
        todo_keys: dict[str, str] = {}
        for i, (req, key) in enumerate(zip(requests, keys)):
            if key in stored:
                results[i] = from_json(req.id, stored[key])
            else:
                todo.append(req)
                todo_keys[req.id] = key
        self.hits += len(requests) - len(todo)
        self.misses += len(todo)
        with self._usage_lock:
            self.usage.requests_cached += len(requests) - len(todo)
            self.usage.in_flight += len(todo)
        if on_result:
            for result in results.values():
                on_result(result)

        pricing = self.pricing
        answered: set[str] = set()

        def persist(result: Any) -> None:
            self._record(result, todo_keys, answered, cache, pricing)
            if on_result:
                on_result(result)

        try:
            fresh = {r.id: r for r in call(todo, persist)} if todo else {}
        except BaseException:
            with contextlib.suppress(Exception):
                cache.flush()  # keep what completed; the original error matters more
            raise
        finally:
            with self._usage_lock:
                self.usage.in_flight -= len(todo) - len(answered)
        for result in fresh.values():  # an engine that returned results without reporting them
            if result.id not in answered and result.id in todo_keys:
                with self._usage_lock:
                    self.usage.in_flight += 1  # _record takes it off again
                self._record(result, todo_keys, answered, cache, pricing)
        cache.flush()  # the call's answers are on disk when it returns
        return [results[i] if i in results else fresh[req.id] for i, req in enumerate(requests)]

    def _record(self, result: Any, keys: dict[str, str], answered: set[str], cache: RequestCache,
                pricing: Pricing | None) -> None:
        if result.ok:
            cache.put(keys[result.id], result)
        answered.add(result.id)
        prompt, completion = getattr(result, "prompt_tokens", 0), getattr(result, "completion_tokens", 0)
        batch = getattr(result, "batch", False)
        with self._usage_lock:
            u = self.usage
            u.in_flight -= 1
            u.requests_sent += 1
            u.requests_failed += not result.ok
            u.prompt_tokens += prompt
            u.completion_tokens += completion
            u.batch_requests += bool(batch)
            if pricing is not None:
                u.cost_usd += pricing.cost(prompt, completion, batch)

    def close(self) -> None:
        self.inner.close()
        self.started = False
        self.close_cache()

    def close_cache(self) -> None:
        """Close the cache but leave the wrapped engine running (its owner closes it)."""
        if self._cache is not None:
            self._cache.close()
            self._cache = None


__all__ = ["RequestCache", "CachedEngine", "EngineUsage", "request_keys", "usage_delta", "add_usage", "WRITE_WINDOW",
           "WRITE_BATCH"]
