"""Distributions of the columns a stage wrote, aggregated in polars (bins and counts, never the
values), chosen from the column's name and type:

* numbers (``reward``, ``reward_<attribute>``, ``score_gap``, ``rating``, ``language_score``, ...):
  a histogram and summary figures;
* booleans (``math_correct``, ``code_passed``, ...): a pass rate; IFEval's per-constraint lists
  (``if_follow_strict`` with ``instruction_id_list``): a pass rate per constraint;
* ``<name>_cluster`` (dedups): how many clusters have 1, 2, 3, ... members;
* short strings with few values (``language``, ``task``, ``code_tier``, ...): counts per value;
* text lengths of what each writer wrote (``prompt``, ``response``, ``chosen``, ``rejected``,
  ``messages``), in characters.
"""

from __future__ import annotations

from typing import Any

import polars as pl

#: fine bins stored per histogram; figures merge them onto one grid (shared by the runs compared)
BINS = 120
MAX_CATEGORIES = 30
#: strings up to this long (longest value) may be categories; longer ones are text
MAX_CATEGORY_CHARS = 48
TEXT_COLUMNS = ("prompt", "response", "chosen", "rejected", "messages")
#: columns that identify or locate rows: never distributions
_SKIP = {"id", "source", "prompt_id", "duplicate_of", "reason", "response_index", "similarity", "tests",
         "reference", "instruction_id_list", "kwargs", "generation", "provenance"}
_SKIP_SUFFIXES = ("_id", "_answer", "_reason", "_generation")
_SCORE_WORDS = ("reward", "score", "judge", "rating")


def column_distributions(stage: str, frame: pl.LazyFrame, columns: list[str],
                         removed: pl.LazyFrame | None = None) -> list[dict[str, Any]]:
    """Distributions of ``columns`` (those the stage added) of a stage's output."""
    schema = frame.collect_schema()
    found: list[dict[str, Any] | None] = []
    for name in columns:
        if name in _SKIP or name in TEXT_COLUMNS or name.startswith("__") or name.endswith(_SKIP_SUFFIXES):
            continue
        try:
            found.append(_distribution(stage, name, schema, frame, removed))
        except pl.exceptions.PolarsError as exc:  # one odd column must not cost the rest of the report
            found.append({"stage": stage, "column": name, "kind": "error", "group": "errors",
                          "error": f"{type(exc).__name__}: {str(exc).splitlines()[0]}"})
    return [d for d in found if d]


def _distribution(stage: str, name: str, schema: pl.Schema, frame: pl.LazyFrame,
                  removed: pl.LazyFrame | None) -> dict[str, Any] | None:
    dtype = schema[name]
    if name.endswith("_cluster") and dtype.is_integer():
        return _cluster_sizes(stage, name, frame, removed)
    if dtype == pl.Boolean:
        return _rate(stage, name, frame)
    if isinstance(dtype, pl.List) and dtype.inner == pl.Boolean:
        return _list_rates(stage, name, frame, schema)
    if dtype.is_numeric():
        return histogram(stage, name, frame.select(pl.col(name).cast(pl.Float64)),
                         group="scores" if any(w in name for w in _SCORE_WORDS) else "figures")
    if dtype == pl.String:
        return _categories(stage, name, frame)
    return None


def length_distributions(stage: str, frame: pl.LazyFrame) -> list[dict[str, Any]]:
    """Text lengths (characters) of the prompt, response, chosen, rejected and messages columns."""
    schema = frame.collect_schema()
    found = []
    for name in TEXT_COLUMNS:
        if name not in schema:
            continue
        expr = text_length(name, schema[name])
        if expr is not None:
            found.append(histogram(stage, f"{name} length", frame.select(expr.cast(pl.Float64).alias(f"{name} length")),
                                   group="lengths"))
    return found


def text_length(name: str, dtype: pl.DataType) -> pl.Expr | None:
    """Characters of a text column, or of every message's ``content`` of a messages column."""
    if dtype == pl.String:
        return pl.col(name).str.len_chars()
    if isinstance(dtype, pl.List) and isinstance(dtype.inner, pl.Struct) and \
            "content" in {f.name for f in dtype.inner.fields}:
        return pl.col(name).list.eval(pl.element().struct.field("content").str.len_chars()).list.sum()
    return None


