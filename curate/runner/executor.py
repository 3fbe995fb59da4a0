"""Executors own the data plane: datasets, batches, the partitioning a stage asks for, and the
checkpoints of stage outputs and removed rows.

The runner plans, orders and records; for each stage it hands the executor a :class:`StageTask`
(plain, serializable data: ids, paths, the component's name and params, the engines it may use)
and the :class:`Dataset` handles of the stage's inputs, and gets back a :class:`StageRun`. The
executor rebuilds the component from (name, params) wherever it runs it, so a distributed
executor (Ray) implements the same interface without touching a plugin:

* ``rows`` stages get any batch of rows (``batch_size`` rows; ``None`` lets the executor choose:
  the local executor then hands over the whole stage in one call, which a batched engine wants);
* ``groups`` stages get whole groups: every row sharing the ``group_keys`` values in one call;
* ``global`` stages run ``prepare_batch`` over batches, then ``process`` over everything.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Protocol

import polars as pl
from pydantic import BaseModel, ConfigDict

from curate.component import (REASON, Component, Dedup, Reader, Reporter, RowStage, Source, StageContext, StageInfo,
                              StageOutput, Writer)
from curate.engine import Engine
from curate.errors import DataError
from curate.rundir import RunDir, parquet_source
from curate.files import write_parquet

ID_COLUMN = "id"
#: Rows per ``prepare_batch`` call of a global stage.
PREPARE_BATCH_ROWS = 100_000


@dataclass(frozen=True)
class StageTask:
    """Everything an executor needs to run one stage, as plain data."""

    info: StageInfo
    use: str
    params: dict[str, Any]
    inputs: tuple[str, ...] = ()
    join: dict[str, Any] | None = None
    #: recipe engine names the stage may use
    engines: tuple[str, ...] = ()
    #: the stage's ``resources`` from the recipe (num_cpus, num_gpus, concurrency, batch_size, ...);
    #: a hint to distributed executors, never part of the fingerprint
    resources: dict[str, Any] = field(default_factory=dict)

    def build(self) -> Component:
        """The component, rebuilt from its registered name and params (in any process)."""
        from curate.plugins import registry

        return registry().get(self.use)(self.params)


class Dataset(Protocol):
    """A stage's output as the executor holds it; the runner only asks its shape."""

    @property
    def columns(self) -> list[str]: ...

    @property
    def num_rows(self) -> int: ...


@dataclass
class StageRun:
    """What running a stage produced."""

    output: Dataset
    rows_in: int
    rows_out: int
    rows_removed: int
    seconds: float
    counters: dict[str, int] = field(default_factory=dict)
    metrics: dict[str, float] = field(default_factory=dict)
    #: for a writer: the rows it wrote (its export format)
    written: Dataset | None = None
    #: for a writer that passes its single input on: that input's stage id (no copy checkpointed)
    data_from: str | None = None
    #: engine usage measured where the stage ran (a remote executor's workers): recipe engine name ->
    #: ``requests_sent``, ``prompt_tokens``, ``cost_usd``, ... (see ``StageStats.engines``); the
    #: runner adds it to what the engines in this process counted
    engines: dict[str, dict[str, float]] = field(default_factory=dict)


