"""Stage components: what a plugin subclasses to add a step to recipes.

A component is a class with a ``name`` (``"dedup.exact"``), pydantic ``Params`` (``extra="forbid"``,
every field described) and the columns it reads and writes. Wherever a stage runs, the executor
rebuilds it from (name, params), calls :meth:`Component.setup` with a :class:`StageContext`,
then, by kind:

* a **source** (:class:`Source`: every :class:`Reader`, and e.g. a topic generator) —
  ``read() -> DataFrame``: rows made from its params alone; a source may start a branch;
* :class:`Writer` — ``write(rows)`` with the rows :meth:`Writer.format` made; data flows on unchanged;
* row-local stages (:class:`Generator`, :class:`Judge`, :class:`Filter`) —
  ``process_batch(df) -> DataFrame | StageOutput`` over any batch of rows, or over whole groups
  when the stage names :meth:`RowStage.group_keys` (all responses of one prompt, say);
* global stages (:class:`Dedup`) — a row-local ``prepare_batch(df)`` (signatures, embeddings),
  then ``process(df)`` over all rows at once.

Rows a stage removes are returned in :attr:`StageOutput.removed` with a ``reason`` column and are
kept in the run directory, never silently lost.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Literal, Protocol

import polars as pl
from pydantic import BaseModel, ConfigDict, Field

if TYPE_CHECKING:  # pragma: no cover
    from curate.engine import Engine

REASON = "reason"  # column of removed rows that says why

#: How an executor may split a stage's input: any batch of rows, whole groups, or everything.
Partitioning = Literal["rows", "groups", "global"]


class Params(BaseModel):
    """Base of every component's params: unknown keys are errors, every field is described."""

    model_config = ConfigDict(extra="forbid", frozen=True)


@dataclass
class StageOutput:
    """What a stage returns: the rows that flow on, and the rows it removed (with ``reason``)."""

    kept: pl.DataFrame
    removed: pl.DataFrame | None = None


@dataclass(frozen=True)
class StageInfo:
    """The serializable facts about one stage of one run: ids, paths and settings."""

    stage_id: str
    recipe_name: str
    recipe_dir: Path
    run_dir: Path
    stage_dir: Path
    on_bad_rows: Literal["error", "skip"] = "error"


class Reporter(Protocol):
    """Where a running stage sends progress and counters. In process it is a plain object; a
    distributed executor forwards the same calls over its own channel."""

    def start(self, total: int | None) -> None: ...

    def advance(self, n: int) -> None: ...

    def count(self, key: str, n: int) -> None: ...

    def metric(self, key: str, value: float, weight: float | None = None) -> None: ...


class NullReporter:
    """Counts nothing: for components used outside a run (validation, tests)."""

    def start(self, total: int | None) -> None:
        pass

    def advance(self, n: int) -> None:
        pass

    def count(self, key: str, n: int) -> None:
        pass

    def metric(self, key: str, value: float, weight: float | None = None) -> None:
        pass


