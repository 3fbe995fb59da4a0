"""Deduplication on Ray without gathering the dataset: a :class:`curate.Dedup`'s distributed
protocol (see "Distributed global stages" in docs/architecture.md) over Ray Data.

:func:`run_dedup` takes the stage's input as a ``ray.data.Dataset`` of Arrow blocks (the input
columns, ``id`` and ``__order``, the row's position in the stage's input), or as :class:`Pieces`
of a checkpoint that the tasks needing the rows read themselves (so the input never sits in the
object store: at 1M documents, holding it there next to the prepared rows spilled 3 GiB to disk),
and returns the kept and removed rows as datasets, or writes them as parts. The steps, as Ray tasks or Ray Data operations (nothing is
collected on the driver but what is bounded: per-block statistics, the fitted state, and at most
``driver_edges`` duplicate edges):

1. ``prepare_for_shuffle``: as plain tasks over groups of consecutive blocks, or in
   ``map_batches`` on an actor pool when the stage's resources ask for ``num_gpus`` or a
   ``concurrency`` (a model is loaded once per actor), polars at both ends;
2. a fitted state when the dedup has one (``dedup.semantic``: k-means on the sample rows with the
   smallest ``__sample_key``, chosen by a distributed sort, fitted in one task), then
   ``assign_batch`` per batch;
3. per shuffle key, shuffles as plain tasks (Ray Data's keyed ``repartition`` starts aggregator
   actors per shuffle: 5-10 s each on a small cluster): the rows' bucket keys alone (``__order``
   and the key: no text) go to ``P`` partitions by the key's hash; each partition keeps the
   memberships of buckets of two or more rows and sends them back to their blocks; only those
   rows then travel, with the columns ``find_pairs`` reads, to the same partitions, and
   ``find_pairs`` runs per partition (a bucket is never split);
4. connected components of the edges: on the driver up to ``driver_edges`` edges (scipy, 16
   bytes an edge), else distributed, by alternating large-star / small-star rounds (Kiveris et
   al., "Connected Components in MapReduce and Beyond", 2014), each a hash shuffle of the edges;
5. the rows of each cluster brought together (labels on the driver: sent to every block, and a
   shuffle of tasks by cluster; else a join and a shuffle), and ``Dedup.resolve`` per partition
   (survivor, cluster number, similarity to the survivor);
6. the results joined back to the rows by ``__order`` (one task per block gives its kept and its
   removed rows); removed rows get the local executor's ``reason`` and columns.

A dedup without the protocol (only ``find_duplicates``) is gathered into one task, with a warning
naming the stage and the row count.
"""

from __future__ import annotations

import logging
import warnings
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable, Mapping

import numpy as np
import polars as pl
import pyarrow as pa

import curate
from curate_ray import parts

if TYPE_CHECKING:  # pragma: no cover
    import ray.data

log = logging.getLogger("curate.ray")

ORDER, PRIORITY = curate.Dedup.ORDER, curate.Dedup.PRIORITY
COMPONENT = "__component"
SHUFFLE = "__shuffle"
#: Up to this many duplicate edges, connected components run on the driver (16 bytes an edge:
#: 32 MB); above, in distributed rounds.
DRIVER_EDGES = 2_000_000
#: Rounds of the distributed connected components before giving up (each halves the depth of
#: the forest or better; 40 is far beyond any real graph).
MAX_CC_ROUNDS = 40

#: Rows per ``prepare_for_shuffle`` task (consecutive blocks are grouped up to this), unless the
#: stage's resources give a ``batch_size``.
PREPARE_TASK_ROWS = 20_000

#: Rows per ``prepare_batch`` call when a dedup without the protocol is gathered (as locally).
PREPARE_BATCH_ROWS = 100_000

DedupFactory = Callable[[], curate.Dedup]


@dataclass(frozen=True)
class Pieces:
    """A dedup's input as pieces of a checkpoint (:mod:`curate_ray.parts`), the rows of piece
    ``i`` numbered (``__order``) from ``offsets[i]``."""

    pieces: list[parts.Piece]
    offsets: list[int]

    @classmethod
    def of(cls, files: list[Any], rows: int) -> "Pieces":
        found = parts.pieces(files, rows)
        offsets, total = [], 0
        for piece in found:
            offsets.append(total)
            total += piece.rows
        return cls(found, offsets)

    def dataset(self) -> "ray.data.Dataset":
        """The rows as a dataset (each piece read by a task), for the steps that join them."""
        import ray

        return ray.data.from_arrow_refs([_read_ordered.remote(p, off) for p, off in zip(self.pieces, self.offsets)])


@dataclass
class DedupResult:
    kept: "ray.data.Dataset"
    removed: "ray.data.Dataset"
    counters: dict[str, int] = field(default_factory=dict)

    def __iter__(self):  # kept, removed, counters = run_dedup(...)
        return iter((self.kept, self.removed, self.counters))


def stage_factory(task: Any) -> DedupFactory:
    """A factory for a :class:`curate.runner.executor.StageTask`'s dedup, set up with a
    :class:`curate.StageContext` of the task's stage (counters it reports are not forwarded)."""

    def build() -> curate.Dedup:
        comp = task.build()
        comp.setup(curate.StageContext(task.info))
        return comp

    return build


