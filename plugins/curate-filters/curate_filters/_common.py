"""Helpers shared by the filters: a params type for column lists, and building reasons. (Text is
read with :func:`curate.text_of`.)"""

from __future__ import annotations

from typing import Annotated, Iterable

import polars as pl
from pydantic import AfterValidator



def _distinct(value: list[str]) -> list[str]:
    if len(set(value)) != len(value):
        raise ValueError("a column is listed twice")
    return value


#: A params field listing columns, each at most once.
DistinctColumns = Annotated[list[str], AfterValidator(_distinct)]


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