@dataclass
class StageContext:
    """Everything a component may use while it runs: the stage's :class:`StageInfo`, the engines
    its params refer to, and a :class:`Reporter` for progress and counters."""

    info: StageInfo
    engines: dict[str, Engine] = field(default_factory=dict)
    reporter: Reporter = field(default_factory=NullReporter)
    log: logging.Logger = field(default_factory=lambda: logging.getLogger("curate"))

    stage_id = property(lambda self: self.info.stage_id)
    recipe_name = property(lambda self: self.info.recipe_name)
    recipe_dir = property(lambda self: self.info.recipe_dir)
    run_dir = property(lambda self: self.info.run_dir)
    stage_dir = property(lambda self: self.info.stage_dir)
    on_bad_rows = property(lambda self: self.info.on_bad_rows)

    def input_path(self, path: str | Path) -> Path:
        """Resolve an input path against the recipe file's folder."""
        p = Path(path).expanduser()
        return p if p.is_absolute() else (self.recipe_dir / p)

    def output_path(self, path: str | Path) -> Path:
        """Resolve an output path against the run directory."""
        p = Path(path).expanduser()
        return p if p.is_absolute() else (self.run_dir / p)

    def engine(self, name: str) -> Engine:
        """The engine the recipe declares under ``engines: {name: ...}``."""
        try:
            return self.engines[name]
        except KeyError:
            known = ", ".join(sorted(self.engines)) or "none"
            raise KeyError(f"engine {name!r} is not available to stage {self.stage_id!r} "
                           f"(available: {known}); name it in a param typed curate.EngineRef") from None

    def advance(self, n: int) -> None:
        """Advance the stage's progress by ``n`` units (rows, or requests: see ``progress_total``)."""
        self.reporter.advance(n)

    def count(self, key: str, n: int = 1) -> None:
        """Add to a named counter reported in the stage's stats (e.g. ``requests_cached``)."""
        self.reporter.count(key, n)

    def metric(self, key: str, value: float, weight: float | None = None) -> None:
        """Report a figure of the stage's output, shown with the stage's stats and kept in
        ``run.json``. With ``weight`` (e.g. ``consistency_rate`` over the ``weight`` pairs of this
        call), ``value`` is a mean over this call's items and the stage's figure is the weighted
        mean over every call, on any executor (batches on many workers included). Without, the
        last value reported wins: use it for figures a call computes over everything it saw (with
        several workers, that is one worker's view)."""
        if weight is None:
            self.reporter.metric(key, value)
        else:
            self.reporter.metric(key, value, weight)

    @property
    def where(self) -> str:
        return f"stage {self.stage_id!r}"


class Component:
    """Base of every stage component. Subclass one of the kinds below, not this."""

    kind: ClassVar[str] = ""
    name: ClassVar[str] = ""
    Params: ClassVar[type[Params]] = Params
    #: Columns read and written, when they do not depend on params (else override the methods).
    #: An entry of ``reads`` may be a tuple of alternatives: any one of them suffices.
    reads: ClassVar[tuple[str | tuple[str, ...], ...]] = ()
    writes: ClassVar[tuple[str, ...]] = ()
    #: True when the stage advances its own progress (``ctx.advance``), e.g. per request.
    reports_progress: ClassVar[bool] = False
    #: Filled in by the registry: the distribution and version that registered the class.
    package: ClassVar[str | None] = None
    version: ClassVar[str | None] = None

    def __init__(self, params: Params | dict[str, Any] | None = None, **kwargs: Any):
        if isinstance(params, Params):
            self.params = params
        else:
            self.params = self.Params.model_validate({**(params or {}), **kwargs})
        self.ctx: StageContext | None = None

    # --- declared columns -------------------------------------------------------------------
    def input_columns(self) -> list[str | tuple[str, ...]]:
        """Columns this stage needs upstream (a tuple lists alternatives)."""
        return list(self.reads)

    def output_columns(self) -> list[str]:
        """Columns this stage adds."""
        return list(self.writes)

    def dropped_columns(self) -> list[str]:
        """Columns this stage removes."""
        return []

    # --- how it runs ------------------------------------------------------------------------
    @property
    def partitioning(self) -> Partitioning:
        return "rows"

    def progress_total(self, rows_in: int) -> int | None:
        """Units of progress for the whole stage (set once, before it runs). Rows by default;
        a stage that advances per request returns the number of requests."""
        return rows_in or None

    # --- lifecycle --------------------------------------------------------------------------
    def setup(self, ctx: StageContext) -> None:
        """Called once before the stage runs. Override to load models; call ``super().setup``."""
        self.ctx = ctx

    def teardown(self) -> None:
        """Called once after the stage ran, even when it failed."""

    def cache_key(self) -> dict[str, Any]:
        """Extra inputs of the stage fingerprint beyond params, name and version (e.g. a file's
        content hash). Override when the output depends on something outside the params.

        Called by the planner before anything runs, with ``self.ctx`` already set (paths resolve;
        no engines yet): raise :class:`curate.DataError` here to fail at validation."""
        return {}

    @property
    def where(self) -> str:
        """``stage 'id' (name)`` for error messages."""
        return f"stage {self.ctx.stage_id!r} ({self.name})" if self.ctx else self.name

    @classmethod
    def summary(cls) -> str:
        doc = (cls.__doc__ or "").strip()
        return doc.splitlines()[0] if doc else ""