class ExecutorParams(BaseModel):
    """Base of every executor's options: unknown keys are errors, every field is described."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class Executor:
    """How the stages of a run execute. Subclass it, give it a ``name`` and register it with the
    ``curate_register_executors`` hook; ``curate run --executor NAME`` then picks it."""

    name: ClassVar[str] = ""
    Params: ClassVar[type[BaseModel]] = ExecutorParams
    #: True when the executor starts engines where it runs stages (e.g. in actors on GPU nodes);
    #: the runner then does not start them in this process.
    starts_engines: ClassVar[bool] = False
    #: Filled in by the registry: the distribution and version that registered the class.
    package: ClassVar[str | None] = None
    version: ClassVar[str | None] = None

    def __init__(self, params: BaseModel | dict[str, Any] | None = None, **kwargs: Any):
        if isinstance(params, BaseModel):
            self.params = params
        else:
            self.params = self.Params.model_validate({**(params or {}), **kwargs})

    def open(self, run_dir: RunDir, engines: dict[str, Engine]) -> None:
        """Called once before any stage of a run; ``engines`` are started as stages need them."""

    def load(self, stage_dir: Path) -> Dataset:
        """A checkpointed stage output (lazily: nothing is read until needed)."""
        raise NotImplementedError

    def run(self, task: StageTask, inputs: list[Dataset], reporter: Reporter) -> StageRun:
        """Run one stage over its inputs; checkpoint its output and removed rows."""
        raise NotImplementedError

    def collect(self, data: Dataset) -> pl.DataFrame:
        """Bring a dataset into this process as a polars DataFrame."""
        raise NotImplementedError

    def close(self) -> None:
        """Called once after the run, also when it failed."""

    @classmethod
    def summary(cls) -> str:
        doc = (cls.__doc__ or "").strip()
        return doc.splitlines()[0] if doc else ""


# --- the local executor ---------------------------------------------------------------------------

class LocalDataset:
    """A polars frame in memory, or a checkpoint file read on first use."""

    def __init__(self, frame: pl.DataFrame | None = None, path: Path | None = None):
        self._frame, self.path = frame, path

    @property
    def frame(self) -> pl.DataFrame:
        if self._frame is None:
            assert self.path is not None
            self._frame = pl.read_parquet(parquet_source(self.path))
        return self._frame

    @property
    def columns(self) -> list[str]:
        if self._frame is None and self.path is not None:
            return pl.scan_parquet(parquet_source(self.path)).collect_schema().names()
        return self.frame.columns

    @property
    def num_rows(self) -> int:
        if self._frame is None and self.path is not None:
            return pl.scan_parquet(parquet_source(self.path)).select(pl.len()).collect().item()
        return self.frame.height


def as_output(result: pl.DataFrame | StageOutput) -> StageOutput:
    return result if isinstance(result, StageOutput) else StageOutput(result, None)


def concat(frames: list[pl.DataFrame]) -> pl.DataFrame:
    frames = [f for f in frames if f is not None]
    if not frames:
        return pl.DataFrame()
    return frames[0] if len(frames) == 1 else pl.concat(frames, how="diagonal_relaxed")


def merge_inputs(frames: list[pl.DataFrame], join: dict[str, Any] | None, names: tuple[str, ...] = ()) -> pl.DataFrame:
    """Several inputs as one frame: appended (columns matched by name), or joined on keys."""
    if join is None or len(frames) < 2:
        return concat(frames)
    how = {"inner": "inner", "left": "left", "full": "full"}[join["how"]]
    out = frames[0]
    for i, frame in enumerate(frames[1:], 1):
        suffix = f"_{names[i]}" if i < len(names) else f"_{i}"
        out = out.join(frame, on=join["on"], how=how, suffix=suffix, coalesce=True)
    return out


def with_ids(df: pl.DataFrame, stage_id: str, offset: int = 0) -> pl.DataFrame:
    """Give rows a stable ``id`` (``<stage>:<n>``, ``n`` from ``offset``: the rows' position when
    ``df`` is a part of a source's rows) where a source left it out or null."""
    if ID_COLUMN in df.columns and df[ID_COLUMN].null_count() == 0:
        return df.with_columns(pl.col(ID_COLUMN).cast(pl.Utf8))
    # vectorized: a Python f-string per row cost ~0.4 s per million rows
    ids = pl.concat_str(pl.lit(f"{stage_id}:"), pl.int_range(offset, offset + df.height, dtype=pl.Int64).cast(pl.Utf8))
    if ID_COLUMN in df.columns:  # fill gaps only
        return df.with_columns(pl.coalesce(pl.col(ID_COLUMN).cast(pl.Utf8), ids).alias(ID_COLUMN))
    return df.with_columns(ids.alias(ID_COLUMN))


def group_batches(df: pl.DataFrame, keys: list[str], batch_size: int | None) -> list[pl.DataFrame]:
    """Batches of about ``batch_size`` rows that never split a group (rows with equal ``keys``);
    groups keep the order of their first row. ``None``: one batch."""
    if batch_size is None or df.height <= batch_size:
        return [df]
    indexed = df.with_row_index("__row")
    groups = indexed.group_by(keys, maintain_order=True).agg(pl.col("__row"))["__row"].to_list()
    batches: list[pl.DataFrame] = []
    current: list[int] = []
    for rows in groups:
        if current and len(current) + len(rows) > batch_size:
            batches.append(df[current])
            current = []
        current.extend(rows)
    if current:
        batches.append(df[current])
    return batches


class LocalExecutor(Executor):
    """Runs every stage in this process, over polars frames."""

    name = "local"

    def __init__(self, params: BaseModel | dict[str, Any] | None = None, **kwargs: Any) -> None:
        super().__init__(params, **kwargs)
        self.engines: dict[str, Engine] = {}
        self.run_dir: RunDir | None = None

    def open(self, run_dir: RunDir, engines: dict[str, Engine]) -> None:
        self.run_dir, self.engines = run_dir, engines

    def close(self) -> None:
        pass

    def load(self, stage_dir: Path) -> LocalDataset:
        return LocalDataset(path=RunDir.output_file(stage_dir))

    def collect(self, data: Dataset) -> pl.DataFrame:
        assert isinstance(data, LocalDataset)
        return data.frame

    def run(self, task: StageTask, inputs: list[Dataset], reporter: Reporter) -> StageRun:
        frames = [self.collect(d) for d in inputs]
        df = merge_inputs(frames, task.join, task.inputs) if frames else None
        comp = task.build()
        ctx = StageContext(task.info, engines={n: self.engines[n] for n in task.engines}, reporter=reporter)
        rows_in = 0 if df is None else df.height
        reporter.start(comp.progress_total(rows_in))
        t0 = time.perf_counter()
        comp.setup(ctx)
        try:
            out, written = self._dispatch(comp, df, reporter)
        finally:
            comp.teardown()
        seconds = time.perf_counter() - t0
        stage_dir = task.info.stage_dir
        if out.removed is not None and out.removed.height:
            write_parquet(out.removed, RunDir.removed_file(stage_dir))
        data_from = None
        if isinstance(comp, Writer) and len(inputs) == 1:
            data_from = task.inputs[0]  # the writer's output is its input: no second copy
        else:
            write_parquet(out.kept, RunDir.output_file(stage_dir))
        return StageRun(LocalDataset(out.kept), rows_in, out.kept.height,
                        0 if out.removed is None else out.removed.height, seconds,
                        written=None if written is None else LocalDataset(written), data_from=data_from)

    def _dispatch(self, comp: Component, df: pl.DataFrame | None,
                  reporter: Reporter) -> tuple[StageOutput, pl.DataFrame | None]:
        advance = (lambda n: None) if comp.reports_progress else reporter.advance
        if isinstance(comp, Source):
            new = comp.read()
            if new.height == 0:
                verb = "read" if isinstance(comp, Reader) else "made"
                raise DataError(f"stage {comp.ctx.stage_id!r} ({comp.name}) {verb} no rows",
                                hint="the input is empty; point the stage at data (or params) that give rows")
            new = with_ids(new, comp.ctx.stage_id)
            advance(new.height)
            return StageOutput(new if df is None else concat([df, new])), None
        assert df is not None, "the planner gives every non-source stage an input"
        if isinstance(comp, Writer):
            rows = comp.format(df)
            comp.write(rows)
            advance(df.height)
            return StageOutput(df), rows
        if isinstance(comp, Dedup):
            prepared = self._map(comp.prepare_batch, df, PREPARE_BATCH_ROWS, None, lambda n: None)
            out = comp.process(prepared.kept)
            advance(df.height)
            return out, None
        if isinstance(comp, RowStage):
            return process_rows(comp, df, advance), None
        raise TypeError(f"{comp.name}: unknown component kind {comp.kind!r}")

    @staticmethod
    def _map(fn: Any, df: pl.DataFrame, batch_size: int | None, keys: list[str] | None,
             advance: Any) -> StageOutput:
        if keys:
            batches = group_batches(df, keys, batch_size)
        elif batch_size is None or df.height <= batch_size:
            batches = [df]
        else:
            batches = [df.slice(start, batch_size) for start in range(0, df.height, batch_size)]
        kept, removed = [], []
        for batch in batches:
            out = as_output(fn(batch))
            kept.append(out.kept)
            if out.removed is not None:
                removed.append(out.removed)
            advance(batch.height)
        if not kept:
            return StageOutput(df.clear(), None)
        return StageOutput(concat(kept), concat(removed) if removed else None)


def process_rows(comp: RowStage, df: pl.DataFrame, advance: Any = lambda n: None) -> StageOutput:
    """Run a set-up row-local (or grouped) stage over ``df`` in batches of its ``batch_size``,
    never splitting a group; ``advance(n)`` after each batch. What every executor does with the
    rows it hands one worker."""
    keys = comp.group_keys()
    if keys:
        missing = [k for k in keys if k not in df.columns]
        if missing:
            raise DataError(f"stage {comp.ctx.stage_id!r} groups rows by {missing}, which the data lacks",
                            hint="produce the grouping columns upstream")
    return LocalExecutor._map(comp.process_batch, df, comp.batch_size, keys or None, advance)


# --- a dedup's distributed protocol, in process ---------------------------------------------------

def dedup_by_protocol(comp: Dedup, df: pl.DataFrame, *, batch_rows: int | None = None,
                      partitions: int = 3) -> pl.DataFrame:
    """What a distributed executor computes for ``comp`` (see :class:`curate.Dedup`'s protocol),
    step by step in this process: ``prepare_for_shuffle`` over batches of ``batch_rows``, the fit
    on the sample, ``find_pairs`` over ``partitions`` hash partitions of each key's buckets,
    connected components and :meth:`curate.Dedup.resolve`. Returns the frame ``find_duplicates``
    returns (aligned with ``df``), so a test can check that both agree. ``df`` rows are numbered
    by position unless they carry ``__order``."""
    from curate.component import ORDER

    if not comp.shuffle_keys():
        raise TypeError(f"{comp.name} does not implement the distributed protocol (no shuffle_keys)")
    if ORDER not in df.columns:
        df = df.with_row_index(ORDER).with_columns(pl.col(ORDER).cast(pl.Int64))
    size = batch_rows or max(df.height, 1)
    batches = [comp.prepare_for_shuffle(df.slice(s, size)) for s in range(0, max(df.height, 1), size)]
    offered = [s for s in (comp.fit_sample(b) for b in batches) if s is not None]
    if offered:
        pool = concat(offered)
        sample = pool.sort("__sample_key", ORDER).head(comp.fit_limit(pool.height))
        state = comp.fit(sample, pool.height)
        batches = [comp.assign_batch(b, state) for b in batches]
    edges = [pl.DataFrame(schema={"a": pl.Int64, "b": pl.Int64})]
    for key in comp.shuffle_keys():
        rows = concat([comp.key_rows(b, key) for b in batches])
        if rows.height == 0:
            continue
        part = rows.select((pl.col(key).hash(seed=7) % partitions).alias("__part"))["__part"]
        for p in range(partitions):
            found = comp.find_pairs(rows.filter(part == p), key)
            edges.append(found.select(pl.col("a").cast(pl.Int64), pl.col("b").cast(pl.Int64)))
    labels = min_label_components(pl.concat(edges))
    prepared = concat(batches)
    members = prepared.join(labels.rename({"component": "__component"}), left_on=ORDER, right_on="node", how="inner")
    resolved = comp.resolve(members) if members.height else pl.DataFrame(
        schema={ORDER: pl.Int64, "cluster": pl.Int64, "duplicate_of": pl.Utf8, "similarity": pl.Float64})
    out = df.select(ORDER).join(resolved, on=ORDER, how="left", maintain_order="left")
    return out.select(pl.coalesce("cluster", ORDER).cast(pl.Int64).alias("cluster"),
                      pl.col("duplicate_of").cast(pl.Utf8), pl.col("similarity").cast(pl.Float64))


def min_label_components(edges: pl.DataFrame) -> pl.DataFrame:
    """``node``, ``component`` (the smallest node of its connected component) of every node of the
    undirected ``edges`` (Int64 ``a``, ``b``), by min-label propagation."""
    both = pl.concat([edges.select(pl.col("a").alias("u"), pl.col("b").alias("v")),
                      edges.select(pl.col("b").alias("u"), pl.col("a").alias("v"))]).unique()
    labels = both.group_by("u").agg(pl.min_horizontal(pl.col("u").first(), pl.col("v").min()).alias("component"))
    labels = labels.rename({"u": "node"})
    while True:
        spread = both.join(labels, left_on="v", right_on="node").group_by("u").agg(pl.col("component").min())
        new = labels.join(spread.rename({"u": "node", "component": "c2"}), on="node", how="left").with_columns(
            pl.min_horizontal("component", "c2").alias("component")).drop("c2")
        if new.sort("node").equals(labels.sort("node")):
            return labels.sort("node")
        labels = new


__all__ = ["Executor", "LocalExecutor", "StageTask", "StageRun", "Dataset", "LocalDataset", "concat",
           "merge_inputs", "group_batches", "with_ids", "REASON", "dedup_by_protocol", "min_label_components"]
