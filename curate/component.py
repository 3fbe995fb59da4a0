"""Component base classes: what a plugin subclasses.

A component is a class with a ``name`` (``"dedup.exact"``), pydantic ``Params`` (``extra="forbid"``,
every field described) and the columns it reads and writes. The runner builds one instance per
recipe stage, calls :meth:`Component.setup` with a :class:`StageContext`, then one of:

* :class:`Reader` — ``read() -> DataFrame`` (a source; later readers are concatenated);
* :class:`Writer` — ``write(df)``; the frame flows on unchanged;
* row-local stages (:class:`Generator`, :class:`Judge`, :class:`Filter`) —
  ``process_batch(df) -> DataFrame | StageOutput`` over any batch of rows, so an executor may
  split the data freely (locally, or on Ray later);
* whole-dataset stages (:class:`Dedup`) — ``process(df) -> StageOutput`` over all rows at once.

Rows a stage removes are returned in :attr:`StageOutput.removed` with a ``reason`` column and are
kept in the run directory, never silently lost.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, ClassVar, Literal

import polars as pl
from pydantic import BaseModel, ConfigDict, Field

if TYPE_CHECKING:  # pragma: no cover
    from curate.engine import Engine

KINDS = ("reader", "writer", "generator", "judge", "filter", "dedup", "engine")

REASON = "reason"  # column of removed rows that says why


class Params(BaseModel):
    """Base of every component's params: unknown keys are errors, every field is described."""

    model_config = ConfigDict(extra="forbid", frozen=True)


@dataclass
class StageOutput:
    """What a stage returns: the rows that flow on, and the rows it removed (with ``reason``)."""

    kept: pl.DataFrame
    removed: pl.DataFrame | None = None


@dataclass
class StageContext:
    """Everything a component may use while it runs. Built by the runner."""

    stage_id: str
    recipe_name: str
    recipe_dir: Path
    run_dir: Path
    stage_dir: Path
    on_bad_rows: Literal["error", "skip"] = "error"
    engines: dict[str, Engine] = field(default_factory=dict)
    advance: Callable[[int], None] = lambda n: None
    set_total: Callable[[int | None], None] = lambda n: None
    log: logging.Logger = field(default_factory=lambda: logging.getLogger("curate"))
    counters: dict[str, int] = field(default_factory=dict)

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
            raise KeyError(f"engine {name!r} is not declared in the recipe (declared: {known})")

    def count(self, key: str, n: int = 1) -> None:
        """Add to a named counter reported in the stage's stats (e.g. ``cache_hits``)."""
        self.counters[key] = self.counters.get(key, 0) + n


class Component:
    """Base of every plugin component. Subclass one of the kinds below, not this."""

    kind: ClassVar[str] = ""
    name: ClassVar[str] = ""
    Params: ClassVar[type[Params]] = Params
    #: Columns read and written, when they do not depend on params (else override the methods).
    #: An entry of ``reads`` may be a tuple of alternatives: any one of them suffices.
    reads: ClassVar[tuple[str | tuple[str, ...], ...]] = ()
    writes: ClassVar[tuple[str, ...]] = ()
    #: True when the stage advances its own progress bar (``ctx.advance``), e.g. per request.
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

    def engine_names(self) -> list[str]:
        """Engines (recipe ``engines:`` keys) this stage uses: params named ``engine``/``engines``."""
        names: list[str] = []
        for key in ("engine", "engines", "judge_engine"):
            value = getattr(self.params, key, None)
            if isinstance(value, str):
                names.append(value)
            elif isinstance(value, (list, tuple)):
                names.extend(v for v in value if isinstance(v, str))
        return names

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

    @classmethod
    def summary(cls) -> str:
        doc = (cls.__doc__ or "").strip()
        return doc.splitlines()[0] if doc else ""


class Reader(Component):
    """A source of rows. ``read()`` returns a DataFrame; ``preview_columns()`` its schema cheaply."""

    kind = "reader"

    def read(self) -> pl.DataFrame:
        raise NotImplementedError

    def preview_columns(self, ctx: StageContext) -> list[str] | None:
        """Column names, read cheaply at validation time; also where a missing file is reported.
        Return ``None`` when unknown."""
        return None


class Writer(Component):
    """A sink. ``write(df)`` persists the frame; the frame flows on unchanged."""

    kind = "writer"

    def write(self, df: pl.DataFrame) -> None:
        raise NotImplementedError

    def output_paths(self, ctx: StageContext) -> list[Path]:
        """Files or folders this writer produces; a rerun rewrites them when one is missing."""
        return []


class RowStage(Component):
    """A stage that is a function over any batch of rows (it may add, change or drop rows)."""

    whole_dataset: ClassVar[bool] = False
    #: Rows per batch the executor hands over; ``None`` hands the whole stage at once (what a
    #: batched LLM engine wants).
    batch_size: ClassVar[int | None] = 10_000

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


class Dedup(Component):
    """Removes duplicate rows; sees the whole dataset at once.

    Implement ``find_duplicates(df)``: a frame aligned with ``df`` with ``cluster`` (int, equal for
    rows in one duplicate cluster), ``duplicate_of`` (``id`` of the kept row, null for kept rows)
    and ``similarity`` (float, null for kept rows). The base class splits and records them.
    """

    kind = "dedup"
    whole_dataset: ClassVar[bool] = True
    reads = ("id",)

    @property
    def cluster_column(self) -> str:
        return self.name.split(".")[-1] + "_cluster"

    def output_columns(self) -> list[str]:
        return [*self.writes, self.cluster_column]

    def find_duplicates(self, df: pl.DataFrame) -> pl.DataFrame:
        raise NotImplementedError

    def process(self, df: pl.DataFrame) -> StageOutput:
        found = self.find_duplicates(df)
        if found.height != df.height:
            raise RuntimeError(f"{self.name}: find_duplicates returned {found.height} rows for {df.height}")
        marked = df.with_columns(
            found["cluster"].cast(pl.Int64).alias(self.cluster_column),
            found["duplicate_of"].cast(pl.Utf8).alias("duplicate_of"),
            found["similarity"].cast(pl.Float64).alias("similarity"),
        )
        is_dup = pl.col("duplicate_of").is_not_null()
        kept = marked.filter(~is_dup).drop("duplicate_of", "similarity")
        removed = marked.filter(is_dup).with_columns(pl.lit(f"duplicate ({self.name})").alias(REASON))
        return StageOutput(kept, removed)