def run_dedup(comp_factory: DedupFactory, ds: "ray.data.Dataset | Pieces", *, partitions: int | None = None,
              resources: Mapping[str, Any] | None = None, driver_edges: int = DRIVER_EDGES,
              out: tuple[Any, Any] | None = None, part_format: parts.PartFormat | None = None) -> DedupResult:
    """Deduplicate ``ds`` (Arrow blocks with the stage's input columns, ``id`` and ``__order``,
    or :class:`Pieces` of a checkpoint) with the dedup ``comp_factory()`` builds, set up, in any
    worker. Returns the kept rows (with the ``<name>_cluster`` column) and the removed rows (with
    it, ``duplicate_of``, ``similarity`` and ``reason``), both keeping ``__order`` (in the input's
    blocks and order when the clusters were few enough for the driver, and then computed by one
    task per block, both parts of a block at once; else materialized, in no particular order),
    and counters (``rows_kept``, ``rows_removed``, ``duplicate_edges``, ``cc_on_driver``,
    ``cc_rounds``, ``fit_rows``; ``gathered_rows`` for a dedup without the protocol).

    ``out``: folders ``(kept, removed)`` to write the results to, as Parquet parts in row order
    without ``__order`` (as ``part_format`` says; no removed folder when none was removed); the result's ``kept`` and ``removed`` are then ``None``. With :class:`Pieces` and
    few clusters, each piece is read, split and written by one task: the rows never enter the
    object store.
    ``partitions``: hash partitions of each shuffle (default: twice the cluster's CPUs).
    ``resources``: of the prepare step (the stage's recipe ``resources``): ``num_cpus``,
    ``num_gpus``, ``concurrency`` (actors), ``batch_size`` (rows per call)."""
    import ray

    probe = comp_factory()
    res = dict(resources or {})
    cpus = max(1, int(ray.cluster_resources().get("CPU", 1)))
    parts_ = max(1, int(partitions or 2 * cpus))
    pieces = ds if isinstance(ds, Pieces) else None
    fmt = part_format or parts.PartFormat()
    if not probe.shuffle_keys():
        return _written(_gathered(comp_factory, probe, pieces.dataset() if pieces else ds), out, fmt)
    counters: dict[str, int] = {}
    timer = _Laps()
    if res.get("num_gpus") or res.get("concurrency"):  # on a pool of actors (a model loads once per actor)
        prepared = _map(pieces.dataset() if pieces else ds, comp_factory, "prepare_for_shuffle", res,
                        cpus).materialize()
    elif pieces:  # a task per piece reads it and prepares it
        task = _prepare_piece.options(num_cpus=res["num_cpus"]) if res.get("num_cpus") else _prepare_piece
        batch = int(res.get("batch_size") or PREPARE_TASK_ROWS)
        prepared = ray.data.from_arrow_refs([task.remote(comp_factory, batch, p, off)
                                             for p, off in zip(pieces.pieces, pieces.offsets)])
    else:  # plain tasks, a few blocks each (no Ray Data execution to start: ~1-2 s saved per dedup)
        prepared = _prepare_tasks(ds, comp_factory, res, cpus)
    timer.lap("prepare")
    if type(probe).fit_sample is not curate.Dedup.fit_sample:
        prepared = _fit_and_assign(comp_factory, probe, prepared, res, counters)
        timer.lap("fit and assign")
    blocks = prepared.to_arrow_refs()
    edges = _edges(comp_factory, probe, blocks, parts_, counters)
    timer.lap("edges")
    labels = _components(edges, parts_, driver_edges, counters)
    timer.lap("components")
    if isinstance(labels, pa.Table):  # few: the labels and results go to every block
        resolved = _resolve_small(comp_factory, blocks, labels, parts_)
        del blocks, prepared  # the prepared rows leave the object store
        timer.lap("resolve")
        counters["rows_removed"] = resolved.num_rows - pl.from_arrow(resolved)["duplicate_of"].null_count()
        if pieces is not None and out is not None:
            counters["rows_kept"] = sum(p.rows for p in pieces.pieces) - counters["rows_removed"]
            _split_pieces(comp_factory, pieces, resolved, out, fmt)
            timer.lap("mark")
            return DedupResult(None, None, counters)
        rows = sum(p.rows for p in pieces.pieces) if pieces else sum(blocks_and_counts(ds)[1])
        counters["rows_kept"] = rows - counters["rows_removed"]
        kept, removed = _mark_small(comp_factory, pieces.dataset() if pieces else ds, resolved)
    else:
        resolved = _resolve(comp_factory, probe, prepared, labels, parts_)
        kept, removed = _mark(comp_factory, probe, pieces.dataset() if pieces else ds, resolved, parts_)
        counters["rows_kept"], counters["rows_removed"] = kept.count(), removed.count()
    timer.lap("mark")
    return _written(DedupResult(kept, removed, counters), out, fmt)


def _written(result: DedupResult, out: tuple[Any, Any] | None, fmt: parts.PartFormat) -> DedupResult:
    """``result`` with its rows written to ``out`` (when given) by a task per block."""
    import ray

    if out is None:
        return result
    kept_dir, removed_dir = out
    ray.get([_write_block.remote(ref, kept_dir, i, fmt) for i, (ref, _) in enumerate(block_refs(result.kept))])
    ray.get([_write_block.remote(ref, removed_dir, i, fmt, True)
             for i, (ref, _) in enumerate(block_refs(result.removed))])
    return DedupResult(None, None, result.counters)