class Source:
    """Mixin of stages that make rows from their params alone (readers, topic generators, ...).

    Implement ``read() -> DataFrame``. A source may start a branch (``inputs: []``); given inputs,
    its rows are appended to theirs. ``preview_columns`` reports the columns cheaply at
    validation time (and is where a missing file is reported)."""

    def read(self) -> pl.DataFrame:
        raise NotImplementedError

    def preview_columns(self, ctx: StageContext) -> list[str] | None:
        """Column names, read cheaply at validation time. ``None`` when unknown: the columns of
        later stages are then checked when this source has run."""
        return None


class Reader(Source, Component):
    """A source of rows read from files or datasets.

    A reader whose input comes in independent pieces (files of a glob or a folder) may list them
    with :meth:`splits` and read one with :meth:`read_split`; a distributed executor then reads
    the pieces in parallel, on any worker, and gives rows without an ``id`` the same ids as
    ``read()`` would (their position in the concatenation of the splits, in order)."""

    kind = "reader"

    def splits(self) -> list[Any]:
        """Pieces of the input (picklable) that :meth:`read_split` reads independently, in order;
        ``read()`` must equal the splits read and appended in that order. Empty (the default):
        only ``read()``."""
        return []

    def read_split(self, split: Any) -> pl.DataFrame:
        raise NotImplementedError


class Writer(Component):
    """A sink. ``format(df)`` makes the rows to write (default: as they are), ``write(rows)``
    persists them; the stage's input flows on unchanged."""

    kind = "writer"

    def format(self, df: pl.DataFrame) -> pl.DataFrame:
        """The rows as written (an export format); what ``RunResult.outputs`` returns."""
        return df

    def write(self, rows: pl.DataFrame) -> None:
        raise NotImplementedError

    # Writing in parts (optional). An executor holding the rows on many workers (Ray) has each
    # worker write the part it holds, then calls ``commit`` once; nothing is gathered in one place.
    def write_part(self, rows: pl.DataFrame, part: int) -> Any:
        """Persist part number ``part`` of the formatted rows (numbered from 0 in row order).
        A part may be written again (a retried worker): overwrite it. Returns what
        :meth:`commit` needs to find it (picklable, small)."""
        raise NotImplementedError

    def commit(self, parts: list[Any]) -> None:
        """Called once, after every part was written, with :meth:`write_part`'s results in part
        order: make the output whole (e.g. concatenate the parts into one file, write a card)."""

    @classmethod
    def writes_parts(cls) -> bool:
        """True when the writer implements :meth:`write_part` (and so can write in parts)."""
        return cls.write_part is not Writer.write_part

    def output_paths(self, ctx: StageContext) -> list[Path | str]:
        """Files or folders (local paths or URIs) this writer produces; a rerun rewrites them
        when one is missing."""
        return []


class RowStage(Component):
    """A stage that is a function over any batch of rows (it may add, change or drop rows).

    Set ``group_by`` (or override :meth:`group_keys`) to receive whole groups: every row sharing
    the key values arrives in the same call (pair building and best-of-N need it)."""

    #: Rows per call the stage prefers; ``None`` leaves the size to the executor (a batched LLM
    #: engine wants as many requests per call as possible, so the local executor hands it all).
    batch_size: ClassVar[int | None] = 10_000
    group_by: ClassVar[tuple[str, ...]] = ()

    def group_keys(self) -> list[str]:
        """Columns whose equal values must be processed together (empty: any batch)."""
        return list(self.group_by)

    @property
    def partitioning(self) -> Partitioning:
        return "groups" if self.group_keys() else "rows"

    def process_batch(self, df: pl.DataFrame) -> pl.DataFrame | StageOutput:
        raise NotImplementedError


