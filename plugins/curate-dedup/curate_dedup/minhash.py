"""`dedup.minhash`: near-duplicate removal by MinHash + LSH over word or character n-grams."""

from __future__ import annotations

import tempfile
import uuid
from pathlib import Path
from typing import Literal

import numpy as np
import polars as pl
from pydantic import Field, model_validator

import curate
from curate_dedup._common import result_frame, scratch_dir

#: The column ``prepare_batch`` adds: each row's sketch, null where the text is empty after
#: normalization. With ``verify``: its LSH band keys, ``Array(UInt64, bands)``; without: its
#: MinHash signature, ``Array(UInt32, num_perm)``.
SKETCH = "__minhash"
#: With ``verify``, in a run: where ``prepare_batch`` wrote each row's shingle set (the exact
#: Jaccard of candidate pairs reads it), ``Struct(file: String, start: Int64, len: UInt32)``: a
#: file of the stage's ``minhash`` scratch folder, one per batch, deleted when the stage is done.
#: Without it (no run, or the file is gone) the sets of candidate rows are made again from their text.
SETS = "__minhash_sets"
#: Without ``verify``, on a distributed executor: each row's LSH band keys, ``Array(UInt64, bands)``.
BANDS = "__minhash_bands"


class MinHashParams(curate.Params):
    column: str = Field("prompt", description="Text to compare: a column (messages are rendered as `role: content` "
                                            "lines), or `prompt`, `response` or `conversation`.")
    shingle: Literal["word", "char"] = Field("word", description="Shingles are word n-grams or character n-grams.")
    ngram: int = Field(5, ge=1, le=64, description="Shingle size n (words or characters). A text shorter than "
                                                   "n is one shingle. Typical: 5 words, or 5-9 characters.")
    num_perm: int = Field(128, ge=2, le=4096, description="Number of MinHash permutations (signature length).")
    threshold: float = Field(0.8, gt=0, lt=1, description="Jaccard similarity of the shingle sets at or above "
                                                          "which two texts are duplicates. Sets `bands` x `rows` "
                                                          "unless given, and is the cut-off of `verify`.")
    bands: int | None = Field(None, ge=1, description="LSH bands. Default: derived from `threshold` (with `rows`).")
    rows: int | None = Field(None, ge=1, description="Signature values per band. Give with `bands`; "
                                                     "`bands * rows` must not exceed `num_perm`.")
    false_positive_weight: float = Field(0.5, ge=0, description="Weight of false positives when deriving bands x rows "
                                                                "from `threshold`.")
    false_negative_weight: float = Field(0.5, ge=0, description="Weight of false negatives when deriving bands x rows "
                                                                "from `threshold`.")
    verify: bool = Field(True, description="Check every LSH candidate pair by the exact Jaccard of its shingle sets "
                                           "and keep only pairs at or above `threshold`. Off: every pair sharing a "
                                           "band is a duplicate (faster, some false positives).")
    lowercase: bool = Field(True, description="Compare case-insensitively.")
    strip_punctuation: bool = Field(True, description="Treat punctuation and symbols as spaces.")
    seed: int = Field(42, description="Seed of the permutations (results are deterministic for a seed).")

    @model_validator(mode="after")
    def _bands_rows(self) -> "MinHashParams":
        if (self.bands is None) != (self.rows is None):
            raise ValueError("give both `bands` and `rows`, or neither (to derive them from `threshold`)")
        if self.bands is not None and self.bands * self.rows > self.num_perm:
            raise ValueError(f"bands x rows ({self.bands} x {self.rows} = {self.bands * self.rows}) exceeds "
                             f"num_perm ({self.num_perm})")
        if self.false_positive_weight + self.false_negative_weight == 0:
            raise ValueError("false_positive_weight and false_negative_weight cannot both be 0")
        return self


