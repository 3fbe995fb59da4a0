"""`filter.threshold`: keep rows whose numeric score column lies within ``[min, max]``."""

from __future__ import annotations

from typing import Literal

import polars as pl
from pydantic import Field, model_validator

import curate
from curate_filters import _common


class ThresholdParams(curate.FilterParams):
    column: str = Field(description="Numeric column to test, e.g. `score` or `quality_words`.")
    min: float | None = Field(None, description="Rows with a value below this fail (the bound itself passes).")
    max: float | None = Field(None, description="Rows with a value above this fail (the bound itself passes).")
    nulls: Literal["drop", "keep"] = Field(
        "drop", description="What a null (or NaN) value does: `drop` fails the row, `keep` passes it.")

    @model_validator(mode="after")
    def _bounds(self) -> "ThresholdParams":
        if self.min is None and self.max is None:
            raise ValueError("give `min`, `max` or both")
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError(f"`min` ({self.min}) is greater than `max` ({self.max})")
        return self


class ThresholdFilter(curate.Filter):
    """Drop rows whose score column is below `min` or above `max` (nulls dropped or kept)."""

    name = "filter.threshold"
    Params = ThresholdParams

    def input_columns(self) -> list[str | tuple[str, ...]]:
        return [self.params.column]

    def drop_reason(self, df: pl.DataFrame) -> pl.Expr:
        p = self.params
        dtype = df.schema[p.column]
        if not (dtype.is_numeric() or dtype == pl.Boolean or dtype == pl.Null):
            raise curate.DataError(f"column {p.column!r} has type {dtype}, which is not a number", where=self.where,
                                   hint="point `column` at a numeric score column (cast it upstream if it "
                                        "holds numbers as text)")
        value = pl.col(p.column).cast(pl.Float64).fill_nan(None)
        rules = []
        if p.nulls == "drop":
            rules.append((value.is_null(), pl.lit(f"{p.column} is null")))
        if p.min is not None:
            rules.append((value < p.min, pl.format(f"{p.column} {{}} < min {p.min}", value.round(4))))
        if p.max is not None:
            rules.append((value > p.max, pl.format(f"{p.column} {{}} > max {p.max}", value.round(4))))
        return _common.first_reason(rules)
