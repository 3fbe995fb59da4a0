"""What runs inside a Ray worker: a stage's component, rebuilt from its task, over Arrow batches.

:class:`StageWorker` is a Ray Data callable class, so each actor builds the component (and the
engines it uses) once and then takes batch after batch. Engines get a request-cache shard of
their own (SQLite is one writer per file, and SQLite on a network filesystem is unsafe to share):
each actor writes ``requests.d/<actor>.sqlite`` and reads every shard, so a batch retried after
its actor died finds the requests that actor had completed. The driver folds the shards into
``requests.sqlite`` when the run ends.
"""

from __future__ import annotations

import hashlib
import os
import socket
import sqlite3
import uuid
from pathlib import Path
from typing import Any

import polars as pl
import pyarrow as pa

import curate
from curate_ray.progress import BatchReporter

SHARDS = "requests.d"


def shard_dir(run_dir: Path) -> Path:
    return run_dir / SHARDS


class ShardedCache:
    """The request cache of one actor: writes its own shard, reads all shards and the run's main file."""

    def __init__(self, run_dir: Path, own: Any):
        self.run_dir, self.own = run_dir, own
        self._readers: dict[Path, sqlite3.Connection] = {}

    def _others(self) -> list[Path]:
        paths = [self.run_dir / "requests.sqlite"] if (self.run_dir / "requests.sqlite").exists() else []
        folder = shard_dir(self.run_dir)
        if folder.is_dir():
            paths += sorted(p for p in folder.glob("*.sqlite") if p != self.own.path)
        return paths

    def get_many(self, keys: list[str]) -> dict[str, dict[str, Any]]:
        import json

        found = self.own.get_many(keys)
        missing = [k for k in keys if k not in found]
        for path in self._others():
            if not missing:
                break
            db = self._readers.get(path)
            if db is None:
                try:
                    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True, check_same_thread=False)
                except sqlite3.Error:
                    continue
                self._readers[path] = db
            for start in range(0, len(missing), 500):
                chunk = missing[start:start + 500]
                marks = ",".join("?" * len(chunk))
                try:
                    rows = db.execute(f"SELECT key, result FROM results WHERE key IN ({marks})", chunk).fetchall()
                except sqlite3.Error:  # a shard still being created
                    rows = []
                for key, blob in rows:
                    found[key] = json.loads(blob)
            missing = [k for k in missing if k not in found]
        return found

    def put(self, key: str, result: Any) -> None:
        self.own.put(key, result)

    def __getattr__(self, name: str) -> Any:  # flush() and friends of the wrapped cache
        return getattr(self.own, name)

    def close(self) -> None:
        for db in self._readers.values():
            db.close()
        self._readers.clear()
        self.own.close()


def make_cached_engine(inner: curate.Engine, run_dir: Path, actor: str) -> Any:
    """``inner`` wrapped in the request cache, with this actor's shard."""
    class ShardCachedEngine(curate.CachedEngine):
        def _open(self) -> Any:
            if not self.started:
                self.start()
            if self._cache is None:
                self._cache = ShardedCache(run_dir, curate.RequestCache(self.cache_path))
            return self._cache

    return ShardCachedEngine(inner, shard_dir(run_dir) / f"{actor}.sqlite")


def batch_key(df: pl.DataFrame) -> str:
    """The same for every try of a batch: its first and last ids and its size."""
    if df.height == 0:
        return "empty"
    ids = df["id"] if "id" in df.columns else pl.Series([str(df.row(0))])
    raw = f"{ids[0]}|{ids[-1]}|{df.height}"
    return hashlib.sha1(raw.encode()).hexdigest()[:16]


class BatchFailed(RuntimeError):
    """A batch raised: says where (node, worker) and which rows, keeping the cause's message."""


