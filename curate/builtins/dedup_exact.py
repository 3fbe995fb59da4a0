"""Exact deduplication on normalized text: the fast first pass before fuzzy or semantic dedup."""

from __future__ import annotations

import polars as pl
from pydantic import Field

from curate.component import Dedup, Params
from curate.formats import select_text, text_columns_needed


class ExactDedupParams(Params):
    column: str = Field("prompt", description="Text to compare: a column, or `prompt`, `response` or "
                                              "`conversation` derived from the working columns.")
    lowercase: bool = Field(True, description="Compare case-insensitively.")
    collapse_whitespace: bool = Field(True, description="Treat runs of whitespace as one space and trim.")
    strip_punctuation: bool = Field(False, description="Ignore punctuation.")


class ExactDedup(Dedup):
    """Remove rows whose normalized text equals an earlier row's (the first occurrence is kept)."""

    name = "dedup.exact"
    Params = ExactDedupParams

    def input_columns(self) -> list[str | tuple[str, ...]]:
        return ["id", *text_columns_needed(self.params.column)]

    def normalized(self, df: pl.DataFrame) -> pl.Series:
        text = select_text(df, self.params.column).fill_null("")
        expr = pl.lit(text)
        if self.params.lowercase:
            expr = expr.str.to_lowercase()
        if self.params.strip_punctuation:
            expr = expr.str.replace_all(r"[\p{P}\p{S}]", "")
        if self.params.collapse_whitespace:
            expr = expr.str.replace_all(r"\s+", " ").str.strip_chars()
        return pl.select(expr.alias("norm")).to_series()

    def find_duplicates(self, df: pl.DataFrame) -> pl.DataFrame:
        frame = pl.DataFrame({"id": df["id"].cast(pl.Utf8), "norm": self.normalized(df)}).with_row_index("row")
        first = pl.col("row").min().over("norm")
        frame = frame.with_columns(first.alias("first_row"))
        first_id = frame["id"].gather(frame["first_row"])
        is_dup = frame["row"] != frame["first_row"]
        return pl.DataFrame({
            "cluster": frame["first_row"].cast(pl.Int64),
            "duplicate_of": pl.Series(first_id).zip_with(is_dup, pl.Series([None] * frame.height, dtype=pl.Utf8)),
            "similarity": pl.Series([1.0] * frame.height).zip_with(is_dup, pl.Series([None] * frame.height, dtype=pl.Float64)),
        })