class MinHashDedup(curate.Dedup):
    """Remove near-duplicate texts (MinHash + LSH on n-gram shingles; the first of each cluster is kept)."""

    name = "dedup.minhash"
    Params = MinHashParams

    def input_columns(self) -> list[str | tuple[str, ...]]:
        return ["id", *curate.text_columns(self.params.column)]

    def bands_rows(self) -> tuple[int, int]:
        """The LSH banding used: as given, or the optimum for ``threshold``."""
        from curate_dedup._minhash_core import optimal_params

        p = self.params
        if p.bands is not None:
            return p.bands, p.rows
        return optimal_params(p.threshold, p.num_perm, p.false_positive_weight, p.false_negative_weight)

    def lsh(self):  # -> _minhash_core.MinHashLSH
        """The configured MinHash + LSH pass (made once per stage)."""
        if getattr(self, "_lsh", None) is None:
            from curate_dedup._minhash_core import MinHashLSH

            p = self.params
            bands, rows = self.bands_rows()
            self._lsh = MinHashLSH(kind=p.shingle, ngram=p.ngram, num_perm=p.num_perm, bands=bands, rows=rows,
                                   seed=p.seed, threshold=p.threshold, verify=p.verify, lowercase=p.lowercase,
                                   strip_punctuation=p.strip_punctuation)
        return self._lsh

    def texts(self, df: pl.DataFrame) -> pl.Series:
        """The text compared, per row (numbers and booleans as strings)."""
        return curate.text_of(df, self.params.column, where=self.where, numbers=True)

    def sketch_type(self) -> pl.DataType:
        dtype, width = self.lsh().sketch_dtype()
        return pl.Array(pl.UInt64 if dtype == np.uint64 else pl.UInt32, width)

    def scratch(self) -> Path:
        """The stage's scratch folder for MinHash files (``find_duplicates`` empties it)."""
        return Path(self.ctx.stage_dir) / "minhash"

    def prepare_batch(self, df: pl.DataFrame) -> pl.DataFrame:
        """Row-local: shingles, signature (and LSH band keys) of each row, in ``__minhash``; with
        ``verify``, in a run, also the shingle sets, to a file of the stage (``__minhash_sets``)."""
        lsh = self.lsh()
        sets = None
        if lsh.verify and self.ctx is not None:
            self.scratch().mkdir(parents=True, exist_ok=True)
            sets = self.scratch() / uuid.uuid4().hex[:12]  # (12 characters: stored inline by polars)
        sketches, empty, counts = lsh.sketch(self.texts(df), sets)
        col = _masked(pl.Series(SKETCH, sketches, dtype=self.sketch_type()), empty)
        if counts is None:
            return df.with_columns(col)
        where = pl.DataFrame({"file": pl.Series([sets.name] * df.height, dtype=pl.String),
                              "start": np.cumsum(counts) - counts, "len": counts.astype(np.uint32)})
        return df.with_columns(col, where.to_struct(SETS))

    def find_duplicates(self, df: pl.DataFrame) -> pl.DataFrame:
        if SKETCH not in df.columns:  # called directly, not by the runner
            df = self.prepare_batch(df)
        lsh = self.lsh()
        sketches, empty = sketch_matrix(df[SKETCH], self.sketch_type())
        ids = df["id"] if "id" in df.columns else pl.Series("id", np.arange(df.height)).cast(pl.Utf8)
        # What text_of may read (the column, or what `prompt`/`conversation` derive from).
        source = df.select(c for c in dict.fromkeys([self.params.column, "messages", "prompt", "response"])
                           if c in df.columns)

        def texts_of(rows: np.ndarray) -> pl.Series:
            return self.texts(source.select(pl.all().gather(pl.Series(rows, dtype=pl.Int64))))

        def sets_of(rows: np.ndarray):  # -> _minhash_core._Sets | None
            from curate_dedup._minhash_core import gather_sets

            where = df[SETS].gather(pl.Series(rows, dtype=pl.Int64)).struct.unnest()
            names = where["file"].unique(maintain_order=True).to_list()
            files = [spill / name for name in names]
            if None in names or not all(f.is_file() for f in files):
                return None  # prepared elsewhere, or read already: make the sets again
            which = where["file"].replace_strict(names, list(range(len(names))), return_dtype=pl.Int64)
            return gather_sets(files, which.to_numpy(), where["start"].to_numpy(),
                               where["len"].cast(pl.Int64).to_numpy(), spill / "minhash-sets.bin")

        with scratch_dir(self.ctx, "minhash") as spill:
            found = lsh.find(sketches, empty, texts_of, spill, sets_of if SETS in df.columns else None)
        if self.ctx is not None:
            self.ctx.count("empty_texts", int(found.empty.sum()))
            self.ctx.count("candidate_pairs", found.candidate_pairs)
            self.ctx.count("duplicate_pairs", found.duplicate_edges)
            self.ctx.log.info("%s: %d bands x %d rows, %d candidate pairs, %d duplicate pairs", self.where,
                              lsh.bands, lsh.rows, found.candidate_pairs, found.duplicate_edges)
        n = df.height
        return result_frame(ids, np.arange(n), found.kept, found.similarity, n)

    # --- distributed protocol: LSH band keys bucket the rows --------------------------------------
    def prepare_for_shuffle(self, df: pl.DataFrame) -> pl.DataFrame:
        """The sketch only (no shingle-set files: the sets are made again from the text of the rows
        that share a bucket); without ``verify``, the band keys too (``__minhash_bands``)."""
        lsh = self.lsh()
        sketches, empty, _ = lsh.sketch(self.texts(df), None)
        out = df.with_columns(_masked(pl.Series(SKETCH, sketches, dtype=self.sketch_type()), empty))
        if lsh.verify:
            return out
        from curate_dedup._minhash_core import band_keys

        keys = band_keys(sketches, lsh.bands, lsh.rows)
        return out.with_columns(_masked(pl.Series(BANDS, keys, dtype=pl.Array(pl.UInt64, lsh.bands)), empty))

    def shuffle_keys(self) -> list[str]:
        return [SKETCH if self.lsh().verify else BANDS]

    def bucket_columns(self) -> list[str]:
        text = list(dict.fromkeys([self.params.column, "messages", "prompt", "response"]))
        return text if self.lsh().verify else [*text, SKETCH]

    def find_pairs(self, rows: pl.DataFrame, key: str) -> pl.DataFrame:
        """Per bucket (rows sharing a band key), what ``find_duplicates`` links: without
        ``verify`` a star; with it, every pair at or above the threshold (buckets over
        ``MAX_BUCKET_PAIRS`` rows leader by leader, in input order)."""
        from curate_dedup._minhash_core import MAX_BUCKET_PAIRS, _segments

        lsh = self.lsh()
        rows = rows.sort(key, self.ORDER)
        keys, order = rows[key].to_numpy(), rows[self.ORDER].to_numpy().astype(np.int64)
        n = len(keys)
        head = np.r_[True, keys[1:] != keys[:-1]] if n else np.zeros(0, bool)
        gstart = np.flatnonzero(head)
        gsize = np.diff(np.r_[gstart, n])
        gid = np.cumsum(head) - 1
        size = gsize[gid] if n else np.zeros(0, np.int64)
        if not lsh.verify:
            member = ~head & (size > 1)
            return _edges(order[gstart[gid[member]]], order[member])
        pos = np.flatnonzero((size > 1) & (size <= MAX_BUCKET_PAIRS))
        after = gstart[gid[pos]] + size[pos] - pos - 1
        left, right = order[np.repeat(pos, after)], order[_segments(pos + 1, after)]
        left, right = _unique_pairs(left, right)
        big = [order[gstart[g]: gstart[g] + gsize[g]] for g in np.flatnonzero(gsize > MAX_BUCKET_PAIRS)]
        if not len(left) and not big:
            return _edges(left, right)
        need = np.unique(np.concatenate([left, right, *big]))
        texts = rows.unique(self.ORDER).sort(self.ORDER).filter(pl.col(self.ORDER).is_in(need))
        with tempfile.TemporaryDirectory(prefix="curate-minhash-") as spill:
            store = lsh.shingle_sets(self.texts(texts), Path(spill))

            def sim(lft: np.ndarray, rgt: np.ndarray) -> np.ndarray:
                return lsh.jaccard(store, np.searchsorted(need, lft), np.searchsorted(need, rgt))

            ok = sim(left, right) >= lsh.threshold if len(left) else np.zeros(0, bool)
            lefts, rights = [left[ok]], [right[ok]]
            for members in big:
                el, er, _ = lsh._leader_edges(members, sim)
                lefts.append(el)
                rights.append(er)
            store.release()
        return _edges(np.concatenate(lefts), np.concatenate(rights))

    def pair_similarity(self, rows: pl.DataFrame, kept: pl.DataFrame) -> pl.Series:
        """The exact Jaccard of the two rows' shingle sets (``verify``), else the MinHash estimate."""
        lsh = self.lsh()
        n = rows.height
        if not lsh.verify:
            a, _ = sketch_matrix(rows[SKETCH], self.sketch_type())
            b, _ = sketch_matrix(kept[SKETCH], self.sketch_type())
            return pl.Series("similarity", (a == b).mean(axis=1), dtype=pl.Float64)
        cols = [c for c in self.bucket_columns() if c in rows.columns]
        both = pl.concat([rows.select(cols), kept.select(cols)], how="diagonal_relaxed")
        with tempfile.TemporaryDirectory(prefix="curate-minhash-") as spill:
            store = lsh.shingle_sets(self.texts(both), Path(spill))
            out = lsh.jaccard(store, np.arange(n), np.arange(n, 2 * n))
            store.release()
        return pl.Series("similarity", out, dtype=pl.Float64)


