"""The ``ray`` executor: the same recipe, the same plugins, on a Ray cluster (Ray Data underneath).

Stages map onto Ray by how they partition (see :class:`curate.Component`):

* ``rows`` without engines: one task per piece of the input's checkpoint reads it, runs the
  stage and writes the stage's own part (:mod:`curate_ray.parts`);
* ``rows`` with engines, and ``groups``: ``map_batches`` over Arrow blocks on a pool of actors
  (:class:`curate_ray.worker.StageWorker`), each building the component and its engines once;
  grouped stages are hash-partitioned by their keys first, so a group never spans two batches;
* ``global`` (deduplication): distributed by shuffles (:mod:`curate_ray.dedup`), not gathered;
* sources run in a worker task, or one task per split (files) when the reader lists splits, and
  that task writes the split as a part; writers read, format and write one part per piece where
  the writer writes in parts (every first-party file writer does), then commit once; others
  write in one worker task.

Every stage's output is a folder of Parquet parts (``output.parquet/``) written by the workers,
with the same fingerprints as the local executor, so a run can resume on either executor. The
driver holds dataset handles and counts, never the rows.
"""

from __future__ import annotations

import logging
import threading
import time
from pathlib import Path
from typing import Any, Literal

import polars as pl
import pyarrow as pa
from pydantic import Field

import curate
from curate_ray import cluster
from curate_ray import parts
from curate_ray.join import join_datasets
from curate_ray.progress import StageTally
from curate_ray.worker import StageWorker, run_batch, shard_dir, stage_worker

log = logging.getLogger("curate.ray")

ORDER = "__order"
#: Rows per batch of a CPU stage whose component and recipe leave it open: the rows one task
#: reads, runs and writes (about 20 MiB of 600-byte documents). 4096 spent a third of a filter's
#: time on per-task costs; 4x more rows per task halved them, more gained nothing measurable.
DEFAULT_BATCH_ROWS = 16384
#: Tries of a task that reads, runs and writes a piece, when its worker process dies (an error
#: the stage raises is not retried: it fails the stage, naming the piece).
PIECE_RETRIES = 8
#: CPUs of a read or write task: I/O that must run beside actors holding whole CPUs.
IO_CPUS = 0.25
#: Actors of an engine stage whose engine talks HTTP (no GPU), when the recipe leaves it open.
DEFAULT_HTTP_ACTORS = 4


class RayParams(curate.ExecutorParams):
    address: str | None = Field(None, description="Cluster to join: `auto` (a `ray start` cluster on this machine) or "
                                "`ray://host:10001`. Default: start a local cluster for the run and stop it after.")
    num_cpus: int | None = Field(None, ge=1, description="CPUs of the local cluster curate starts (default: all).")
    object_store_memory: int | None = Field(None, ge=78_643_200, description="Object store bytes of the local "
                                            "cluster (default: 15% of RAM, at most 4 GiB).")
    batch_rows: int = Field(DEFAULT_BATCH_ROWS, ge=1, description="Rows per batch of CPU stages that set none "
                            "(and per row group of checkpoint parts: the pieces the next stage's tasks read).")
    checkpoint_compression: Literal["none", "snappy", "lz4", "zstd", "gzip", "brotli"] = Field(
        "none", description="Parquet codec of the checkpoint parts the workers write. `none` costs the least "
        "CPU (here 3-4x less than snappy to write, 3x less to read) and 1.6x snappy's bytes; `zstd` when the "
        "shared filesystem's space or bandwidth is what runs short.")


class RayDataset:
    """A stage output on the cluster: a lazy Ray dataset, with its row count and schema when
    known without running it (read from the Parquet footers of a checkpoint)."""

    def __init__(self, ds: Any, num_rows: int | None = None, schema: pa.Schema | None = None,
                 files: list[Path] | None = None):
        self.ds = ds
        self._num_rows = num_rows
        self.schema = schema
        #: the checkpoint's part files, in row order, when it is one (a stage can read them itself)
        self.files = files

    @property
    def columns(self) -> list[str]:
        if self.schema is None:
            found = self.ds.schema()
            names = list(found.names) if found is not None else []
            types = list(found.types) if found is not None else []
            self.schema = pa.schema([(n, t if isinstance(t, pa.DataType) else pa.null()) for n, t in zip(names, types)])
        return list(self.schema.names)

    @property
    def num_rows(self) -> int:
        if self._num_rows is None:
            self._num_rows = self.ds.count()
        return self._num_rows