def _split_pieces(factory: DedupFactory, pieces: Pieces, resolved: pa.Table, out: tuple[Any, Any],
                  fmt: parts.PartFormat) -> None:
    import ray

    ref = ray.put(resolved)
    kept_dir, removed_dir = out
    ray.get([_split_piece.remote(factory, p, off, ref, kept_dir, removed_dir, i, fmt)
             for i, (p, off) in enumerate(zip(pieces.pieces, pieces.offsets))])


# --- the steps ------------------------------------------------------------------------------------

class _Laps:
    """Seconds of each step, in the ``curate.ray`` debug log (``-v`` / ``logging.DEBUG``)."""

    def __init__(self) -> None:
        import time

        self._clock = time.perf_counter
        self._last = self._clock()

    def lap(self, step: str) -> None:
        now = self._clock()
        log.debug("dedup %s: %.2f s", step, now - self._last)
        self._last = now


def _call(table: pa.Table, factory: DedupFactory, method: str, *args: Any) -> pa.Table:
    """``factory().<method>(frame, *args)`` on an Arrow block, polars in between."""
    out = getattr(_component(factory), method)(pl.from_arrow(table), *args)
    if out is None:  # fit_sample: nothing to offer
        return pa.table({ORDER: pa.array([], pa.int64()), "__sample_key": pa.array([], pa.uint64())})
    return out.to_arrow()


_BUILT: dict[int, tuple[DedupFactory, curate.Dedup]] = {}


def _component(factory: DedupFactory) -> curate.Dedup:
    """One component per factory per worker process (a task's factory is unpickled anew, so the
    cache is keyed by the factory's pickled identity)."""
    from ray import cloudpickle

    key = hash(cloudpickle.dumps(factory))
    if key not in _BUILT:
        _BUILT[key] = (factory, factory())
    return _BUILT[key][1]


class _Actor:
    """The prepare step on an actor: the component (and a model it loads) lives as long as it."""

    def __init__(self, factory: DedupFactory, method: str):
        self.comp, self.method = factory(), method

    def __call__(self, table: pa.Table) -> pa.Table:
        return getattr(self.comp, self.method)(pl.from_arrow(table)).to_arrow()


