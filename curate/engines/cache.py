"""Request-level resume: every completed request is stored in SQLite (WAL) as it completes.

The key is a fingerprint of the engine identity (backend, model, endpoint, chat template) and
the request: messages, sampling params and JSON schema for a chat engine; conversation and
response for a score engine. A rerun after ``kill -9`` sends only the
requests that had not completed; a changed model or sampling param misses the cache. Failed
requests are not cached, so a rerun retries them.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from pathlib import Path
from typing import Any, Callable

from curate.engine import (ChatEngine, ChatRequest, ChatResult, Engine, EngineError, OnResult, OnScore, ScoreEngine,
                           ScoreRequest, ScoreResult)


class RequestCache:
    def __init__(self, path: Path):
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._lock = threading.Lock()
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")  # WAL + NORMAL: durable across process crashes
        self._db.execute("CREATE TABLE IF NOT EXISTS results (key TEXT PRIMARY KEY, result TEXT NOT NULL)")

    def get_many(self, keys: list[str]) -> dict[str, dict[str, Any]]:
        found: dict[str, dict[str, Any]] = {}
        with self._lock:
            for start in range(0, len(keys), 500):
                chunk = keys[start:start + 500]
                marks = ",".join("?" * len(chunk))
                for key, blob in self._db.execute(f"SELECT key, result FROM results WHERE key IN ({marks})", chunk):
                    found[key] = json.loads(blob)
        return found

    def put(self, key: str, result: ChatResult | ScoreResult) -> None:
        blob = json.dumps(result.to_json(), ensure_ascii=False)
        with self._lock:
            self._db.execute("INSERT OR REPLACE INTO results (key, result) VALUES (?, ?)", (key, blob))

    def close(self) -> None:
        with self._lock:
            self._db.close()


class CachedEngine(Engine):
    """Wraps a chat or score engine so that completed requests are persisted and never paid for
    twice. The cache file opens on first use, so starting an engine writes nothing."""

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

    @property
    def supports_json_schema(self) -> bool:
        return getattr(self.inner, "supports_json_schema", False)

    def identity(self) -> dict[str, Any]:
        if self._identity is None:  # final before start (see Engine.identity); computed once
            self._identity = self.inner.identity()
        return self._identity

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
        keys = [r.fingerprint(ident) for r in requests]
        stored = cache.get_many(list(dict.fromkeys(keys)))
        results: dict[int, Any] = {}
        todo: list[Any] = []
        todo_keys: dict[str, str] = {}
        for i, (req, key) in enumerate(zip(requests, keys)):
            if key in stored:
                results[i] = from_json(req.id, stored[key])
                if on_result:
                    on_result(results[i])
            else:
                todo.append(req)
                todo_keys[req.id] = key
        self.hits += len(requests) - len(todo)
        self.misses += len(todo)

        def persist(result: Any) -> None:
            if result.ok:
                cache.put(todo_keys[result.id], result)
            if on_result:
                on_result(result)

        fresh = {r.id: r for r in call(todo, persist)} if todo else {}
        return [results[i] if i in results else fresh[req.id] for i, req in enumerate(requests)]

    def close(self) -> None:
        self.inner.close()
        self.started = False
        self.close_cache()

    def close_cache(self) -> None:
        """Close the cache but leave the wrapped engine running (its owner closes it)."""
        if self._cache is not None:
            self._cache.close()
            self._cache = None