def _read_files(batch: pa.Table) -> pa.Table:
    import pyarrow.parquet as pq

    tables = [pq.read_table(path) for path in batch.column("path").to_pylist()]
    return pa.concat_tables(tables, promote_options="default") if len(tables) > 1 else tables[0]


def _read_parts(path: Path) -> RayDataset:
    """A checkpoint (one Parquet file, or a folder of parts) as a lazy dataset: one read task per
    part, streamed (Ray's own ``read_parquet`` took 8-16 s for a 300-row folder here)."""
    import pyarrow.parquet as pq
    import ray

    files = parts.part_files(path)
    if not files:
        raise curate.DataError(f"checkpoint {path} has no Parquet parts", hint="rerun with --fresh")
    rows = sum(pq.read_metadata(f).num_rows for f in files)
    schema = pq.read_schema(files[0])
    ds = ray.data.from_items([{"path": str(f)} for f in files], override_num_blocks=len(files))
    # Light I/O tasks: a fraction of a CPU, so stage actors that hold whole CPUs never starve them;
    # at most one per CPU at a time, or Ray starts a worker process for each (4 per CPU at a
    # quarter CPU each, each importing curate: ~1-2 s of CPU apiece), then stops the extra ones
    # when they idle, and the next stage starts them again.
    ds = ds.map_batches(_read_files, batch_size=1, batch_format="pyarrow", num_cpus=IO_CPUS,
                        concurrency=min(len(files), _cpus()))
    return RayDataset(ds, rows, schema, files)


