"""Helpers shared by the filters: reading text columns with clear errors, and building reasons."""

from __future__ import annotations

from typing import Annotated, Iterable

import polars as pl
from pydantic import AfterValidator

from curate.errors import DataError
from curate.formats import is_messages, select_text

_TEXT_TYPES = (pl.String, pl.Categorical, pl.Enum, pl.Null)


def _distinct(value: list[str]) -> list[str]:
    if len(set(value)) != len(value):
        raise ValueError("a column is listed twice")
    return value


#: A params field listing columns, each at most once.
DistinctColumns = Annotated[list[str], AfterValidator(_distinct)]


def stage_where(component) -> str:
    ctx = getattr(component, "ctx", None)
    return f"stage {ctx.stage_id!r} ({component.name})" if ctx else component.name


def text(df: pl.DataFrame, column: str, component) -> pl.Series:
    """The text ``column`` names (see :func:`curate.formats.select_text`), nulls as ``""``.

    Raises :class:`curate.DataError` naming the stage when the column is missing or does not
    hold text (numbers, lists and structs other than messages are refused, not stringified).
    """
    if column in df.columns:
        dtype = df.schema[column]
        if not (isinstance(dtype, _TEXT_TYPES) or is_messages(dtype)):
            raise DataError(
                f"column {column!r} holds {dtype}, not text", where=stage_where(component),
                hint="point the stage at a text column (or a messages list of {role, content})")
    try:
        series = select_text(df, column)
    except KeyError as exc:
        raise DataError(str(exc).strip("'\""), where=stage_where(component),
                        hint=f"available columns: {', '.join(df.columns)}") from None
    return series.cast(pl.String).fill_null("")


def first_reason(rules: Iterable[tuple[pl.Expr, pl.Expr]]) -> pl.Expr:
    """``when(c1).then(r1).when(c2).then(r2)...``: the reason of the first rule that fails.

    A null condition (the rule could not be measured, e.g. a ratio over zero words) passes.
    """
    chain = None
    for failed, reason in rules:
        failed = failed.fill_null(False)
        chain = pl.when(failed).then(reason) if chain is None else chain.when(failed).then(reason)
    if chain is None:
        return pl.lit(None, pl.String)
    return chain.otherwise(pl.lit(None, pl.String))
