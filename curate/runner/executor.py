"""Executors run stages over data. ``LocalExecutor`` runs in this process; a distributed one
(Ray Data) implements the same two methods: ``map_batches`` for row-local stages and ``run_whole``
for whole-dataset stages."""

from __future__ import annotations

from typing import Callable, Protocol

import polars as pl

from curate.component import StageOutput

BatchFn = Callable[[pl.DataFrame], "pl.DataFrame | StageOutput"]


def as_output(result: pl.DataFrame | StageOutput) -> StageOutput:
    return result if isinstance(result, StageOutput) else StageOutput(result, None)


def concat(frames: list[pl.DataFrame]) -> pl.DataFrame:
    frames = [f for f in frames if f is not None]
    if not frames:
        return pl.DataFrame()
    return frames[0] if len(frames) == 1 else pl.concat(frames, how="diagonal_relaxed")


class Executor(Protocol):
    def map_batches(self, fn: BatchFn, df: pl.DataFrame, batch_size: int | None,
                    on_batch: Callable[[int], None]) -> StageOutput: ...

    def run_whole(self, fn: Callable[[pl.DataFrame], StageOutput], df: pl.DataFrame) -> StageOutput: ...


class LocalExecutor:
    def map_batches(self, fn: BatchFn, df: pl.DataFrame, batch_size: int | None,
                    on_batch: Callable[[int], None]) -> StageOutput:
        if batch_size is None or df.height <= batch_size:
            out = as_output(fn(df))
            on_batch(df.height)
            return out
        kept, removed = [], []
        for start in range(0, df.height, batch_size):
            batch = df.slice(start, batch_size)
            out = as_output(fn(batch))
            kept.append(out.kept)
            if out.removed is not None:
                removed.append(out.removed)
            on_batch(batch.height)
        return StageOutput(concat(kept), concat(removed) if removed else None)

    def run_whole(self, fn: Callable[[pl.DataFrame], StageOutput], df: pl.DataFrame) -> StageOutput:
        return fn(df)
