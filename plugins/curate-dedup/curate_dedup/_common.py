"""What both dedups share: reading the text to compare, connected components, and the result frame."""

from __future__ import annotations

import logging
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import numpy as np
import polars as pl

from curate.component import StageContext
from curate.errors import DataError
from curate.formats import TEXT_TARGETS, is_messages, select_text

log = logging.getLogger("curate.dedup")

_CASTABLE = (pl.Boolean, pl.Categorical, pl.Enum)


def read_text(df: pl.DataFrame, text: str, stage: str) -> pl.Series:
    """The text to compare per row (nulls kept as null).

    Strings, rendered messages and the derived ``prompt``/``response``/``conversation`` come from
    :func:`curate.formats.select_text`; numbers and booleans are cast to strings; lists of strings
    are joined with newlines. Anything else is a :class:`~curate.DataError`.
    """
    where = f"stage {stage!r}"
    if text not in df.columns and text not in TEXT_TARGETS:
        raise DataError(f"no column {text!r} to deduplicate on", where=where,
                        hint=f"set `text` to one of the columns ({', '.join(df.columns)}) or to "
                             f"{', '.join(TEXT_TARGETS)}")
    if text in df.columns:
        dtype = df.schema[text]
        if isinstance(dtype, pl.List) and dtype.inner in (pl.Utf8, pl.String) and not is_messages(dtype):
            return df[text].list.join("\n").alias(text)
        ok = (dtype in (pl.Utf8, pl.String, pl.Null) or dtype.is_numeric() or isinstance(dtype, _CASTABLE)
              or is_messages(dtype))
        if not ok:
            raise DataError(f"column {text!r} has type {dtype}, which is not text", where=where,
                            hint="point `text` at a string column, a list of strings, or a messages column")
    try:
        series = select_text(df, text)
    except KeyError as exc:
        raise DataError(str(exc.args[0]) if exc.args else str(exc), where=where,
                        hint="`text` must name a column, or prompt/response/conversation where the data "
                             "has `prompt`/`messages` (and `response`)") from None
    except pl.exceptions.PolarsError as exc:
        raise DataError(f"cannot read {text!r} as text: {exc}", where=where,
                        hint="point `text` at a string or messages column") from None
    if series.dtype not in (pl.Utf8, pl.String):
        series = series.cast(pl.Utf8)
    return series


def connected_components(n: int, left: np.ndarray, right: np.ndarray) -> np.ndarray:
    """Component label of each of ``n`` nodes for the undirected edges ``left[i] - right[i]``
    (union-find over the edge list, done by scipy's csgraph in C). Labels are arbitrary ints."""
    if len(left) == 0:
        return np.arange(n, dtype=np.int64)
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components as cc

    graph = coo_matrix((np.ones(len(left), dtype=np.int8), (left, right)), shape=(n, n)).tocsr()
    _, labels = cc(graph, directed=False)
    return labels.astype(np.int64)


def pick_per_component(labels: np.ndarray, priority: np.ndarray | None = None) -> np.ndarray:
    """For each node, the node kept in its component: the highest ``priority`` (ties, and no
    priority, go to the first node in input order)."""
    n = len(labels)
    order = np.arange(n)
    if priority is None:
        first = np.full(labels.max() + 1 if n else 0, n, dtype=np.int64)
        np.minimum.at(first, labels, order)
        return first[labels]
    # Sort by component, then priority descending, then position; the first of each run wins.
    srt = np.lexsort((order, -priority, labels))
    head = np.ones(n, dtype=bool)
    head[1:] = labels[srt][1:] != labels[srt][:-1]
    winner = np.empty(labels.max() + 1, dtype=np.int64)
    winner[labels[srt][head]] = srt[head]
    return winner[labels]


def result_frame(ids: pl.Series, rows: np.ndarray, kept_row: np.ndarray, similarity: np.ndarray,
                 n_rows: int) -> pl.DataFrame:
    """The frame :meth:`curate.Dedup.find_duplicates` returns.

    ``rows`` are the compared rows (others are kept on their own), ``kept_row[i]`` the row kept
    for ``rows[i]`` and ``similarity[i]`` its similarity to that row.
    """
    cluster = np.arange(n_rows, dtype=np.int64)
    cluster[rows] = kept_row
    sim = np.full(n_rows, np.nan)
    sim[rows] = similarity
    frame = pl.DataFrame({"cluster": cluster, "dup": cluster != np.arange(n_rows),
                          "of": ids.cast(pl.Utf8).gather(cluster), "sim": sim})
    return frame.select(
        pl.col("cluster"),
        pl.when(pl.col("dup")).then(pl.col("of")).alias("duplicate_of"),
        pl.when(pl.col("dup")).then(pl.col("sim")).alias("similarity"),
    )


@contextmanager
def scratch_dir(ctx: StageContext | None, name: str) -> Iterator[Path]:
    """A folder for spill files: in the stage folder of the run when there is one, else temporary."""
    if ctx is not None:
        path = Path(ctx.stage_dir) / name
        path.mkdir(parents=True, exist_ok=True)
        try:
            yield path
        finally:
            for f in path.glob("*"):
                f.unlink(missing_ok=True)
            path.rmdir()
    else:
        with tempfile.TemporaryDirectory(prefix=f"curate-{name}-") as tmp:
            yield Path(tmp)
