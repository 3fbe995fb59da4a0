"""Exact deduplication on normalized text: the fast first pass before fuzzy or semantic dedup."""

from __future__ import annotations

import polars as pl
from pydantic import Field

from curate.component import Dedup, Params
from curate.text import text_columns, text_of


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
        return ["id", *text_columns(self.params.column)]

    def normalized(self, df: pl.DataFrame) -> pl.Series:
        text = text_of(df, self.params.column, where=self.where, numbers=True).fill_null("")
        expr = pl.lit(text)
        if self.params.lowercase:
            expr = expr.str.to_lowercase()
        if self.params.strip_punctuation:
            expr = expr.str.replace_all(r"[\p{P}\p{S}]", "")
        if self.params.collapse_whitespace:
            expr = expr.str.replace_all(r"\s+", " ").str.strip_chars()
        return pl.select(expr.alias("norm")).to_series()

    def prepare_batch(self, df: pl.DataFrame) -> pl.DataFrame:
        # Row-local part: normalize and hash (in parallel on a distributed executor). The 128-bit
        # key (two independent 64-bit hashes) makes a false match practically impossible.
        norm = self.normalized(df)
        return df.with_columns(pl.struct(norm.hash(seed=1).alias("a"), norm.hash(seed=2).alias("b"))
                               .alias("__exact_key"))

    def find_duplicates(self, df: pl.DataFrame) -> pl.DataFrame:
        key = df["__exact_key"] if "__exact_key" in df.columns else self.prepare_batch(df)["__exact_key"]
        frame = pl.DataFrame({"id": df["id"].cast(pl.Utf8), "norm": key}).with_row_index("row")
        first = pl.col("row").min().over("norm")
        frame = frame.with_columns(first.alias("first_row"))
        first_id = frame["id"].gather(frame["first_row"])
        is_dup = frame["row"] != frame["first_row"]
        return pl.DataFrame({
            "cluster": frame["first_row"].cast(pl.Int64),
            "duplicate_of": pl.Series(first_id).zip_with(is_dup, pl.Series([None] * frame.height, dtype=pl.Utf8)),
            "similarity": pl.Series([1.0] * frame.height).zip_with(is_dup, pl.Series([None] * frame.height, dtype=pl.Float64)),
        })

    # --- distributed protocol: rows with equal keys are duplicates of the first of them ------------
    def shuffle_keys(self) -> list[str]:
        return ["__exact_key"]

    def bucket_columns(self) -> list[str]:
        return []  # the key and the row's position decide

    def find_pairs(self, rows: pl.DataFrame, key: str) -> pl.DataFrame:
        first = pl.col(self.ORDER).min().over(key)
        return rows.select(first.alias("a"), pl.col(self.ORDER).alias("b")).filter(pl.col("a") != pl.col("b"))
