"""What the dataset builders share: grouping responses by prompt, ordering by score, pair rows."""

from __future__ import annotations

import polars as pl

import curate

#: Columns that describe a response rather than its prompt; they never go into a pair's prompt part.
RESPONSE_COLUMNS = ("id", "response", "finish_reason", "response_index", "generation")


def check_group_columns(df: pl.DataFrame, columns: list[str], where: str) -> None:
    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise curate.DataError(f"the data has no column {', '.join(repr(c) for c in missing)}", where=where,
                               hint=f"columns are: {', '.join(df.columns)}")


def numeric_scores(df: pl.DataFrame, column: str, where: str) -> pl.Series:
    dtype = df.schema[column]
    if not (dtype.is_numeric() or dtype == pl.Boolean or dtype == pl.Null):
        raise curate.DataError(f"score column {column!r} holds {dtype}, not numbers", where=where,
                               hint="point the stage at a numeric score column (e.g. `reward`)")
    return df[column].cast(pl.Float64)


def ranked(df: pl.DataFrame, score: str, group: str) -> pl.DataFrame:
    """Rows sorted by group, then score (best first), then a stable tie-break (response_index, id):
    the same data always gives the same choice."""
    keys, descending = [group, "__score"], [False, True]
    for tie in ("response_index", "id"):
        if tie in df.columns:
            keys.append(tie)
            descending.append(False)
    return df.with_columns(pl.col(score).cast(pl.Float64).alias("__score")).sort(
        keys, descending=descending, nulls_last=True, maintain_order=True)


def prompt_part(rows: pl.DataFrame) -> dict:
    """The values a group's rows share (the prompt and its metadata): columns equal in every row,
    less the response's own columns. Scores and verdicts differ per response, so they drop out."""
    first = rows.row(0, named=True)
    shared = {}
    for column in rows.columns:
        if column in RESPONSE_COLUMNS or column.startswith("__") or column in ("chosen", "rejected"):
            continue
        try:
            same = rows.height == 1 or rows[column].n_unique() == 1
        except pl.exceptions.InvalidOperationError:  # unhashable (nested) values: compare as text
            same = rows[column].cast(pl.Utf8, strict=False).n_unique() == 1
        if same:
            shared[column] = first[column]
    return shared


def pair_row(prompt: dict, chosen: dict, rejected: dict, *, score: str | None, k: int, group: str) -> dict:
    """One preference row: the prompt part of the group plus chosen/rejected and their scores."""
    row = dict(prompt)
    row["id"] = f"{prompt[group]}/pair/{k}"
    row["chosen"], row["rejected"] = chosen["response"], rejected["response"]
    row["chosen_id"], row["rejected_id"] = chosen.get("id"), rejected.get("id")
    if score is not None:
        row["score_chosen"], row["score_rejected"] = chosen["__score"], rejected["__score"]
        row["score_gap"] = None if chosen["__score"] is None or rejected["__score"] is None \
            else chosen["__score"] - rejected["__score"]
    return row


PAIR_SCHEMA = {"chosen": pl.Utf8, "rejected": pl.Utf8, "chosen_id": pl.Utf8, "rejected_id": pl.Utf8}
SCORE_SCHEMA = {"score_chosen": pl.Float64, "score_rejected": pl.Float64, "score_gap": pl.Float64}


def frame(rows: list[dict], like: pl.DataFrame, extra: dict | None = None) -> pl.DataFrame:
    """Rows as a frame whose shared columns keep the input's types. No rows still gives the
    columns (the prompt part of the input, the pair columns and ``extra``), so that writers
    downstream write an empty dataset rather than fail."""
    if not rows:
        prompt = {c: t for c, t in like.schema.items() if c not in RESPONSE_COLUMNS and not c.startswith("__")}
        return pl.DataFrame(schema={**prompt, "id": pl.Utf8, **PAIR_SCHEMA, **(extra or {})})
    out = pl.DataFrame(rows, infer_schema_length=None)
    casts = {c: like.schema[c] for c in out.columns if c in like.columns and out.schema[c] != like.schema[c]}
    return out.with_columns(*(pl.col(c).cast(t, strict=False) for c, t in casts.items())) if casts else out


def removed(df: pl.DataFrame, reasons: dict[int, str]) -> pl.DataFrame | None:
    """The input rows at these positions (``__row``), each with its reason."""
    if not reasons:
        return None
    picked = df.filter(pl.col("__row").is_in(list(reasons)))
    return picked.with_columns(pl.col("__row").replace_strict(reasons, return_dtype=pl.Utf8).alias("reason")) \
        .drop([c for c in picked.columns if c.startswith("__")])