def _map(ds: "ray.data.Dataset", factory: DedupFactory, method: str, res: dict[str, Any],
         cpus: int) -> "ray.data.Dataset":
    """``method`` over batches: on a fixed pool of actors when the stage asks for GPUs or a
    concurrency (a model loads once per actor), else as tasks (a worker process keeps its
    component, and a model it loaded, between tasks)."""
    args: dict[str, Any] = {"batch_format": "pyarrow", "batch_size": res.get("batch_size") or 10_000}
    if res.get("num_gpus"):
        args["num_gpus"] = res["num_gpus"]
    if res.get("num_cpus"):
        args["num_cpus"] = res["num_cpus"]
    if not (res.get("num_gpus") or res.get("concurrency")):
        return ds.map_batches(_call, fn_args=(factory, method), **args)
    size = res.get("concurrency") or max(1, cpus // max(1, int(res.get("num_cpus") or 1)))
    return ds.map_batches(_Actor, fn_constructor_args=(factory, method), concurrency=size, **args)


def block_refs(ds: "ray.data.Dataset") -> list[tuple[Any, int | None]]:
    """``ds``'s blocks, in order, with their row counts where Ray knows them (no extra tasks)."""
    out: list[tuple[Any, int | None]] = []
    for bundle in ds.iter_internal_ref_bundles():
        for entry in bundle.blocks:
            ref, meta = (entry.ref, entry.metadata) if hasattr(entry, "ref") else entry
            out.append((ref, getattr(meta, "num_rows", None)))
    return out


def blocks_and_counts(ds: "ray.data.Dataset") -> tuple[list[Any], list[int]]:
    """``ds``'s block refs in order and their row counts: from the blocks' metadata (no task),
    counted by a light task only where Ray does not know them."""
    import ray

    blocks = block_refs(ds)
    refs = [ref for ref, _ in blocks]
    unknown = [i for i, (_, n) in enumerate(blocks) if n is None]
    counted = dict(zip(unknown, ray.get([_num_rows.remote(refs[i]) for i in unknown])))
    return refs, [counted[i] if n is None else n for i, (_, n) in enumerate(blocks)]


def _prepare_tasks(ds: "ray.data.Dataset", factory: DedupFactory, res: dict[str, Any],
                   cpus: int) -> "ray.data.Dataset":
    """``prepare_for_shuffle`` as plain tasks over groups of consecutive blocks of at least
    ``batch_size`` rows (fewer, larger blocks: the shuffles' objects are blocks x partitions)."""
    import ray

    batch = int(res.get("batch_size") or PREPARE_TASK_ROWS)
    blocks = block_refs(ds)
    if all(n is not None for _, n in blocks):  # at least two groups per CPU when rows allow
        batch = min(batch, max(1_000, -(-sum(n for _, n in blocks) // (2 * cpus))))
    groups: list[list[Any]] = [[]]
    rows = 0
    for ref, n in blocks:
        if groups[-1] and (n is None or rows >= batch):
            groups.append([])
            rows = 0
        groups[-1].append(ref)
        rows += n or 0
    task = _prepare.options(num_cpus=res["num_cpus"]) if res.get("num_cpus") else _prepare
    refs = [task.remote(factory, batch, *group) for group in groups if group]
    return ray.data.from_arrow_refs(refs)


def _prepare_fn(factory: DedupFactory, batch: int, *tables: pa.Table) -> pa.Table:
    frame = _concat(tables)
    comp = _component(factory)
    if frame.height <= batch:
        return comp.prepare_for_shuffle(frame).to_arrow()
    out = [comp.prepare_for_shuffle(frame.slice(s, batch)) for s in range(0, frame.height, batch)]
    return pl.concat(out, how="diagonal_relaxed").to_arrow()


def _fit_and_assign(factory: DedupFactory, probe: curate.Dedup, prepared: "ray.data.Dataset",
                    res: dict[str, Any], counters: dict[str, int]) -> "ray.data.Dataset":
    """The fitted state (k-means) on the sample rows with the smallest ``__sample_key``, then
    ``assign_batch`` over every batch."""
    import ray

    offered = prepared.map_batches(_call, fn_args=(factory, "fit_sample"), batch_format="pyarrow",
                                   batch_size=None).materialize()
    population = offered.count()
    limit = probe.fit_limit(population)
    keys = offered.select_columns(["__sample_key", ORDER])
    state = None
    if limit > 0:
        # The limit-th smallest (key, order) by a distributed sort; the sample is what is below.
        last = keys.sort(["__sample_key", ORDER]).limit(limit).to_arrow_refs()
        cut = ray.get(_last_key.remote(*last))
        sample = offered.map_batches(_select_below, fn_args=(cut,), batch_format="pyarrow", batch_size=None)
        fit = _fit.options(num_gpus=res.get("num_gpus") or 0)
        state = ray.get(fit.remote(factory, population, *sample.to_arrow_refs()))
    counters["fit_rows"] = min(limit, population)
    return prepared.map_batches(_call, fn_args=(factory, "assign_batch", state), batch_format="pyarrow",
                                batch_size=None).materialize()


def _select_below(table: pa.Table, cut: tuple[int, int]) -> pa.Table:
    frame = pl.from_arrow(table)
    key, order = pl.col("__sample_key"), pl.col(ORDER)
    return frame.filter((key < cut[0]) | ((key == cut[0]) & (order <= cut[1]))).to_arrow()


def _remote(fn: Callable) -> Any:
    import ray

    return ray.remote(fn)


def _last_key_fn(*tables: pa.Table) -> tuple[int, int]:
    frame = pl.concat([pl.from_arrow(t) for t in tables if t.num_rows]).sort("__sample_key", ORDER)
    return int(frame["__sample_key"][-1]), int(frame[ORDER][-1])


def _fit_fn(factory: DedupFactory, population: int, *tables: pa.Table) -> Any:
    frames = [pl.from_arrow(t) for t in tables if t.num_rows]
    sample = pl.concat(frames, how="diagonal_relaxed").sort("__sample_key", ORDER)
    return factory().fit(sample, population)


class _LazyRemote:
    """``ray.remote`` applied on first use (importing this module does not need Ray started)."""

    def __init__(self, fn: Callable, **options: Any):
        self.fn, self.options_, self._remote = fn, options, None

    def __getattr__(self, name: str) -> Any:
        if self._remote is None:
            import ray

            self._remote = ray.remote(**self.options_)(self.fn) if self.options_ else _remote(self.fn)
        return getattr(self._remote, name)


_last_key = _LazyRemote(_last_key_fn)
_fit = _LazyRemote(_fit_fn)


# --- shuffles as plain tasks ----------------------------------------------------------------------
# Ray Data's keyed ``repartition`` (2.60) runs a hash shuffle on aggregator actors started per
# shuffle: 5-10 s of fixed cost each on a small cluster. The shuffles below are plain tasks on
# the warm worker pool instead: each map task cuts its block into ``parts`` tables
# (``num_returns=parts``), each reduce task takes its part of every block. Blocks are few (a
# prepared block holds thousands of rows), so the objects (blocks x parts) stay few.

def _cut(frame: pl.DataFrame, by: str, parts: int) -> list[pl.DataFrame]:
    """``frame``'s rows in ``parts`` frames by ``by % parts`` (an unsigned or non-negative column),
    keeping their order."""
    if parts == 1:
        return [frame]
    index = (pl.col(by) % parts).cast(pl.Int64).alias("__part")
    groups = frame.with_columns(index).partition_by("__part", as_dict=True, include_key=False, maintain_order=True)
    empty = frame.clear()
    return [groups.get((i,), empty) for i in range(parts)]


def _returns(tables: list[pa.Table]) -> Any:
    """What a task with ``num_returns=len(tables)`` returns."""
    return tables[0] if len(tables) == 1 else tuple(tables)


def _as_list(refs: Any) -> list[Any]:
    return refs if isinstance(refs, list) else [refs]


def _concat(tables: tuple[pa.Table, ...]) -> pl.DataFrame:
    frames = [pl.from_arrow(t) for t in tables if t.num_rows]
    if not frames:
        return pl.from_arrow(tables[0]) if tables else pl.DataFrame()
    return frames[0] if len(frames) == 1 else pl.concat(frames, how="diagonal_relaxed")


def _bucket_keys_fn(table: pa.Table, factory: DedupFactory, key: str, block: int, parts: int) -> Any:
    """Round 1, per prepared block: which bucket of ``key`` each row is in (``__order``, the key,
    its hash, the block), cut by the key's hash. No text: buckets are counted before any row's
    text travels."""
    rows = _component(factory).key_rows(pl.from_arrow(table).select(ORDER, key), key)
    rows = rows.select(ORDER, key, pl.col(key).hash(seed=7).alias(SHUFFLE), pl.lit(block, pl.Int32).alias("__block"))
    return _returns([f.to_arrow() for f in _cut(rows, SHUFFLE, parts)])


def _shared_buckets_fn(key: str, blocks: int, *tables: pa.Table) -> Any:
    """Round 2, per partition: the memberships of buckets of two or more rows (a bucket of one
    row has no pair), cut by the block that holds the row."""
    rows = _concat(tables)
    if rows.height:
        rows = rows.filter(pl.len().over(key) > 1)
    rows = rows.select(ORDER, key, "__block") if rows.width else rows
    if not rows.height:
        empty = rows.select(ORDER, key).to_arrow() if rows.width else pa.table({})
        return _returns([empty] * blocks)
    return _returns([f.drop("__block").to_arrow() for f in _cut(rows, "__block", blocks)])


def _bucket_rows_fn(table: pa.Table, factory: DedupFactory, key: str, parts: int, *shared: pa.Table) -> Any:
    """Round 3, per prepared block: its rows in shared buckets, with the columns ``find_pairs``
    reads, cut by the key's hash (the same cut as round 1)."""
    comp = _component(factory)
    members = _concat(shared)
    prepared = pl.from_arrow(table)
    if not members.height:
        rows = comp.key_rows(prepared.clear(), key)
    else:
        wanted = members[ORDER].unique()
        rows = comp.key_rows(prepared.filter(pl.col(ORDER).is_in(wanted.implode())), key)
        rows = rows.join(members.unique(), on=[ORDER, key], how="semi", maintain_order="left")
    rows = rows.with_columns(pl.col(key).hash(seed=7).alias(SHUFFLE))
    return _returns([f.to_arrow() for f in _cut(rows, SHUFFLE, parts)])


def _pairs_fn(factory: DedupFactory, key: str, *tables: pa.Table) -> tuple[pa.Table, int]:
    """Round 4, per partition: the pairs of its buckets (every row of a shared bucket is here)."""
    rows = _concat(tables)
    if rows.height < 2:
        return pa.table({"a": pa.array([], pa.int64()), "b": pa.array([], pa.int64())}), 0
    found = _component(factory).find_pairs(rows.drop(SHUFFLE), key)
    out = found.select(pl.col("a").cast(pl.Int64), pl.col("b").cast(pl.Int64)).to_arrow()
    return out, out.num_rows


#: Every task takes a whole CPU, light ones too: tasks of a quarter CPU would run four to a CPU,
#: and Ray would start (then stop when idle) a worker process for each, ~1-2 s of CPU apiece.
_bucket_keys = _LazyRemote(_bucket_keys_fn, max_retries=-1)
_shared_buckets = _LazyRemote(_shared_buckets_fn, max_retries=-1)
_bucket_rows = _LazyRemote(_bucket_rows_fn, max_retries=-1)
_pairs = _LazyRemote(_pairs_fn, num_returns=2, max_retries=-1)


def _edges(factory: DedupFactory, probe: curate.Dedup, prepared: list[Any], parts: int,
           counters: dict[str, int]) -> "ray.data.Dataset":
    """Duplicate edges of every shuffle key's buckets (``prepared``: refs of the prepared blocks).

    Four rounds of tasks per key: (1) each row's bucket keys, without text, by key hash to
    ``parts`` partitions; (2) per partition, the memberships of buckets of two or more rows, back
    to their blocks; (3) per block, those rows with the columns ``find_pairs`` reads, to the same
    partitions; (4) ``find_pairs`` per partition. Only rows that share a bucket travel with their
    text (the rest: ~30 bytes per bucket key), and each bucket is whole in one partition."""
    import ray

    blocks = len(prepared)
    found, counts = [], []
    for key in probe.shuffle_keys():
        cut = [_as_list(_bucket_keys.options(num_returns=parts).remote(ref, factory, key, b, parts))
               for b, ref in enumerate(prepared)]
        shared = [_as_list(_shared_buckets.options(num_returns=blocks).remote(key, blocks, *(c[p] for c in cut)))
                  for p in range(parts)]
        rows = [_as_list(_bucket_rows.options(num_returns=parts).remote(ref, factory, key, parts,
                                                                        *(s[b] for s in shared)))
                for b, ref in enumerate(prepared)]
        for p in range(parts):
            edges, n = _pairs.remote(factory, key, *(r[p] for r in rows))
            found.append(edges)
            counts.append(n)
    counters["duplicate_edges"] = int(sum(ray.get(counts)))
    return ray.data.from_arrow_refs(found)


# --- connected components -------------------------------------------------------------------------

def _components(edges: "ray.data.Dataset", parts: int, driver_edges: int,
                counters: dict[str, int]) -> "ray.data.Dataset | pa.Table":
    """``node``, ``component`` (the smallest node of its component) of every node of ``edges``:
    an Arrow table when there are at most ``driver_edges`` edges, else a dataset."""
    import ray

    n = counters["duplicate_edges"]
    if n <= driver_edges:
        counters["cc_on_driver"] = 1
        a, b = [], []
        for ref in edges.to_arrow_refs():  # at most driver_edges pairs, one block at a time
            t = ray.get(ref)
            a.append(t.column("a").to_numpy())
            b.append(t.column("b").to_numpy())
        a = np.concatenate(a) if a else np.zeros(0, np.int64)
        b = np.concatenate(b) if b else np.zeros(0, np.int64)
        node, comp = _local_components(a, b)
        return pa.table({"node": node, "component": comp})
    counters["cc_on_driver"] = 0
    current = edges.map_batches(_as_edges, batch_format="pyarrow", batch_size=None)
    previous = None
    for rounds in range(1, MAX_CC_ROUNDS + 1):
        current = current.map_batches(_symmetric, batch_format="pyarrow", batch_size=None)
        current = current.repartition(parts, keys=["u"]).map_batches(_large_star, batch_format="pyarrow",
                                                                      batch_size=None)
        current = current.map_batches(_orient, batch_format="pyarrow", batch_size=None)
        current = current.repartition(parts, keys=["u"]).map_batches(_small_star, batch_format="pyarrow",
                                                                      batch_size=None).materialize()
        stats = _fingerprint(current)
        if stats == previous:
            counters["cc_rounds"] = rounds
            break
        previous = stats
    else:
        raise RuntimeError(f"connected components did not converge in {MAX_CC_ROUNDS} rounds")
    labels = current.map_batches(_labels, batch_format="pyarrow", batch_size=None)
    return labels.repartition(parts, keys=["node"]).map_batches(_unique, batch_format="pyarrow", batch_size=None)


def _local_components(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    if not len(a):
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    node, inverse = np.unique(np.r_[a, b], return_inverse=True)
    m = len(node)
    graph = coo_matrix((np.ones(len(a), np.int8), (inverse[:len(a)], inverse[len(a):])), shape=(m, m))
    _, label = connected_components(graph, directed=False)
    smallest = np.full(label.max() + 1, np.iinfo(np.int64).max, dtype=np.int64)
    np.minimum.at(smallest, label, node)
    return node, smallest[label]


def _as_edges(table: pa.Table) -> pa.Table:
    return pa.table({"u": table.column("a"), "v": table.column("b")})


def _symmetric(table: pa.Table) -> pa.Table:
    """Each edge in both directions (a node's partition then holds all its neighbours)."""
    edges = pl.from_arrow(table)
    return pl.concat([edges, edges.select(pl.col("v").alias("u"), pl.col("u").alias("v"))]).to_arrow()


def _large_star(table: pa.Table) -> pa.Table:
    """Per node ``u`` (all its edges here): link each larger neighbour to the smallest of ``u``
    and its neighbours."""
    edges = pl.from_arrow(table).unique()
    if edges.height == 0:
        return table
    return _star(edges, larger=True)


def _orient(table: pa.Table) -> pa.Table:
    """Each edge as (larger, smaller), for the small-star step."""
    edges = pl.from_arrow(table)
    return edges.select(pl.max_horizontal("u", "v").alias("u"), pl.min_horizontal("u", "v").alias("v")).to_arrow()


def _small_star(table: pa.Table) -> pa.Table:
    """Per node ``u`` (its edges to smaller nodes here): link ``u`` and those neighbours to the
    smallest of them."""
    edges = pl.from_arrow(table).unique()
    if edges.height == 0:
        return table
    return _star(pl.concat([edges, edges.select("u", pl.col("u").alias("v"))]).unique(), larger=False)


def _star(edges: pl.DataFrame, *, larger: bool) -> pa.Table:
    low = edges.group_by("u").agg(pl.min_horizontal(pl.col("u").first(), pl.col("v").min()).alias("m"))
    joined = edges.join(low, on="u")
    keep = pl.col("v") > pl.col("u") if larger else pl.col("v") != pl.col("m")
    return joined.filter(keep).select(pl.col("v").alias("u"), pl.col("m").alias("v")).unique().to_arrow()


def _fingerprint(edges: "ray.data.Dataset") -> tuple[int, int]:
    """(edges, a checksum of them): equal after two rounds means the stars stopped changing."""
    stats = edges.map_batches(_block_fingerprint, batch_format="pyarrow", batch_size=None).take_all()
    return sum(s["n"] for s in stats), sum(s["h"] for s in stats) % (1 << 61)


def _block_fingerprint(table: pa.Table) -> pa.Table:
    edges = pl.from_arrow(table)
    if edges.height == 0:
        return pa.table({"n": pa.array([0], pa.int64()), "h": pa.array([0], pa.int64())})
    h = int((edges.select(pl.struct("u", "v").hash(seed=3)).to_series().to_numpy() >> np.uint64(33)).sum())
    return pa.table({"n": pa.array([edges.height], pa.int64()), "h": pa.array([int(h)], pa.int64())})


def _labels(table: pa.Table) -> pa.Table:
    """Star edges (node, root) to labels, roots labelled with themselves."""
    edges = pl.from_arrow(table)
    return pl.concat([edges.select(pl.col("u").alias("node"), pl.col("v").alias("component")),
                      edges.select(pl.col("v").alias("node"), pl.col("v").alias("component"))]).to_arrow()


def _unique(table: pa.Table) -> pa.Table:
    return pl.from_arrow(table).unique().to_arrow()


# --- clusters to results, results to rows ---------------------------------------------------------

def _members(table: pa.Table, factory: DedupFactory) -> pa.Table:
    """The columns ``resolve`` reads."""
    comp = _component(factory)
    keep = comp.bucket_columns()
    frame = pl.from_arrow(table)
    cols = ["id", ORDER, PRIORITY, *(frame.columns if keep is None else keep)]
    return frame.select(c for c in dict.fromkeys(cols) if c in frame.columns).to_arrow()


def _resolve_part(table: pa.Table, factory: DedupFactory) -> pa.Table:
    frame = pl.from_arrow(table)
    out = _component(factory).resolve(frame.drop("node", strict=False), COMPONENT) if frame.height else None
    if out is None:
        return pa.table({ORDER: pa.array([], pa.int64()), "cluster": pa.array([], pa.int64()),
                         "duplicate_of": pa.array([], pa.large_string()), "similarity": pa.array([], pa.float64())})
    return out.to_arrow()


def _resolve(factory: DedupFactory, probe: curate.Dedup, prepared: "ray.data.Dataset",
             labels: "ray.data.Dataset", parts: int) -> "ray.data.Dataset":
    rows = prepared.map_batches(_members, fn_args=(factory,), batch_format="pyarrow", batch_size=None)
    labels = labels.map_batches(_rename_component, batch_format="pyarrow", batch_size=None)
    members = rows.join(labels, "inner", parts, on=(ORDER,), right_on=("node",))
    clusters = members.repartition(parts, keys=[COMPONENT])
    return clusters.map_batches(_resolve_part, fn_args=(factory,), batch_format="pyarrow",
                                batch_size=None).materialize()


def _resolve_small(factory: DedupFactory, prepared: list[Any], labels: pa.Table, parts: int) -> pa.Table:
    """``_resolve`` with the labels sent to every block (no join), clusters brought together by a
    shuffle of tasks; the results, one row per clustered row (at most twice ``driver_edges``),
    come back to the driver."""
    import ray

    if labels.num_rows == 0:
        return _resolve_part(pa.table({}), factory)
    ref = ray.put(labels)
    parts = max(1, min(parts, labels.num_rows // 1_000 + 1))
    cut = [_as_list(_labelled_cut.options(num_returns=parts).remote(block, factory, ref, parts))
           for block in prepared]
    out = [_resolve_parts.remote(factory, *(c[p] for c in cut)) for p in range(parts)]
    tables = ray.get(out)
    return pa.concat_tables([t for t in tables if t.num_rows] or tables[:1], promote_options="permissive")


def _labelled_cut_fn(table: pa.Table, factory: DedupFactory, labels: pa.Table, parts: int) -> Any:
    """The block's clustered rows (the columns ``resolve`` reads, and the cluster), cut by cluster."""
    rows = pl.from_arrow(_members(table, factory))
    found = pl.from_arrow(labels).rename({"node": ORDER, "component": COMPONENT})
    joined = rows.join(found, on=ORDER, how="inner")
    return _returns([f.to_arrow() for f in _cut(joined, COMPONENT, parts)])


def _resolve_parts_fn(factory: DedupFactory, *tables: pa.Table) -> pa.Table:
    return _resolve_part(_concat(tables).to_arrow(), factory)


def _mark_small(factory: DedupFactory, ds: "ray.data.Dataset", resolved: pa.Table
                ) -> tuple["ray.data.Dataset", "ray.data.Dataset"]:
    """``_mark`` with the results sent to every block: the rows keep their blocks and order; one
    task per block gives both its kept and its removed rows."""
    import ray

    ref = ray.put(resolved)
    kept, removed = [], []
    for block in ds.to_arrow_refs():
        k, r = _split_both.remote(block, factory, ref)
        kept.append(k)
        removed.append(r)
    return ray.data.from_arrow_refs(kept), ray.data.from_arrow_refs(removed)


def _split_piece_fn(factory: DedupFactory, piece: parts.Piece, offset: int, resolved: pa.Table, kept_dir: Any,
                    removed_dir: Any, index: int, fmt: parts.PartFormat) -> None:
    """A piece of the input read, split by the results and written: part ``index`` of the kept
    rows, and of the removed rows when the piece has any."""
    kept, removed = _split_both_fn(_read_ordered_fn(piece, offset), factory, resolved)
    _write_block_fn(kept, kept_dir, index, fmt)
    _write_block_fn(removed, removed_dir, index, fmt, skip_empty=True)


def with_order_column(table: pa.Table, offset: int) -> pa.Table:
    """``table`` with ``__order``: its rows' positions in the stage's input, from ``offset``."""
    return table.append_column(ORDER, pa.array(np.arange(offset, offset + table.num_rows, dtype=np.int64)))


def _read_ordered_fn(piece: parts.Piece, offset: int) -> pa.Table:
    return with_order_column(parts.read_piece(piece), offset)


def _write_block_fn(table: pa.Table, folder: Any, index: int, fmt: parts.PartFormat, skip_empty: bool = False) -> bool:
    """Rows as part ``index`` of ``folder``, without ``__order`` (none written when
    ``skip_empty`` and there are no rows)."""
    if skip_empty and table.num_rows == 0:
        return False
    if ORDER in table.column_names:
        table = table.drop_columns([ORDER])
    parts.write_part(table, folder, index, fmt)
    return True


def _prepare_piece_fn(factory: DedupFactory, batch: int, piece: parts.Piece, offset: int) -> pa.Table:
    return _prepare_fn(factory, batch, _read_ordered_fn(piece, offset))


def _num_rows_fn(table: pa.Table) -> int:
    return table.num_rows


def _split_both_fn(table: pa.Table, factory: DedupFactory, resolved: pa.Table) -> tuple[pa.Table, pa.Table]:
    rows = pl.from_arrow(table)
    found = pl.from_arrow(resolved).with_columns(pl.col(ORDER).cast(pl.Int64))
    frame = rows.join(found, on=ORDER, how="left", maintain_order="left")
    comp = _component(factory)
    marks = frame.select(pl.coalesce("cluster", ORDER).alias("cluster"), "duplicate_of", "similarity")
    out = comp.split(frame.drop("cluster", "duplicate_of", "similarity"), marks)
    return out.kept.to_arrow(), out.removed.to_arrow()


_labelled_cut = _LazyRemote(_labelled_cut_fn, max_retries=-1)
_resolve_parts = _LazyRemote(_resolve_parts_fn, max_retries=-1)
_split_both = _LazyRemote(_split_both_fn, num_returns=2, max_retries=-1)
_prepare = _LazyRemote(_prepare_fn, max_retries=-1)
_prepare_piece = _LazyRemote(_prepare_piece_fn, max_retries=-1)
_read_ordered = _LazyRemote(_read_ordered_fn, max_retries=-1)
_split_piece = _LazyRemote(_split_piece_fn, max_retries=-1)
_write_block = _LazyRemote(_write_block_fn, max_retries=-1)
_num_rows = _LazyRemote(_num_rows_fn, num_cpus=0.25, max_retries=-1)


def _rename_component(table: pa.Table) -> pa.Table:
    return table.rename_columns(["node" if c == "node" else COMPONENT for c in table.column_names])


def _mark(factory: DedupFactory, probe: curate.Dedup, ds: "ray.data.Dataset", resolved: "ray.data.Dataset",
          parts: int) -> tuple["ray.data.Dataset", "ray.data.Dataset"]:
    """The rows with their results: kept and removed, as the local executor writes them."""
    joined = ds.join(resolved, "left_outer", parts, on=(ORDER,)).materialize()
    kept = joined.map_batches(_split, fn_args=(factory, False), batch_format="pyarrow", batch_size=None)
    removed = joined.map_batches(_split, fn_args=(factory, True), batch_format="pyarrow", batch_size=None)
    return kept.materialize(), removed.materialize()


def _split(table: pa.Table, factory: DedupFactory, removed: bool) -> pa.Table:
    comp = _component(factory)
    frame = pl.from_arrow(table)
    found = frame.select(pl.coalesce("cluster", ORDER).alias("cluster"), "duplicate_of", "similarity")
    rows = frame.drop("cluster", "duplicate_of", "similarity")
    out = comp.split(rows, found)
    part = out.removed if removed else out.kept
    return part.to_arrow()


# --- without the protocol -------------------------------------------------------------------------

def _gathered(factory: DedupFactory, probe: curate.Dedup, ds: "ray.data.Dataset") -> DedupResult:
    """The whole stage in one task (``find_duplicates`` sees every row at once)."""
    import ray

    rows = ds.count()
    where = probe.where
    message = (f"{where} does not implement curate.Dedup's distributed protocol (shuffle_keys): "
               f"gathering its {rows:,} rows into one task")
    warnings.warn(message, stacklevel=3)
    log.warning(message)
    kept, removed = _whole.options(num_returns=2).remote(factory, *ds.to_arrow_refs())
    kept_ds, removed_ds = ray.data.from_arrow_refs([kept]), ray.data.from_arrow_refs([removed])
    return DedupResult(kept_ds, removed_ds, {"gathered_rows": rows, "rows_kept": kept_ds.count(),
                                             "rows_removed": removed_ds.count()})


def _whole_fn(factory: DedupFactory, *tables: pa.Table) -> tuple[pa.Table, pa.Table]:
    frames = [pl.from_arrow(t) for t in tables if t.num_rows]
    df = pl.concat(frames, how="diagonal_relaxed").sort(ORDER)
    comp = factory()
    prepared = pl.concat([comp.prepare_batch(df.slice(s, PREPARE_BATCH_ROWS))
                          for s in range(0, max(df.height, 1), PREPARE_BATCH_ROWS)], how="diagonal_relaxed")
    found = comp.find_duplicates(prepared)
    out = comp.split(prepared, found)
    return out.kept.to_arrow(), out.removed.to_arrow()


_whole = _LazyRemote(_whole_fn)