class Generator(RowStage):
    """Generates text with an engine: new rows, or new columns on existing rows."""

    kind = "generator"
    batch_size = None


class Judge(RowStage):
    """Scores or compares rows and writes score/verdict columns."""

    kind = "judge"
    batch_size = None


class FilterParams(Params):
    action: Literal["drop", "flag"] = Field(
        "drop",
        description="`drop` removes failing rows (kept aside with the reason); `flag` keeps them "
        "and writes the reason to the `<filter>_reason` column (null when the row passes).",
    )


class Filter(RowStage):
    """Keeps or removes rows. Implement ``drop_reason(df)``: a string per row, null to keep.

    Optionally implement ``annotate(df)`` to add columns (scores, language) before deciding.
    """

    kind = "filter"
    Params: ClassVar[type[Params]] = FilterParams

    def annotate(self, df: pl.DataFrame) -> pl.DataFrame:
        return df

    def drop_reason(self, df: pl.DataFrame) -> pl.Expr | pl.Series:
        raise NotImplementedError

    @property
    def flag_column(self) -> str:
        return self.name.split(".")[-1].replace("-", "_") + "_reason"

    def output_columns(self) -> list[str]:
        cols = list(self.writes)
        if getattr(self.params, "action", "drop") == "flag":
            cols.append(self.flag_column)
        return cols

    def process_batch(self, df: pl.DataFrame) -> pl.DataFrame | StageOutput:
        df = self.annotate(df)
        reason = self.drop_reason(df)
        if isinstance(reason, pl.Series):
            reason = pl.lit(reason)
        marked = df.with_columns(reason.cast(pl.Utf8).alias("__reason"))
        if getattr(self.params, "action", "drop") == "flag":
            return marked.rename({"__reason": self.flag_column})
        keep = marked.filter(pl.col("__reason").is_null()).drop("__reason")
        removed = marked.filter(pl.col("__reason").is_not_null()).rename({"__reason": REASON})
        return StageOutput(keep, removed)


#: Column a distributed executor gives a dedup's rows: their position in the stage's input (Int64).
#: Survivors and cluster numbers are defined by it, so any split of the rows gives the same result.
ORDER = "__order"
#: Optional column of prepared rows (Float64): in a duplicate cluster, the highest survives (ties:
#: the first in input order). Without it, the first row in input order survives.
PRIORITY = "__priority"


