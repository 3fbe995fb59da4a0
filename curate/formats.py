"""The dataset formats curate reads and writes.

Working columns inside a pipeline (any may be absent):

* ``id`` (str) — stable row id, added by the runner after a reader when missing;
* ``source`` (str) — where the row came from (``file:line``);
* ``prompt`` (str) — a single-turn user prompt, or ``messages`` (list of ``{role, content}``) —
  a conversation so far;
* ``response`` (str) — an assistant response to the prompt/conversation;
* ``generation`` (struct) — for generated text: ``stage``, ``engine``, ``model``, ``sampling`` (JSON);
* ``chosen`` / ``rejected`` (str or messages) and ``score_chosen`` / ``score_rejected`` (float).

Exported formats (``write.*`` with ``format:``):

* ``sft``: ``{"messages": [{"role", "content"}, ...]}`` ending with the assistant turn, plus
  metadata columns — TRL SFTTrainer's conversational format;
* ``preference``: ``{"prompt": [messages], "chosen": [assistant message], "rejected": [...],
  "score_chosen": float, "score_rejected": float}`` — TRL DPOTrainer's conversational format;
* ``raw``: every working column as is.

Every exported row carries ``provenance``: ``{recipe, source, generation}``.
"""

from __future__ import annotations

from typing import Literal

import polars as pl

MESSAGE = pl.Struct({"role": pl.Utf8, "content": pl.Utf8})
MESSAGES = pl.List(MESSAGE)
Format = Literal["sft", "preference", "raw"]

_EXTRA_META = ("id", "source", "generation")


def is_messages(dtype: pl.DataType) -> bool:
    return isinstance(dtype, pl.List) and isinstance(dtype.inner, pl.Struct) and \
        {f.name for f in dtype.inner.fields} >= {"role", "content"}


def user_message(text: pl.Expr) -> pl.Expr:
    return pl.concat_list(pl.struct(pl.lit("user").alias("role"), text.cast(pl.Utf8).alias("content")))


def assistant_message(text: pl.Expr) -> pl.Expr:
    return pl.concat_list(pl.struct(pl.lit("assistant").alias("role"), text.cast(pl.Utf8).alias("content")))


def prompt_messages(df: pl.DataFrame) -> pl.Expr:
    """The conversation so far as messages: ``messages`` if present, else ``prompt`` as one user turn."""
    if "messages" in df.columns and is_messages(df.schema["messages"]):
        return pl.col("messages")
    if "prompt" in df.columns:
        if is_messages(df.schema["prompt"]):
            return pl.col("prompt")
        return user_message(pl.col("prompt"))
    raise KeyError("the data has neither a `messages` nor a `prompt` column")


def conversation(df: pl.DataFrame, response: str = "response") -> pl.Expr:
    """The whole conversation as messages: the prompt messages plus the response as the last turn."""
    return pl.concat_list(prompt_messages(df), assistant_message(pl.col(response)))


def render_messages(expr: pl.Expr) -> pl.Expr:
    """Messages rendered as ``role: content`` lines (for dedup, filters, judges)."""
    return expr.list.eval(
        pl.element().struct.field("role") + pl.lit(": ") + pl.element().struct.field("content")
    ).list.join("\n")


def to_format(df: pl.DataFrame, fmt: Format, recipe_name: str) -> pl.DataFrame:
    """Convert working columns to an export format. Raises ``KeyError`` naming missing columns."""
    prov_fields = [pl.lit(recipe_name).alias("recipe")]
    for col in ("source", "generation", "prompt_generation"):
        if col in df.columns:
            prov_fields.append(pl.col(col))
    provenance = pl.struct(prov_fields).alias("provenance")
    if fmt == "raw":
        return df.with_columns(provenance) if "provenance" not in df.columns else df
    if fmt == "sft":
        if "response" in df.columns:
            messages = pl.concat_list(prompt_messages(df), assistant_message(pl.col("response")))
        elif "messages" in df.columns and is_messages(df.schema["messages"]):
            messages = pl.col("messages")
        else:
            raise KeyError("format `sft` needs `messages` (ending with the assistant turn) or "
                           "`prompt`/`messages` plus `response`")
        drop = {"prompt", "response", "messages", "source", "generation", "prompt_generation"}
        meta = [c for c in df.columns if c not in drop]
        return df.select(messages.alias("messages"), *meta, provenance)
    if fmt == "preference":
        missing = [c for c in ("chosen", "rejected") if c not in df.columns]
        if missing:
            raise KeyError(f"format `preference` needs columns {missing}")

        def as_assistant(col: str) -> pl.Expr:
            return pl.col(col) if is_messages(df.schema[col]) else assistant_message(pl.col(col))

        scores = [pl.col(c).cast(pl.Float64) if c in df.columns else pl.lit(None, pl.Float64).alias(c)
                  for c in ("score_chosen", "score_rejected")]
        drop = {"prompt", "messages", "chosen", "rejected", "score_chosen", "score_rejected", "source", "generation",
                "prompt_generation"}
        meta = [c for c in df.columns if c not in drop]
        return df.select(prompt_messages(df).alias("prompt"), as_assistant("chosen").alias("chosen"),
                         as_assistant("rejected").alias("rejected"), *scores, *meta, provenance)
    raise ValueError(f"unknown format {fmt!r}")