def _unique_pairs(left: np.ndarray, right: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Each pair once: near-duplicates share the buckets of most bands, and the exact Jaccard of
    a pair is the costly part (at 1M documents, 9 bands, this verified ~3x fewer pairs)."""
    if not len(left):
        return left, right
    if max(int(left.max()), int(right.max())) < 2**31:  # one packed sort key
        packed = np.unique((left.astype(np.int64) << 32) | right.astype(np.int64))
        return packed >> 32, packed & 0xFFFFFFFF
    both = np.unique(np.stack([left, right], axis=1), axis=0)
    return both[:, 0], both[:, 1]


def _masked(col: pl.Series, empty: np.ndarray) -> pl.Series:
    """``col`` with nulls where the text was empty."""
    if not empty.any():
        return col
    return pl.select(pl.when(pl.lit(pl.Series(~empty))).then(pl.lit(col)).alias(col.name)).to_series()


def _edges(a: np.ndarray, b: np.ndarray) -> pl.DataFrame:
    return pl.DataFrame({"a": np.asarray(a, dtype=np.int64), "b": np.asarray(b, dtype=np.int64)})


def sketch_matrix(col: pl.Series, dtype: pl.DataType) -> tuple[np.ndarray, np.ndarray]:
    """``((n, width) array, empty)`` from a ``__minhash`` column (zero-copy where it can)."""
    if col.dtype != dtype:
        raise ValueError(f"column {SKETCH!r} has type {col.dtype}, expected {dtype}: it was made by a "
                         "dedup.minhash stage with other params")
    width = dtype.size
    empty = col.is_null().to_numpy()
    arr = col.rechunk().to_arrow()
    values = arr.values.to_numpy(zero_copy_only=False)[arr.offset * width:(arr.offset + len(arr)) * width]
    return values.reshape(len(arr), width), empty