class StageWorker:
    """A Ray Data callable class running one stage's component over batches."""

    def __init__(self, task: curate.StageTask, engines: dict[str, curate.Engine], tally: Any,
                 in_flight_share: int | None = None):
        self.task = task
        import ray

        # the node id, not the host name: two nodes may share a host (and tests simulate that)
        self.node = f"{socket.gethostname()}:{ray.get_runtime_context().get_node_id()[:8]}"
        self.actor = f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:8]}"
        self.reporter = BatchReporter(tally)
        self.engines: dict[str, Any] = {}
        for name, inner in engines.items():
            inner = _with_in_flight(inner, in_flight_share)
            inner.start()
            self.engines[name] = make_cached_engine(inner, task.info.run_dir, f"{name}-{self.actor}")
        self.comp = task.build()
        self.comp.setup(curate.StageContext(task.info, engines=self.engines, reporter=self.reporter))

    def __call__(self, table: pa.Table) -> pa.Table:
        df = pl.from_arrow(table)
        assert isinstance(df, pl.DataFrame)
        key = batch_key(df)
        self.reporter.begin(key, self.node, {"pid": os.getpid(), "node": self.node, "actor": self.actor})
        before = {name: e.usage_snapshot() for name, e in self.engines.items()}
        try:
            advance = (lambda n: None) if self.comp.reports_progress else self.reporter.advance
            out = curate.process_rows(self.comp, df, advance)
        except curate.UserInputError:
            raise
        except Exception as exc:  # noqa: BLE001 - add where it happened, keep the message
            first, last = (df["id"][0], df["id"][-1]) if "id" in df.columns and df.height else (None, None)
            raise BatchFailed(f"{self.task.info.stage_id}: batch of {df.height} rows (ids {first} .. {last}) failed "
                              f"on node {self.node} (pid {os.getpid()}): {type(exc).__name__}: {exc}") from exc
        removed = 0
        if out.removed is not None and out.removed.height:
            removed = out.removed.height
            folder = curate.RunDir.removed_file(self.task.info.stage_dir)
            folder.mkdir(parents=True, exist_ok=True)
            # one file per batch, named by the batch: a retried batch overwrites its earlier try
            curate.atomic_write(folder / f"part-{key}.parquet", lambda f: out.removed.write_parquet(f))
        after = {name: e.usage_snapshot() for name, e in self.engines.items()}
        usage = {name: {k: after[name].get(k, 0) - before[name].get(k, 0) for k in after[name]} for name in after}
        self.reporter.finish(df.height, removed, usage)
        return out.kept.to_arrow()

    def __del__(self) -> None:
        for engine in getattr(self, "engines", {}).values():
            try:
                engine.close()
            except Exception:  # noqa: BLE001 - best effort at actor exit
                pass


def _with_in_flight(engine: curate.Engine, share: int | None) -> curate.Engine:
    """An HTTP engine on N actors: each keeps ``max_in_flight / N`` requests open, so together
    they never exceed the recipe's limit."""
    fields = type(engine.params).model_fields
    if share is None or "max_in_flight" not in fields:
        return engine
    limit = int(getattr(engine.params, "max_in_flight"))
    return type(engine)(engine.params.model_copy(update={"max_in_flight": max(1, limit // share)}))


_workers: dict[Any, StageWorker] = {}


def stage_worker(task: curate.StageTask, tally: Any) -> StageWorker:
    """The engine-free stage's worker in this process: Ray tasks run on pooled, already warm
    worker processes (imports done), much cheaper than starting actors; the component is built
    once per process and stage."""
    key = (task.info.run_dir, task.info.stage_id, task.info.stage_dir)
    worker = _workers.get(key)
    if worker is None:
        if len(_workers) > 8:  # stages of finished runs
            _workers.clear()
        worker = _workers[key] = StageWorker(task, {}, tally)
    worker.reporter.tally = tally
    return worker


def run_batch(table: pa.Table, task: curate.StageTask, tally: Any) -> pa.Table:
    """A batch of an engine-free stage, as a Ray Data task."""
    return stage_worker(task, tally)(table)
