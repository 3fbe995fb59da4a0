"""Progress and counters from the workers of a stage, exactly once per batch.

Ray runs a batch at least once: a worker that dies mid-batch has its batch run again elsewhere. So
everything a batch reports is keyed by the batch (its first row id and size): a batch that starts
again resets its own progress, and its counters replace, never add to, what an earlier try sent.
The driver polls :class:`StageTally` for the totals it shows and records.
"""

from __future__ import annotations

import time
from typing import Any

import ray


@ray.remote(num_cpus=0, max_restarts=-1, max_task_retries=-1)
class StageTally:
    """One per running stage: advance per batch, counters/metrics/usage per finished batch."""

    def __init__(self) -> None:
        self.advanced: dict[str, int] = {}
        self.counters: dict[str, dict[str, int]] = {}
        self.metrics: dict[str, float] = {}
        #: batch -> metric -> (sum of value x weight, sum of weights): a retried batch replaces its own
        self.weighted: dict[str, dict[str, tuple[float, float]]] = {}
        self.usage: dict[str, dict[str, dict[str, float]]] = {}
        self.removed: dict[str, int] = {}
        self.nodes: dict[str, str] = {}
        self.workers: dict[str, dict[str, Any]] = {}

    def reset(self) -> None:
        """Empty, for the next stage: one tally serves a whole run (an actor is a process start)."""
        self.__init__()  # type: ignore[misc]

    def begin(self, key: str, node: str, worker: dict[str, Any]) -> None:
        self.advanced[key] = 0
        self.nodes[key] = node
        self.workers[str(worker.get("pid"))] = worker

    def advance(self, key: str, n: int) -> None:
        self.advanced[key] = self.advanced.get(key, 0) + n

    def finish(self, key: str, rows: int, removed: int, counters: dict[str, int], metrics: dict[str, float],
               usage: dict[str, dict[str, float]], weighted: dict[str, tuple[float, float]] | None = None) -> None:
        self.advanced[key] = rows
        self.weighted[key] = dict(weighted or {})
        self.removed[key] = removed
        self.counters[key] = counters
        self.usage[key] = usage
        self.metrics.update(metrics)

    def progress(self) -> int:
        return sum(self.advanced.values())

    def worker_list(self) -> list[dict[str, Any]]:
        return list(self.workers.values())

    def totals(self) -> dict[str, Any]:
        counters: dict[str, int] = {}
        for batch in self.counters.values():
            for k, v in batch.items():
                counters[k] = counters.get(k, 0) + v
        usage: dict[str, dict[str, float]] = {}
        for batch in self.usage.values():
            for engine, figures in batch.items():
                into = usage.setdefault(engine, {})
                for k, v in figures.items():
                    into[k] = into.get(k, 0) + v
        metrics = dict(self.metrics)
        sums: dict[str, tuple[float, float]] = {}
        for batch in self.weighted.values():
            for k, (total, weights) in batch.items():
                t, w = sums.get(k, (0.0, 0.0))
                sums[k] = (t + total, w + weights)
        metrics.update({k: t / w for k, (t, w) in sums.items() if w})
        return {"counters": counters, "metrics": metrics, "usage": usage,
                "removed": sum(self.removed.values()), "progress": self.progress(),
                "nodes": sorted(set(self.nodes.values())), "batches": len(self.counters)}


class BatchReporter:
    """The :class:`curate.Reporter` a component sees inside a worker, for one batch at a time."""

    def __init__(self, tally: Any):
        self.tally = tally
        self.key = ""
        self.counters: dict[str, int] = {}
        self.metrics: dict[str, float] = {}
        self.weighted: dict[str, tuple[float, float]] = {}
        self._pending = 0
        self._last = 0.0

    def begin(self, key: str, node: str, worker: dict[str, Any]) -> None:
        self.key, self.counters, self.metrics, self.weighted, self._pending = key, {}, {}, {}, 0
        self.tally.begin.remote(key, node, worker)  # ordered before this caller's later calls; no wait

    def start(self, total: int | None) -> None:  # the driver knows the stage's total
        pass

    def advance(self, n: int) -> None:
        self._pending += n
        now = time.monotonic()
        if now - self._last > 0.5:  # a few messages a second per worker, not one per row
            self.tally.advance.remote(self.key, self._pending)
            self._pending, self._last = 0, now

    def count(self, key: str, n: int = 1) -> None:
        self.counters[key] = self.counters.get(key, 0) + n

    def metric(self, key: str, value: float, weight: float | None = None) -> None:
        if weight is None:
            self.metrics[key] = float(value)
        else:  # sums per batch; the tally adds the batches' sums up
            total, weights = self.weighted.get(key, (0.0, 0.0))
            self.weighted[key] = (total + float(value) * float(weight), weights + float(weight))

    def finish(self, rows: int, removed: int, usage: dict[str, dict[str, float]]) -> None:
        ray.get(self.tally.finish.remote(self.key, rows, removed, self.counters, self.metrics, usage, self.weighted))