def histogram(stage: str, name: str, values: pl.LazyFrame, group: str) -> dict[str, Any] | None:
    """Bins of a one-column frame of floats: ``x`` (bin centres), ``width`` and ``counts``, with
    count, nulls, mean, min, quartiles and max."""
    col = pl.col(values.collect_schema().names()[0])
    col = pl.when(col.is_finite()).then(col)  # inf and NaN count as missing
    stats = values.select(
        col.count().alias("count"), col.null_count().alias("nulls"), col.mean().alias("mean"),
        col.min().alias("min"), col.quantile(0.25).alias("p25"), col.median().alias("median"),
        col.quantile(0.75).alias("p75"), col.max().alias("max")).collect().row(0, named=True)
    if not stats["count"]:
        return None
    lo, hi = stats["min"], stats["max"]
    width = (hi - lo) / BINS if hi > lo else 1.0
    binned = (values.select(((col - lo) / width).floor().clip(0, BINS - 1).cast(pl.Int32).alias("bin"))
              .drop_nulls().group_by("bin").len().sort("bin").collect())
    counts = dict(binned.iter_rows())
    x = [lo + (i + 0.5) * width for i in range(BINS)] if hi > lo else [lo]  # one value: one bin around it
    return {"stage": stage, "column": name, "kind": "histogram", "group": group, "x": x, "width": width,
            "counts": [int(counts.get(i, 0)) for i in range(len(x))],
            "stats": {k: (float(v) if isinstance(v, float) else v) for k, v in stats.items()}}


def _rate(stage: str, name: str, frame: pl.LazyFrame) -> dict[str, Any]:
    c = pl.col(name)
    row = frame.select(c.sum().alias("true"), (~c).sum().alias("false"), c.null_count().alias("null")).collect().row(0)
    yes, no, missing = (int(v or 0) for v in row)
    return {"stage": stage, "column": name, "kind": "rate", "group": "pass rates", "true": yes, "false": no,
            "null": missing, "rate": yes / (yes + no) if yes + no else None}


def _list_rates(stage: str, name: str, frame: pl.LazyFrame, schema: pl.Schema) -> dict[str, Any]:
    """Per-constraint pass rates when ``instruction_id_list`` names each element (IFEval), else the
    rate over all elements."""
    if "instruction_id_list" in schema:
        pairs = (frame.select(pl.col("instruction_id_list").alias("label"), pl.col(name).alias("ok"))
                 .filter(pl.col("label").list.len() == pl.col("ok").list.len()).explode(["label", "ok"]))
    else:
        pairs = frame.select(pl.lit(name).alias("label"), pl.col(name).alias("ok")).explode("ok")
    table = (pairs.drop_nulls().group_by("label")
             .agg(pl.col("ok").cast(pl.Int64).sum().alias("passed"), pl.len().alias("n"))
             .sort(["n", "label"], descending=[True, False]).head(MAX_CATEGORIES).collect())
    return {"stage": stage, "column": name, "kind": "rates", "group": "pass rates",
            "labels": [str(v) for v in table["label"]], "passed": table["passed"].to_list(),
            "n": table["n"].to_list()}


def _cluster_sizes(stage: str, name: str, frame: pl.LazyFrame,
                   removed: pl.LazyFrame | None) -> dict[str, Any] | None:
    """Cluster sizes over the stage's input (kept and removed rows): clusters of size 1, 2, ..."""
    ids = frame.select(name)
    if removed is not None and name in removed.collect_schema().names():
        ids = pl.concat([ids, removed.select(pl.col(name).cast(ids.collect_schema()[name]))])
    sizes = (ids.drop_nulls().group_by(name).len().group_by("len").agg(pl.len().alias("clusters"))
             .sort("len").collect())
    if not sizes.height:
        return None
    return {"stage": stage, "column": name, "kind": "categories", "group": "clusters",
            "labels": [str(v) for v in sizes["len"]], "counts": sizes["clusters"].to_list(),
            "xtitle": "cluster size (rows)", "ytitle": "clusters"}


def _categories(stage: str, name: str, frame: pl.LazyFrame) -> dict[str, Any] | None:
    c = pl.col(name)
    longest, distinct = frame.select(c.str.len_chars().max().alias("longest"),
                                     c.n_unique().alias("distinct")).collect().row(0)
    if longest is None or longest > MAX_CATEGORY_CHARS or distinct > MAX_CATEGORIES:
        return None
    counts = (frame.select(c.fill_null("(none)")).group_by(name).len()
              .sort(["len", name], descending=[True, False]).collect())
    return {"stage": stage, "column": name, "kind": "categories", "group": "categories",
            "labels": counts[name].to_list(), "counts": counts["len"].to_list(), "ytitle": "rows"}


__all__ = ["column_distributions", "length_distributions", "histogram", "text_length"]
