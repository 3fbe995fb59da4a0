"""Request-level resume: every completed request is stored in SQLite (WAL) as it completes.

The key is a fingerprint of the engine identity (backend, model, endpoint, chat template), the
messages, the sampling params and the JSON schema. A rerun after ``kill -9`` sends only the
requests that had not completed; a changed model or sampling param misses the cache. Failed
requests are not cached, so a rerun retries them.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from pathlib import Path
from typing import Any

from curate.engine import ChatRequest, ChatResult, Engine, OnResult


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

    def put(self, key: str, result: ChatResult) -> None:
        blob = json.dumps(result.to_json(), ensure_ascii=False)
        with self._lock:
            self._db.execute("INSERT OR REPLACE INTO results (key, result) VALUES (?, ?)", (key, blob))

    def close(self) -> None:
        with self._lock:
            self._db.close()


class CachedEngine(Engine):
    """Wraps an engine so that completed requests are persisted and never paid for twice."""

    def __init__(self, inner: Engine, path: Path):
        self.inner = inner
        self.params = inner.params
        self.name = inner.name  # type: ignore[misc]
        self.cache_path = path
        self._cache: RequestCache | None = None
        self.hits = 0
        self.misses = 0

    @property
    def supports_json_schema(self) -> bool:  # type: ignore[override]
        return self.inner.supports_json_schema

    def identity(self) -> dict[str, Any]:
        return self.inner.identity()

    def start(self) -> None:
        self.inner.start()
        if self._cache is None:
            self._cache = RequestCache(self.cache_path)

    def generate(self, requests: list[ChatRequest], on_result: OnResult | None = None) -> list[ChatResult]:
        if self._cache is None:
            self.start()
        assert self._cache is not None
        ident = self.identity()
        keys = [r.fingerprint(ident) for r in requests]
        stored = self._cache.get_many(list(dict.fromkeys(keys)))
        results: dict[int, ChatResult] = {}
        todo: list[ChatRequest] = []
        todo_keys: dict[str, str] = {}
        for i, (req, key) in enumerate(zip(requests, keys)):
            if key in stored:
                results[i] = ChatResult.from_json(req.id, stored[key])
                if on_result:
                    on_result(results[i])
            else:
                todo.append(req)
                todo_keys[req.id] = key
        self.hits += len(requests) - len(todo)
        self.misses += len(todo)
        cache = self._cache

        def persist(result: ChatResult) -> None:
            if result.ok:
                cache.put(todo_keys[result.id], result)
            if on_result:
                on_result(result)

        fresh = {r.id: r for r in self.inner.generate(todo, persist)} if todo else {}
        return [results[i] if i in results else fresh[req.id] for i, req in enumerate(requests)]

    def close(self) -> None:
        self.inner.close()
        self.close_cache()

    def close_cache(self) -> None:
        """Close the cache but leave the wrapped engine running (its owner closes it)."""
        if self._cache is not None:
            self._cache.close()
            self._cache = None
