"""Basic filters: text length and regular expressions (polars expressions, no per-row Python)."""

from __future__ import annotations

import re
from typing import Literal

import polars as pl
from pydantic import Field, field_validator, model_validator

from curate.component import Filter, FilterParams
from curate.text import text_columns, text_of


class LengthParams(FilterParams):
    column: str = Field("response", description="Text to measure: a column, or `prompt`, `response` or "
                                                "`conversation`.")
    unit: Literal["chars", "words"] = Field("chars", description="Measure characters or whitespace-separated words.")
    min: int | None = Field(None, ge=0, description="Drop rows shorter than this.")
    max: int | None = Field(None, ge=0, description="Drop rows longer than this.")

    @model_validator(mode="after")
    def _bounds(self) -> "LengthParams":
        if self.min is None and self.max is None:
            raise ValueError("give `min`, `max` or both")
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError(f"`min` ({self.min}) is greater than `max` ({self.max})")
        return self


class LengthFilter(Filter):
    """Drop rows whose text is shorter than `min` or longer than `max` (chars or words)."""

    name = "filter.length"
    Params = LengthParams

    def input_columns(self) -> list[str | tuple[str, ...]]:
        return text_columns(self.params.column)

    def drop_reason(self, df: pl.DataFrame) -> pl.Expr:
        p = self.params
        text = pl.lit(text_of(df, p.column, where=self.where).fill_null(""))
        size = text.str.len_chars() if p.unit == "chars" else text.str.count_matches(r"\S+")
        reason = pl.lit(None, pl.Utf8)
        if p.max is not None:
            reason = pl.when(size > p.max).then(pl.format(f"{p.column} too long: {{}} {p.unit} > {p.max}", size)).otherwise(reason)
        if p.min is not None:
            reason = pl.when(size < p.min).then(pl.format(f"{p.column} too short: {{}} {p.unit} < {p.min}", size)).otherwise(reason)
        return reason


class RegexParams(FilterParams):
    column: str = Field("response", description="Text to search: a column, or `prompt`, `response` or `conversation`.")
    pattern: str = Field(description="Regular expression (Rust `regex` syntax, as polars uses).")
    keep: Literal["matching", "non_matching"] = Field(
        "non_matching", description="`non_matching` drops rows where the pattern matches; `matching` drops the others.")
    ignore_case: bool = Field(False, description="Match case-insensitively.")

    @field_validator("pattern")
    @classmethod
    def _compiles(cls, value: str) -> str:
        try:
            re.compile(value)
        except re.error as exc:
            raise ValueError(f"invalid regular expression: {exc}") from None
        return value


class RegexFilter(Filter):
    """Drop rows whose text matches (or does not match) a regular expression."""

    name = "filter.regex"
    Params = RegexParams

    def input_columns(self) -> list[str | tuple[str, ...]]:
        return text_columns(self.params.column)

    def drop_reason(self, df: pl.DataFrame) -> pl.Expr:
        p = self.params
        pattern = f"(?i){p.pattern}" if p.ignore_case else p.pattern
        found = pl.lit(text_of(df, p.column, where=self.where).fill_null("")).str.contains(pattern)
        drop = found if p.keep == "non_matching" else ~found
        what = "matches" if p.keep == "non_matching" else "does not match"
        return pl.when(drop).then(pl.lit(f"{p.column} {what} /{p.pattern}/")).otherwise(pl.lit(None, pl.Utf8))