class Dedup(Component):
    """Removes duplicate rows; a global stage in two parts.

    ``prepare_batch(df)`` is row-local (any batch, in parallel on a distributed executor): add the
    columns the global part needs, named with a leading ``__`` (signatures, embedding row
    numbers); the default adds nothing. ``find_duplicates(df)`` then sees every row at once and
    returns a frame aligned with ``df``: ``cluster`` (int, equal within a duplicate cluster),
    ``duplicate_of`` (``id`` of the kept row, null for kept rows) and ``similarity`` (float, null
    for kept rows). The base class splits, records and drops the ``__`` columns.

    **Distributed protocol** (optional; see "Distributed global stages" in docs/architecture.md).
    A dedup whose :meth:`shuffle_keys` is not empty can run without gathering its rows, and gives
    the result ``find_duplicates`` gives. The executor numbers the rows (:data:`ORDER`), then:

    1. ``prepare_for_shuffle(batch)`` over any batch (row-local, self-contained rows);
    2. if :meth:`fit_sample` returns rows: the ``fit_limit(population)`` rows of all batches'
       samples with the smallest ``__sample_key`` (ties: input order), in that order, go to
       ``fit(sample, population) -> state`` once; ``assign_batch(batch, state)`` then adds the
       columns that need the state (shuffle keys, :data:`PRIORITY`);
    3. for each key of :meth:`shuffle_keys`, rows with a non-null value are brought together by
       value (a list or array value puts the row in one bucket per element) and
       ``find_pairs(rows, key)`` returns duplicate edges ``a``, ``b`` (:data:`ORDER` values) among
       rows sharing a value: enough edges that their connected components are the duplicate
       clusters of those rows (a star per cluster will do);
    4. connected components of all edges are the clusters; :meth:`resolve` picks each cluster's
       survivor (:data:`PRIORITY`, then input order), numbers it by the survivor's :data:`ORDER`
       and asks ``pair_similarity`` for each removed row's similarity to it.

    Without the protocol, a distributed executor gathers the stage into one task.
    """

    kind = "dedup"
    reads = ("id",)
    ORDER: ClassVar[str] = ORDER
    PRIORITY: ClassVar[str] = PRIORITY

    @property
    def partitioning(self) -> Partitioning:
        return "global"

    @property
    def cluster_column(self) -> str:
        return self.name.split(".")[-1] + "_cluster"

    def output_columns(self) -> list[str]:
        return [*self.writes, self.cluster_column]

    def prepare_batch(self, df: pl.DataFrame) -> pl.DataFrame:
        return df

    def find_duplicates(self, df: pl.DataFrame) -> pl.DataFrame:
        raise NotImplementedError

    def process(self, df: pl.DataFrame) -> StageOutput:
        found = self.find_duplicates(df)
        if found.height != df.height:
            raise RuntimeError(f"{self.name}: find_duplicates returned {found.height} rows for {df.height}")
        return self.split(df, found)

    def split(self, df: pl.DataFrame, found: pl.DataFrame) -> StageOutput:
        """Kept and removed rows of ``df`` from the ``cluster``/``duplicate_of``/``similarity``
        frame aligned with it (the ``__`` columns dropped)."""
        scratch = [c for c in df.columns if c.startswith("__") and c != ORDER]  # the order stays, if given
        marked = df.drop(scratch).with_columns(
            found["cluster"].cast(pl.Int64).alias(self.cluster_column),
            found["duplicate_of"].cast(pl.Utf8).alias("duplicate_of"),
            found["similarity"].cast(pl.Float64).alias("similarity"),
        )
        is_dup = pl.col("duplicate_of").is_not_null()
        kept = marked.filter(~is_dup).drop("duplicate_of", "similarity")
        removed = marked.filter(is_dup).with_columns(pl.lit(self.reason).alias(REASON))
        return StageOutput(kept, removed)

    @property
    def reason(self) -> str:
        """The ``reason`` of removed rows."""
        return f"duplicate ({self.name})"

    # --- distributed protocol (optional) --------------------------------------------------------
    def shuffle_keys(self) -> list[str]:
        """Scratch columns that bucket the rows: every duplicate pair shares a non-null value in at
        least one of them (exact: the hash; MinHash: the LSH band keys; semantic: the k-means
        cluster). Empty (the default): the dedup runs whole, through ``find_duplicates``."""
        return []

    def bucket_columns(self) -> list[str] | None:
        """Columns ``find_pairs`` and ``pair_similarity`` read besides the key, ``id`` and
        :data:`ORDER` (``None``: all). A distributed executor moves only these between machines."""
        return None

    def prepare_for_shuffle(self, df: pl.DataFrame) -> pl.DataFrame:
        """``prepare_batch`` for a distributed executor: the rows must carry everything the later
        steps read (they move between machines; files a batch writes may not be where they run)."""
        return self.prepare_batch(df)

    def fit_sample(self, df: pl.DataFrame) -> pl.DataFrame | None:
        """Rows of a prepared batch that may train a fitted state (e.g. k-means), with a UInt64
        ``__sample_key`` that decides which of them do; ``None`` (the default): nothing to fit."""
        return None

    def fit_limit(self, population: int) -> int:
        """How many sample rows ``fit`` reads, given the number of rows :meth:`fit_sample` offered."""
        return population

    def fit(self, sample: pl.DataFrame, population: int) -> Any:
        """The state ``assign_batch`` needs, from the ``fit_limit`` sample rows with the smallest
        ``__sample_key`` (ties: input order), in that order. Must be picklable."""
        return None

    def assign_batch(self, df: pl.DataFrame, state: Any) -> pl.DataFrame:
        """Row-local, after ``fit``: add the columns that need the fitted state."""
        return df

    def find_pairs(self, rows: pl.DataFrame, key: str) -> pl.DataFrame:
        """Duplicate edges among ``rows``: whole buckets of ``key`` (every row sharing a value;
        maybe several buckets; an element per row where the key is a list). Returns Int64 columns
        ``a`` and ``b`` (:data:`ORDER` values); their connected components are what matters."""
        raise NotImplementedError(f"{self.name} declares shuffle keys but does not implement find_pairs")

    def pair_similarity(self, rows: pl.DataFrame, kept: pl.DataFrame) -> pl.Series:
        """Similarity of each of ``rows`` to the row of ``kept`` at the same position (the
        survivor of its cluster); both frames are prepared rows with :meth:`bucket_columns`."""
        return pl.Series("similarity", [1.0] * rows.height, dtype=pl.Float64)

    def key_rows(self, prepared: pl.DataFrame, key: str) -> pl.DataFrame:
        """The rows of a prepared batch that go to buckets of ``key``: those with a value, one row
        per element where it is a list or array, with ``id``, :data:`ORDER`, the key and
        :meth:`bucket_columns` (what an executor shuffles by the key)."""
        keep = self.bucket_columns()
        cols = list(dict.fromkeys(["id", ORDER, key, *(prepared.columns if keep is None else keep)]))
        rows = prepared.select(c for c in cols if c in prepared.columns).filter(pl.col(key).is_not_null())
        dtype = rows.schema[key]
        if isinstance(dtype, pl.Array):
            rows = rows.with_columns(pl.col(key).arr.to_list())
        if isinstance(dtype, (pl.Array, pl.List)):
            rows = rows.explode(key).filter(pl.col(key).is_not_null())
        return rows

    def resolve(self, members: pl.DataFrame, component: str = "__component") -> pl.DataFrame:
        """Clusters to results: ``members`` are prepared rows of whole clusters (``component``
        names the cluster). Returns, per member, :data:`ORDER`, ``cluster`` (the survivor's
        :data:`ORDER`), ``duplicate_of`` (its ``id``; null for the survivor) and ``similarity``."""
        by = [pl.col(PRIORITY).fill_nan(None).fill_null(float("-inf")).neg()] if PRIORITY in members.columns else []
        ranked = members.sort([component, *by, pl.col(ORDER)])
        first = ranked.group_by(component, maintain_order=True).agg(
            pl.col(ORDER).first().alias("__kept_order"), pl.col("id").first().cast(pl.Utf8).alias("__kept_id"),
            pl.len().alias("__size"))
        ranked = ranked.join(first, on=component, how="left", maintain_order="left")
        dup = ranked.filter(pl.col(ORDER) != pl.col("__kept_order"))
        similarity = pl.Series("similarity", [], dtype=pl.Float64)
        if dup.height:
            survivors = ranked.filter(pl.col(ORDER) == pl.col("__kept_order")).select(pl.exclude("^__kept.*$"))
            kept_rows = dup.select(pl.col("__kept_order").alias(ORDER)).join(survivors, on=ORDER, how="left",
                                                                            maintain_order="left")
            similarity = self.pair_similarity(dup, kept_rows).cast(pl.Float64).alias("similarity")
        dup = dup.select(ORDER, pl.col("__kept_order").alias("cluster"), pl.col("__kept_id").alias("duplicate_of"),
                         similarity)
        kept = ranked.filter(pl.col(ORDER) == pl.col("__kept_order")).select(
            ORDER, pl.col("__kept_order").alias("cluster"), pl.lit(None, pl.Utf8).alias("duplicate_of"),
            pl.lit(None, pl.Float64).alias("similarity"))
        return pl.concat([kept, dup]).with_columns(pl.col(ORDER).cast(pl.Int64), pl.col("cluster").cast(pl.Int64))
