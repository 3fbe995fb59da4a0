"""What both dedups share: connected components, the kept row per component, the result frame
and a folder for spill files. (The text to compare comes from :func:`curate.text_of`.)"""

from __future__ import annotations

import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Iterator

import numpy as np
import polars as pl

if TYPE_CHECKING:  # pragma: no cover
    from curate import StageContext


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
    """A folder for spill files: in the stage folder of the run when there is one (where
    ``prepare_batch`` may have left files for this part too: all are deleted at the end), else
    temporary."""
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
