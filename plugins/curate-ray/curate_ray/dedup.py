"""Deduplication on Ray without gathering the dataset: a :class:`curate.Dedup`'s distributed
protocol (see "Distributed global stages" in docs/architecture.md) over Ray Data.

:func:`run_dedup` takes the stage's input as a ``ray.data.Dataset`` of Arrow blocks (the input
columns, ``id`` and ``__order``, the row's position in the stage's input) and returns the kept
and removed rows as datasets. The steps, each a Ray Data operation (nothing is collected on the
driver but what is bounded: per-block statistics, the fitted state, and at most
``driver_edges`` duplicate edges):

1. ``prepare_for_shuffle`` in ``map_batches`` (an actor pool: a model is loaded once per actor;
   ``num_gpus`` when the stage's resources ask), polars at both ends;
2. a fitted state when the dedup has one (``dedup.semantic``: k-means on the sample rows with the
   smallest ``__sample_key``, chosen by a distributed sort, fitted in one task), then
   ``assign_batch`` per batch;
3. per shuffle key: the key rows (exploded where the key is a list) hash-shuffled by the key with
   ``repartition(P, keys=...)`` (one block per partition: a bucket is never split), then
   ``find_pairs`` per partition (measured ~2.5x faster than ``groupby().map_groups``);
4. connected components of the edges: on the driver up to ``driver_edges`` edges (scipy, 16
   bytes an edge), else distributed, by alternating large-star / small-star rounds (Kiveris et
   al., "Connected Components in MapReduce and Beyond", 2014), each a hash shuffle of the edges;
5. the rows of each cluster brought together by a join and a shuffle by cluster, and
   ``Dedup.resolve`` per partition (survivor, cluster number, similarity to the survivor);
6. the results joined back to the rows by ``__order``; removed rows get the local executor's
   ``reason`` and columns.

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

#: Rows per ``prepare_batch`` call when a dedup without the protocol is gathered (as locally).
PREPARE_BATCH_ROWS = 100_000

DedupFactory = Callable[[], curate.Dedup]


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


def run_dedup(comp_factory: DedupFactory, ds: "ray.data.Dataset", *, partitions: int | None = None,
              resources: Mapping[str, Any] | None = None, driver_edges: int = DRIVER_EDGES) -> DedupResult:
    """Deduplicate ``ds`` (Arrow blocks with the stage's input columns, ``id`` and ``__order``)
    with the dedup ``comp_factory()`` builds, set up, in any worker. Returns the kept rows (with
    the ``<name>_cluster`` column) and the removed rows (with it, ``duplicate_of``, ``similarity``
    and ``reason``), both keeping ``__order`` (in the input's blocks and order when the clusters
    were few enough for the driver, and then lazy: computed where consumed; else materialized, in
    no particular order), and counters (``rows_kept``, ``rows_removed``, ``duplicate_edges``,
    ``cc_on_driver``, ``cc_rounds``, ``fit_rows``; ``gathered_rows`` for a dedup without the
    protocol).

    ``partitions``: hash partitions of each shuffle (default: twice the cluster's CPUs).
    ``resources``: of the prepare step (the stage's recipe ``resources``): ``num_cpus``,
    ``num_gpus``, ``concurrency`` (actors), ``batch_size`` (rows per call)."""
    import ray

    probe = comp_factory()
    res = dict(resources or {})
    cpus = max(1, int(ray.cluster_resources().get("CPU", 1)))
    parts = max(1, int(partitions or 2 * cpus))
    if not probe.shuffle_keys():
        return _gathered(comp_factory, probe, ds)
    counters: dict[str, int] = {}
    prepared = _map(ds, comp_factory, "prepare_for_shuffle", res, cpus).materialize()
    if type(probe).fit_sample is not curate.Dedup.fit_sample:
        prepared = _fit_and_assign(comp_factory, probe, prepared, res, counters)
    edges = _edges(comp_factory, probe, prepared, parts, counters)
    labels = _components(edges, parts, driver_edges, counters)
    if isinstance(labels, pa.Table):  # few: the labels and results go to every block
        resolved = _resolve_small(comp_factory, prepared, labels, parts)
        kept, removed = _mark_small(comp_factory, ds, resolved)
        counters["rows_removed"] = resolved.num_rows - pl.from_arrow(resolved)["duplicate_of"].null_count()
        counters["rows_kept"] = prepared.count() - counters["rows_removed"]
    else:
        resolved = _resolve(comp_factory, probe, prepared, labels, parts)
        kept, removed = _mark(comp_factory, probe, ds, resolved, parts)
        counters["rows_kept"], counters["rows_removed"] = kept.count(), removed.count()
    return DedupResult(kept, removed, counters)


# --- the steps ------------------------------------------------------------------------------------

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

    def __init__(self, fn: Callable):
        self.fn, self._remote = fn, None

    def __getattr__(self, name: str) -> Any:
        if self._remote is None:
            self._remote = _remote(self.fn)
        return getattr(self._remote, name)


_last_key = _LazyRemote(_last_key_fn)
_fit = _LazyRemote(_fit_fn)


def _key_rows(table: pa.Table, factory: DedupFactory, key: str) -> pa.Table:
    """The rows going to buckets of ``key`` (exploded), with a UInt64 hash of the key to shuffle
    by (the key itself may be a struct)."""
    rows = _component(factory).key_rows(pl.from_arrow(table), key)
    return rows.with_columns(pl.col(key).hash(seed=7).alias(SHUFFLE)).to_arrow()


def _find_pairs(table: pa.Table, factory: DedupFactory, key: str) -> pa.Table:
    empty = pa.table({"a": pa.array([], pa.int64()), "b": pa.array([], pa.int64())})
    if table.num_rows < 2:
        return empty
    rows = pl.from_arrow(table).drop(SHUFFLE)
    found = _component(factory).find_pairs(rows, key)
    return found.select(pl.col("a").cast(pl.Int64), pl.col("b").cast(pl.Int64)).to_arrow()


def _edges(factory: DedupFactory, probe: curate.Dedup, prepared: "ray.data.Dataset", parts: int,
           counters: dict[str, int]) -> "ray.data.Dataset":
    """Duplicate edges of every shuffle key's buckets."""
    found = []
    for key in probe.shuffle_keys():
        rows = prepared.map_batches(_key_rows, fn_args=(factory, key), batch_format="pyarrow", batch_size=None)
        buckets = rows.repartition(parts, keys=[SHUFFLE])
        found.append(buckets.map_batches(_find_pairs, fn_args=(factory, key), batch_format="pyarrow",
                                         batch_size=None))
    edges = (found[0] if len(found) == 1 else found[0].union(*found[1:])).materialize()
    counters["duplicate_edges"] = edges.count()
    return edges


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


def _resolve_small(factory: DedupFactory, prepared: "ray.data.Dataset", labels: pa.Table,
                   parts: int) -> pa.Table:
    """``_resolve`` with the labels sent to every block (no join); the results, one row per
    clustered row (at most twice ``driver_edges``), come back to the driver."""
    import ray

    if labels.num_rows == 0:
        return _resolve_part(pa.table({}), factory)
    ref = ray.put(labels)
    rows = prepared.map_batches(_labelled_members, fn_args=(factory, ref), batch_format="pyarrow", batch_size=None)
    parts = max(1, min(parts, labels.num_rows // 1_000 + 1))
    out = rows.repartition(parts, keys=[COMPONENT]).map_batches(_resolve_part, fn_args=(factory,),
                                                                batch_format="pyarrow", batch_size=None)
    tables = [ray.get(r) for r in out.to_arrow_refs()]
    return pa.concat_tables([t for t in tables if t.num_rows] or tables[:1], promote_options="permissive")


def _labelled_members(table: pa.Table, factory: DedupFactory, labels: pa.Table) -> pa.Table:
    rows = pl.from_arrow(_members(table, factory))
    found = pl.from_arrow(_fetch(labels)).rename({"node": ORDER, "component": COMPONENT})
    return rows.join(found, on=ORDER, how="inner").to_arrow()


def _mark_small(factory: DedupFactory, ds: "ray.data.Dataset", resolved: pa.Table
                ) -> tuple["ray.data.Dataset", "ray.data.Dataset"]:
    """``_mark`` with the results sent to every block: the rows keep their blocks and order."""
    import ray

    ref = ray.put(resolved)
    kept = ds.map_batches(_split_small, fn_args=(factory, ref, False), batch_format="pyarrow", batch_size=None)
    removed = ds.map_batches(_split_small, fn_args=(factory, ref, True), batch_format="pyarrow", batch_size=None)
    return kept, removed  # lazy: each is computed where it is consumed (written)


def _split_small(table: pa.Table, factory: DedupFactory, resolved: pa.Table, removed: bool) -> pa.Table:
    found = pl.from_arrow(_fetch(resolved))
    rows = pl.from_arrow(table)
    joined = rows.join(found.with_columns(pl.col(ORDER).cast(pl.Int64)), on=ORDER, how="left",
                       maintain_order="left")
    return _split(joined.to_arrow(), factory, removed)


_FETCHED: dict[str, pa.Table] = {}


def _fetch(ref: Any) -> pa.Table:
    """A table sent to every block (``ray.put``), read once per worker process (Ray Data does not
    resolve object refs among a UDF's arguments)."""
    import ray

    key = ref.hex()
    if key not in _FETCHED:
        _FETCHED.clear()  # one stage's table at a time
        _FETCHED[key] = ray.get(ref)
    return _FETCHED[key]


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
