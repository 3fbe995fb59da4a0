"""The one way a stage reads "the text" of a row: a column, a rendered conversation, or a text
derived from the working columns. Every filter, dedup and judge uses it, so the same mistake
(a list of numbers given as text, a misspelt column) gets the same :class:`DataError` everywhere.

Targets: any column holding strings (or categoricals), a messages column (rendered as ``role:
content`` lines), a list of strings (joined with newlines); and, when no column has the name,
``prompt`` (the user turns of ``messages``) and ``conversation`` (the messages or prompt, plus the
response).
"""

from __future__ import annotations

import polars as pl

from curate.errors import DataError
from curate.formats import is_messages, prompt_messages, render_messages

#: Texts derivable from the working columns when no column has the name.
DERIVED = ("prompt", "response", "conversation")

_STRINGS = (pl.String, pl.Categorical, pl.Enum, pl.Null)


def text_columns(target: str) -> list[str | tuple[str, ...]]:
    """The input columns a stage declares for a text ``target`` (see :func:`text_of`)."""
    if target in ("prompt", "conversation"):
        return [("prompt", "messages")]
    return [target]


def text_of(df: pl.DataFrame, target: str, *, where: str | None = None, numbers: bool = False) -> pl.Series:
    """The text ``target`` names, per row, as strings (nulls stay null).

    ``numbers=True`` also accepts numeric and boolean columns (cast to strings, as exact dedup of
    ids does); otherwise they are refused. Raises :class:`DataError` naming ``where`` (the stage)
    and the fix."""
    if target in df.columns:
        dtype = df.schema[target]
        if is_messages(dtype):
            return df.select(render_messages(pl.col(target)).alias(target)).to_series()
        if isinstance(dtype, _STRINGS):
            return df[target].cast(pl.String)
        if isinstance(dtype, pl.List) and isinstance(dtype.inner, _STRINGS):
            return df[target].cast(pl.List(pl.String)).list.join("\n").alias(target)
        if numbers and (dtype.is_numeric() or dtype == pl.Boolean):
            return df[target].cast(pl.String)
        raise DataError(f"column {target!r} has type {dtype}, which is not text", where=where,
                        hint="point the stage at a string column, a list of strings or a messages "
                             "column ({role, content} structs)")
    if target == "prompt" and "messages" in df.columns and is_messages(df.schema["messages"]):
        user_turns = pl.col("messages").list.eval(
            pl.element().filter(pl.element().struct.field("role") == "user").struct.field("content")
        ).list.join("\n")
        return df.select(user_turns.alias("prompt")).to_series()
    if target == "conversation" and ("messages" in df.columns or "prompt" in df.columns):
        parts = [render_messages(prompt_messages(df))]
        if "response" in df.columns:
            parts.append(pl.lit("assistant: ") + pl.col("response").cast(pl.String).fill_null(""))
        return df.select(pl.concat_str(parts, separator="\n").alias("conversation")).to_series()
    raise DataError(f"no column {target!r} to read text from", where=where,
                    hint=f"name one of the columns ({', '.join(df.columns) or 'none'}), or `prompt` / "
                         "`conversation` where the data has `prompt` or `messages`")