class RayExecutor(curate.Executor):
    """Runs stages on a Ray cluster: actors per stage, shuffles for deduplication, output in parts."""

    name = "ray"
    Params = RayParams
    starts_engines = True

    def __init__(self, params: Any = None, **kwargs: Any):
        super().__init__(params, **kwargs)
        self.run_dir: curate.RunDir | None = None
        self.engines: dict[str, Any] = {}
        self._started_cluster = False
        self._checked: set[str] = set()
        self._tally: Any = None

    # --- lifecycle ---------------------------------------------------------------------------
    def open(self, run_dir: curate.RunDir, engines: dict[str, curate.Engine]) -> None:
        import ray

        p = self.params
        self._started_cluster = cluster.connect(p.address, p.num_cpus, p.object_store_memory)
        ctx = ray.data.DataContext.get_current()
        ctx.execution_options.preserve_order = True  # the same row order as locally: dedup keeps the same rows
        # An actor pool's batches go to the least busy actor, not to the one on the node that
        # holds the block: that one took up to 4 batches while an actor elsewhere idled (engine
        # stages' batches are small prompts; the engine call is the cost, not moving them).
        ctx.execution_options.actor_locality_enabled = False
        ctx.enable_progress_bars = False  # curate shows its own per stage
        ctx.print_on_execution_start = False
        self.run_dir, self.engines = run_dir, engines

    def close(self) -> None:
        import ray

        if self.run_dir is not None:
            merge_shards(self.run_dir.path)
        self._tally = None
        if self._started_cluster and ray.is_initialized():
            ray.shutdown()
        self._started_cluster = False

    def load(self, stage_dir: Path) -> RayDataset:
        return _read_parts(curate.RunDir.output_file(stage_dir))

    def collect(self, data: Any) -> pl.DataFrame:
        if not isinstance(data, RayDataset):
            raise TypeError(f"the ray executor cannot collect {type(data).__name__}")
        import ray

        tables = ray.get(data.ds.to_arrow_refs())
        tables = [t for t in tables if t.num_rows] or tables[:1]
        if not tables:
            return pl.DataFrame()
        out = pl.from_arrow(pa.concat_tables(tables, promote_options="default"))
        assert isinstance(out, pl.DataFrame)
        return out

    # --- one stage ---------------------------------------------------------------------------
    def run(self, task: curate.StageTask, inputs: list[Any], reporter: curate.Reporter) -> curate.StageRun:
        task = _absolute(task)  # workers on other nodes (and `ray start` ones here) have another cwd
        comp = task.build()
        self._check_cluster(task, comp)
        t0 = time.perf_counter()
        ds = self._merge(task, inputs)
        # rows the stage sees: a join's are the joined rows, as locally (count() of computed blocks)
        rows_in = ds.count() if task.join is not None else sum(d.num_rows for d in inputs)
        reporter.start(comp.progress_total(rows_in))
        if self._tally is None:
            self._tally = StageTally.remote()
        tally = self._tally
        _get(tally.reset.remote())  # stages run one after another: one tally actor per run
        out_dir = curate.RunDir.output_file(task.info.stage_dir)
        written = None
        data_from = None
        try:
            with _Poller(tally, reporter):
                if isinstance(comp, curate.Source):
                    self._source(task, ds, out_dir)
                elif isinstance(comp, curate.Writer):
                    written = self._write(task, ds, inputs)
                    if len(inputs) == 1:
                        data_from = task.inputs[0]
                    else:
                        self._write_dataset(ds, out_dir)
                elif isinstance(comp, curate.Dedup):
                    self._dedup(task, comp, ds, tally, out_dir, inputs)
                elif self._by_pieces(task, comp, inputs):
                    self._rows_by_pieces(task, comp, inputs[0], tally, out_dir)
                else:  # engines, groups or joins: Ray Data computes the rows
                    self._write_dataset(self._rows(task, comp, ds, tally, rows_in), out_dir)
        except curate.UserInputError as exc:
            raise _user_error(exc) from None
        totals = _get(tally.totals.remote())
        if data_from is None:
            _ensure_parts(out_dir, inputs[0] if len(inputs) == 1 else None)
            output = _read_parts(out_dir)
        else:
            output = inputs[0]
        rows_out = output.num_rows
        if isinstance(comp, curate.Source):
            rows_in = 0
            if rows_out == 0:
                verb = "read" if isinstance(comp, curate.Reader) else "made"
                raise curate.DataError(f"stage {task.info.stage_id!r} ({comp.name}) {verb} no rows",
                                       hint="the input is empty; point the stage at data (or params) that give rows")
        removed = totals["removed"] if not isinstance(comp, curate.Dedup) else _count_removed(task.info.stage_dir)
        metrics = dict(totals["metrics"])
        if totals["nodes"]:
            metrics["ray_nodes"] = float(len(totals["nodes"]))  # how many nodes ran batches of the stage
        return curate.StageRun(output, rows_in, rows_out, removed, time.perf_counter() - t0,
                               counters=totals["counters"], metrics=metrics, written=written,
                               data_from=data_from, engines=totals["usage"])

    def _check_cluster(self, task: curate.StageTask, comp: curate.Component) -> None:
        reg = curate.plugin_registry()
        needed = {}
        for name in [task.use, *(self.engines[e].name for e in task.engines)]:
            if name in self._checked:
                continue
            cls = reg.find(name)
            needed[name] = (reg.origin(cls).package if cls else None) or "?"
        if needed:
            cluster.check_nodes(needed)
            self._checked.update(needed)

    def _merge(self, task: curate.StageTask, inputs: list[Any]) -> Any:
        if not inputs:
            return None
        if len(inputs) == 1:
            return inputs[0].ds
        if task.join is not None:
            # A hash shuffle by the keys, one join task per partition (curate_ray.join), not a gather.
            return join_datasets(inputs, task.join, task.inputs, task.info.stage_id)
        fields: dict[str, pa.DataType] = {}
        for d in inputs:
            d.columns  # noqa: B018 - fills d.schema
            for name, typ in zip(d.schema.names, d.schema.types):
                if name not in fields or pa.types.is_null(fields[name]):
                    fields[name] = typ
        aligned = [d.ds.map_batches(_align, fn_kwargs={"fields": fields}, batch_format="pyarrow", batch_size=None)
                   for d in inputs]
        return aligned[0].union(*aligned[1:])

    def _source(self, task: curate.StageTask, ds: Any, out_dir: Path) -> None:
        """A source's rows, written as the checkpoint's parts by the tasks that read them: a
        reader whose input comes in splits (files) reads them in parallel tasks, then ids are
        given by position across splits (as ``read()`` would give them)."""
        import ray

        comp = task.build()
        splits: list[Any] = []
        if isinstance(comp, curate.Reader):
            comp.setup(curate.StageContext(task.info))
            try:
                splits = comp.splits()
            finally:
                comp.teardown()
        fmt = self._format()
        if ds is not None:  # a source that also appends its inputs: through Ray Data
            new = ray.data.from_arrow_refs([_read_source.remote(task)])
            self._write_dataset(ds.union(new), out_dir)
            return
        if len(splits) > 1:
            raw = [_read_split.remote(task, split) for split in splits]
            shapes = ray.get([_shape.remote(ref) for ref in raw])
            schema = pa.unify_schemas([sch for _, sch in shapes], promote_options="permissive")
            offsets = [sum(n for n, _ in shapes[:i]) for i in range(len(shapes))]
            done = [_finish_split.remote(ref, off, task.info.stage_id, schema, out_dir, i, fmt)
                    for i, (ref, off) in enumerate(zip(raw, offsets))]
            del raw  # each split's rows leave the object store once written
            ray.get(done)
        else:
            ray.get(_write_source.remote(task, out_dir, fmt))

    def _write(self, task: curate.StageTask, ds: Any, inputs: list[RayDataset]) -> RayDataset:
        """Rows formatted in parallel; a writer that writes in parts has every piece of its input
        read, formatted and written as one part by a task, then one ``commit`` (a light task);
        others write in one task. The written rows (``result.outputs``) stay a lazy dataset."""
        import ray

        comp = task.build()
        formatted = ds.map_batches(_format_batch, fn_kwargs={"task": task}, batch_format="pyarrow",
                                   batch_size=None)
        if not (isinstance(comp, curate.Writer) and comp.writes_parts()):
            refs = formatted.to_arrow_refs()
            ray.get(_write_task.remote(task, refs))
            return RayDataset(ray.data.from_arrow_refs(refs))
        if len(inputs) == 1 and inputs[0].files:
            todo = parts.pieces(inputs[0].files, self.params.batch_rows)
            done = _get_pieces(task, todo, [_write_piece.remote(task, piece, i) for i, piece in enumerate(todo)])
            ray.get(_commit.remote(task, [part for part, _ in done]))
            return RayDataset(formatted, sum(n for _, n in done))
        refs = formatted.to_arrow_refs()
        written = ray.get([_write_part.remote(task, ref, i) for i, ref in enumerate(refs)])
        ray.get(_commit.remote(task, written))
        return RayDataset(ray.data.from_arrow_refs(refs))

    def _write_dataset(self, ds: Any, out_dir: Path) -> None:
        """A stage's output computed by Ray Data (an actor pool's, a join's) as checkpoint parts."""
        # light write tasks (actors may hold the CPUs), but no more of them than CPUs: each
        # extra one is a new worker process importing curate
        ds.write_parquet(str(out_dir), ray_remote_args={"num_cpus": IO_CPUS}, concurrency=_cpus(),
                         compression=self.params.checkpoint_compression)

    def _format(self) -> parts.PartFormat:
        """Checkpoint parts: row groups of a batch (the next stage's pieces), the chosen codec."""
        return parts.PartFormat(self.params.batch_rows, self.params.checkpoint_compression)

    def _by_pieces(self, task: curate.StageTask, comp: curate.Component, inputs: list[Any]) -> bool:
        """Whether the stage reads, runs and writes pieces of its input's checkpoint in tasks:
        an engine-free row stage over one checkpoint, with no groups and no actor pool asked for."""
        res = task.resources
        return (isinstance(comp, curate.RowStage) and not task.engines and not comp.group_keys()
                and len(inputs) == 1 and task.join is None and bool(getattr(inputs[0], "files", None))
                and not res.get("concurrency") and not res.get("num_gpus"))

    def _rows_by_pieces(self, task: curate.StageTask, comp: curate.Component, data: RayDataset, tally: Any,
                        out_dir: Path) -> None:
        # a piece is at least the stage's own batch (process_rows cuts it into those batches)
        batch = task.resources.get("batch_size") or max(self.params.batch_rows, getattr(comp, "batch_size", None) or 0)
        todo = parts.pieces(data.files or [], max(batch, 1))
        options: dict[str, Any] = {"num_cpus": task.resources.get("num_cpus", 1)}
        if task.resources.get("memory"):
            options["memory"] = task.resources["memory"]
        run = _rows_piece.options(**options)
        fmt = self._format()
        _get_pieces(task, todo, [run.remote(task, tally, piece, out_dir, i, fmt) for i, piece in enumerate(todo)])

    def _rows(self, task: curate.StageTask, comp: curate.Component, ds: Any, tally: Any, rows_in: int) -> Any:
        from ray.data import ActorPoolStrategy

        res = task.resources
        engines = {name: self.engines[name].inner if hasattr(self.engines[name], "inner") else self.engines[name]
                   for name in task.engines}
        http = any("max_in_flight" in type(e.params).model_fields for e in engines.values())
        gpus = res.get("num_gpus")
        if engines:
            actors = res.get("concurrency") or (DEFAULT_HTTP_ACTORS if http else 1)
            compute = ActorPoolStrategy(size=actors)
            num_cpus = res.get("num_cpus", 0.25 if http else 1)
        else:
            actors = res.get("concurrency")
            compute = ActorPoolStrategy(size=actors) if actors else ActorPoolStrategy(min_size=1, max_size=_cpus())
            num_cpus = res.get("num_cpus", 1)
        if actors:
            num_cpus = _leave_room_for_io(task.info.stage_id, actors, num_cpus)
        rows = max(rows_in, 1)
        batch = res.get("batch_size") or getattr(comp, "batch_size", None)
        if batch is None:
            # Engine stages: blocks sized so every actor gets several batches (one big block would
            # hand every request to one actor); CPU stages: the executor's default.
            batch = max(1, min(256, -(-rows // ((actors or 1) * 4)))) if engines else self.params.batch_rows
        keys = comp.group_keys() if isinstance(comp, curate.RowStage) else []
        if keys:
            ds = ds.repartition(max(2, -(-rows // batch)), keys=list(keys))
            batch_size = None  # whole blocks: a hash partition holds whole groups
        elif engines or res.get("concurrency") or gpus:
            # A fixed actor pool holds its CPUs for the whole stage; Ray's repartition would then
            # wait for a whole free CPU that may never come. Cut the blocks with light tasks.
            ds = rechunk(ds, batch)
            batch_size = batch
        else:
            ds = ds.repartition(target_num_rows_per_block=batch)
            batch_size = batch
        # Lost workers: Ray Data's own defaults already retry a map task forever (max_retries=-1)
        # and restart a pool's actor and retry its tasks forever (max_restarts=-1,
        # max_task_retries=-1). Passing them as remote args is deprecated in Ray 2.60 (removed in
        # 2.64), so only the named parameters are given.
        remote: dict[str, Any] = {}
        if gpus:
            remote["num_gpus"] = gpus
        if res.get("memory"):
            remote["memory"] = res["memory"]
        if not engines and not res.get("concurrency") and not gpus:
            # Engine-free stages run as tasks on Ray's pool of warm worker processes.
            return ds.map_batches(run_batch, fn_kwargs={"task": task, "tally": tally}, batch_size=batch_size,
                                  batch_format="pyarrow", num_cpus=num_cpus, zero_copy_batch=True, **remote)
        return ds.map_batches(
            StageWorker, fn_constructor_kwargs={"task": task, "engines": engines, "tally": tally,
                                                "in_flight_share": actors if http else None},
            batch_size=batch_size, batch_format="pyarrow", compute=compute, num_cpus=num_cpus,
            zero_copy_batch=True, **remote)

    def _dedup(self, task: curate.StageTask, comp: curate.Component, ds: Any, tally: Any, out_dir: Path,
               inputs: list[Any]) -> None:
        from curate_ray.dedup import Pieces, run_dedup, stage_factory

        if len(inputs) == 1 and inputs[0].files:  # read by the tasks that need the rows, ordered from the footers
            source: Any = Pieces.of(inputs[0].files, self.params.batch_rows)
        else:
            source = with_order(ds)
        rdir = curate.RunDir.removed_file(task.info.stage_dir)
        # results written as parts by tasks, in order (no Ray Data write: its start-up and
        # streaming executor cost more than the writing itself)
        _, _, counters = run_dedup(stage_factory(task), source, resources=task.resources, out=(out_dir, rdir),
                                   part_format=self._format())
        if counters:
            tally.finish.remote("dedup", 0, 0, counters, {}, {})


# --- helpers run on the cluster -------------------------------------------------------------------

def _remote(fn: Any, max_retries: int = 3, **options: Any) -> Any:
    import ray

    return ray.remote(max_retries=max_retries, **options)(fn)


def _read_source_fn(task: curate.StageTask) -> pa.Table:
    comp = task.build()
    comp.setup(curate.StageContext(task.info))
    try:
        new = comp.read()
    finally:
        comp.teardown()
    return curate.with_ids(new, task.info.stage_id).to_arrow()


def _read_split_fn(task: curate.StageTask, split: Any) -> pa.Table:
    comp = task.build()
    comp.setup(curate.StageContext(task.info))
    try:
        return comp.read_split(split).to_arrow()
    finally:
        comp.teardown()


def _shape_fn(table: pa.Table) -> tuple[int, pa.Schema]:
    return table.num_rows, table.schema


def _finish_split_fn(table: pa.Table, offset: int, stage_id: str, schema: pa.Schema, out_dir: Path, index: int,
                     fmt: parts.PartFormat) -> int:
    """A split with every column of all splits (polars' diagonal concat) and its rows' ids,
    written as part ``index`` of the source's checkpoint."""
    cols = [table.column(f.name).cast(f.type) if f.name in table.column_names else pa.nulls(table.num_rows, f.type)
            for f in schema]
    df = pl.from_arrow(pa.Table.from_arrays(cols, schema=schema))
    assert isinstance(df, pl.DataFrame)
    parts.write_part(curate.with_ids(df, stage_id, offset=offset).to_arrow(), out_dir, index, fmt)
    return df.height


def _write_source_fn(task: curate.StageTask, out_dir: Path, fmt: parts.PartFormat) -> int:
    table = _read_source_fn(task)
    parts.write_part(table, out_dir, 0, fmt)
    return table.num_rows


def _rows_piece_fn(task: curate.StageTask, tally: Any, piece: parts.Piece, out_dir: Path, index: int,
                   fmt: parts.PartFormat) -> int:
    """A piece of the input checkpoint through the stage, written as part ``index`` of its own."""
    kept = stage_worker(task, tally)(parts.read_piece(piece))
    parts.write_part(kept, out_dir, index, fmt)
    return kept.num_rows


def _write_piece_fn(task: curate.StageTask, piece: parts.Piece, index: int) -> tuple[Any, int]:
    comp = _component(task)
    rows = comp.format(pl.from_arrow(parts.read_piece(piece)))
    return comp.write_part(rows, index), rows.height


def _get_pieces(task: curate.StageTask, todo: list[parts.Piece], refs: list[Any]) -> list[Any]:
    """The pieces' results in order; a piece whose worker kept dying says which piece it was."""
    import ray

    try:
        return ray.get(refs)
    except (ray.exceptions.WorkerCrashedError, ray.exceptions.NodeDiedError,
            ray.exceptions.OutOfMemoryError) as exc:
        ready, _ = ray.wait(refs, num_returns=len(refs), timeout=0)
        failed = [i for i, ref in enumerate(refs) if ref not in ready]
        where = todo[failed[0]].where() if failed else "?"
        raise curate.DataError(
            f"stage {task.info.stage_id!r}: the worker running piece {where} died {PIECE_RETRIES + 1} times "
            f"({type(exc).__name__})",
            hint="a worker killed by the OOM killer needs smaller pieces (--executor-opt batch_rows=..., or "
                 "the stage's resources.batch_size) or more memory per task (resources.memory)") from exc


def _write_part_fn(task: curate.StageTask, table: pa.Table, part: int) -> Any:
    frame = pl.from_arrow(table)
    return _component(task).write_part(frame, part)


def _commit_fn(task: curate.StageTask, parts: list[Any]) -> None:
    _component(task).commit(parts)


def _format_batch(table: pa.Table, task: curate.StageTask) -> pa.Table:
    comp = _component(task)
    df = pl.from_arrow(table)
    return comp.format(df).to_arrow()


def _write_fn(task: curate.StageTask, refs: list[Any]) -> None:
    import ray

    comp = _component(task)
    tables = [t for t in ray.get(refs)]
    frame = pl.from_arrow(pa.concat_tables(tables, promote_options="default")) if tables else pl.DataFrame()
    comp.write(frame)


_components: dict[Any, curate.Component] = {}


def _component(task: curate.StageTask) -> curate.Component:
    """One component per task per worker process (writers' ``format`` runs once per batch)."""
    import json

    key = (task.info.stage_id, task.info.stage_dir, json.dumps(task.params, sort_keys=True, default=str))
    if key not in _components:
        comp = task.build()
        comp.setup(curate.StageContext(task.info))
        _components[key] = comp
    return _components[key]


def _align(table: pa.Table, fields: dict[str, pa.DataType]) -> pa.Table:
    """Columns of appended inputs matched by name, missing ones null (polars' diagonal concat)."""
    for name, typ in fields.items():
        if name not in table.column_names:
            table = table.append_column(pa.field(name, typ), pa.nulls(table.num_rows, typ))
    return table.select(list(fields))


_read_source = None
_write_task = None
_read_split = None
_shape = None
_finish_split = None
_write_part = None
_commit = None
_write_source = None
_rows_piece = None
_write_piece = None


def _init_remotes() -> None:
    global _read_source, _write_task, _read_split, _shape, _finish_split, _write_part, _commit
    global _write_source, _rows_piece, _write_piece
    if _read_source is None:
        _read_source = _remote(_read_source_fn)
        _write_task = _remote(_write_fn)
        # Whole CPUs: these run when no actor pool holds the cluster (a source's reads, a writer's
        # parts after formatting), and a fractional task lets Ray start more worker processes
        # than CPUs, each paying curate's import (1-2 s here): measured 5.5 s -> 2.3 s per writer.
        _read_split = _remote(_read_split_fn)
        _shape = _remote(_shape_fn)
        _finish_split = _remote(_finish_split_fn)
        _write_part = _remote(_write_part_fn)
        _commit = _remote(_commit_fn)
        _write_source = _remote(_write_source_fn)
        # a lost worker's piece runs again (its part is rewritten whole); a stage's own error does not
        _rows_piece = _remote(_rows_piece_fn, max_retries=PIECE_RETRIES)
        _write_piece = _remote(_write_piece_fn, max_retries=PIECE_RETRIES)


def with_order(ds: Any) -> Any:
    """``ds`` with ``__order``: each row's position in the dataset (the local executor's order),
    computed per block from block sizes; rows never leave the object store."""
    import ray

    from curate_ray.dedup import blocks_and_counts

    refs, counts = blocks_and_counts(ds)
    offsets, total = [], 0
    for n in counts:
        offsets.append(total)
        total += n
    # whole-CPU tasks: no stage actors hold CPUs during a dedup, and a quarter CPU each would
    # start extra worker processes (see _read_parts)
    add = _add_order.options(num_cpus=1)
    return ray.data.from_arrow_refs([add.remote(r, off) for r, off in zip(refs, offsets)])


def rechunk(ds: Any, rows: int) -> Any:
    """``ds`` as blocks of ``rows`` rows (the last of each input block shorter), cut by light
    tasks in the object store: the input is computed first, nothing reaches the driver."""
    import ray

    from curate_ray.dedup import blocks_and_counts

    refs, counts = blocks_and_counts(ds)
    chunks = [_slice.remote(ref, start, rows) for ref, n in zip(refs, counts) for start in range(0, n, rows)]
    return ray.data.from_arrow_refs(chunks) if chunks else ds


def _slice_fn(table: pa.Table, start: int, rows: int) -> pa.Table:
    return table.slice(start, rows)


_add_order = None
_slice = None


def _user_error(exc: curate.UserInputError) -> curate.UserInputError:
    """A user's error raised in a worker, as raised there (Ray's wrapper adds the worker's
    traceback to the message: the user needs the what and the fix, as on the local executor)."""
    import ray

    cause = exc.cause if isinstance(exc, ray.exceptions.RayTaskError) else None
    return cause if isinstance(cause, curate.UserInputError) else exc


def _get(ref: Any) -> Any:
    import ray

    return ray.get(ref)


def _cpus() -> int:
    import ray

    return max(1, int(ray.cluster_resources().get("CPU", 1)))


def _leave_room_for_io(stage_id: str, actors: int, num_cpus: float) -> float:
    """CPUs per actor, lowered when a fixed pool would hold every CPU of the cluster: Ray Data then
    cannot schedule the reads and writes that feed and drain the pool, and the stage hangs."""
    total = float(_cpus())
    room = max(total - IO_CPUS * 2, total / 2)
    if actors * num_cpus <= room:
        return num_cpus
    lowered = round(room / actors, 3)
    log.warning("stage %r: %d actors x %g CPUs would hold all %g CPUs of the cluster; giving each %g CPUs",
                stage_id, actors, num_cpus, total, lowered)
    return lowered


def _ensure_parts(out_dir: Path, like: RayDataset | None) -> None:
    """Ray writes no file for an empty dataset; the checkpoint still needs one (with the schema)."""
    import pyarrow.parquet as pq

    if out_dir.is_dir() and any(out_dir.glob("*.parquet")):
        return
    if like is not None:
        like.columns  # noqa: B018 - fills like.schema
    schema = like.schema if like is not None and like.schema is not None else pa.schema([("id", pa.string())])
    out_dir.mkdir(parents=True, exist_ok=True)
    pq.write_table(schema.empty_table(), out_dir / "part-empty.parquet")


def _absolute(task: curate.StageTask) -> curate.StageTask:
    import dataclasses

    info = task.info
    info = dataclasses.replace(info, recipe_dir=Path(info.recipe_dir).absolute(), run_dir=Path(info.run_dir).absolute(),
                               stage_dir=Path(info.stage_dir).absolute())
    return dataclasses.replace(task, info=info)


def _count_removed(stage_dir: Path) -> int:
    path = curate.RunDir.removed_file(stage_dir)
    if not path.exists():
        return 0
    return int(pl.scan_parquet(curate.parquet_source(path)).select(pl.len()).collect().item())


def merge_shards(run_dir: Path) -> None:
    """Fold the actors' request-cache shards into ``requests.sqlite`` so any executor resumes from it."""
    import sqlite3

    folder = shard_dir(run_dir)
    shards = sorted(folder.glob("*.sqlite")) if folder.is_dir() else []
    if not shards:
        return
    curate.RequestCache(run_dir / "requests.sqlite").close()  # creates the file and table when missing
    db = sqlite3.connect(run_dir / "requests.sqlite")
    try:
        for shard in shards:
            db.execute("ATTACH DATABASE ? AS shard", (str(shard),))
            try:
                db.execute("INSERT OR IGNORE INTO results (key, result) SELECT key, result FROM shard.results")
                db.commit()
            finally:
                db.execute("DETACH DATABASE shard")
    finally:
        db.close()
    for shard in shards:
        for suffix in ("", "-wal", "-shm"):
            Path(f"{shard}{suffix}").unlink(missing_ok=True)


class _Poller:
    """Moves the workers' progress onto the driver's reporter while a stage runs."""

    def __init__(self, tally: Any, reporter: curate.Reporter):
        self.tally, self.reporter = tally, reporter
        self._stop = threading.Event()
        self._seen = 0
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def __enter__(self) -> "_Poller":
        _init_remotes()
        _init_order_remotes()
        self._thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        self._poll()

    def _loop(self) -> None:
        while not self._stop.wait(0.5):
            self._poll()

    def _poll(self) -> None:
        try:
            now = _get(self.tally.progress.remote())
        except Exception:  # noqa: BLE001 - progress is best effort
            return
        if now > self._seen:
            self.reporter.advance(now - self._seen)
            self._seen = now


def _init_order_remotes() -> None:
    from curate_ray.dedup import with_order_column

    global _add_order, _slice
    if _add_order is None:
        _add_order = _remote(with_order_column, num_cpus=IO_CPUS)
        _slice = _remote(_slice_fn, num_cpus=IO_CPUS)
