"""`filter.decontaminate`: rows whose prompt or response overlaps benchmark prompts (exact match
after normalization, or shared word n-grams), with the overlapping fraction in a column.

The benchmark files are read and checked when the recipe is validated (:meth:`cache_key`), so a
missing or malformed file stops the recipe before anything runs (a relative path needs the
planner to hand over a context first; without one it is read when the stage starts). Their
n-grams become one sorted array of 64-bit hashes that each batch's n-grams are looked up in."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
from pydantic import Field

import curate
from curate import DataError, StageContext, StageOutput
from curate_filters import _common, _textstats

_FORMATS = {".jsonl": "jsonl", ".ndjson": "jsonl", ".parquet": "parquet"}
_DETAILS = "__decontaminate"  # per-column results, from annotate() to drop_reason(); never output


class DecontaminateParams(curate.FilterParams):
    benchmarks: list[str] = Field(min_length=1, description="Benchmark files (`.jsonl` or `.parquet`), relative "
                                                            "to the recipe file's folder.")
    benchmark_column: str = Field("prompt", description="The benchmark files' text column (e.g. `question`).")
    columns: _common.DistinctColumns = Field(["prompt", "response"], min_length=1,
                               description="Texts of each row to check: columns, or `prompt`, `response`, "
                                           "`conversation` derived from the working columns.")
    n: int = Field(13, ge=1, le=64, description="Word n-gram size of the overlap test.")
    max_overlap: float = Field(0.0, ge=0, lt=1, description="A row fails when more than this fraction of a "
                                                            "text's n-grams are benchmark n-grams (0: any shared one).")
    exact: bool = Field(True, description="Also fail texts equal to a benchmark text after normalization (case, "
                                          "punctuation, spacing), however short.")
    overlap_column: str = Field("contamination", description="Column for the largest overlapping fraction over "
                                                             "`columns` (null when no text has n words).")


class _Index:
    """Sorted 64-bit keys, each with the benchmark file it came from (the first one listed), and
    a bitmap over the keys' top bits that rules most lookups out before a binary search."""

    def __init__(self, keys: np.ndarray, source: np.ndarray):
        order = np.argsort(keys, kind="stable")
        keys, source = keys[order], source[order]
        first = np.ones(len(keys), dtype=bool)
        first[1:] = keys[1:] != keys[:-1]
        self.keys, self.source = keys[first], source[first]
        bits = min(max((len(self.keys) * 32).bit_length(), 16), 30)  # ~3% false positives
        self.shift = np.uint64(64 - bits)
        slots = self.keys >> self.shift  # ascending, as the keys are
        self.bitmap = np.zeros((1 << bits) // 8, dtype=np.uint8)
        np.bitwise_or.at(self.bitmap, slots >> np.uint64(3), np.uint8(1) << (slots & np.uint64(7)).astype(np.uint8))

    def __len__(self) -> int:
        return len(self.keys)

    def lookup(self, keys: np.ndarray) -> np.ndarray:
        """The source of each key, -1 for keys not in the index."""
        out = np.full(len(keys), -1, dtype=np.int64)
        if not len(self.keys) or not len(keys):
            return out
        slot = keys >> self.shift
        maybe = np.flatnonzero((self.bitmap[slot >> np.uint64(3)] >> (slot & np.uint64(7)).astype(np.uint8)) & 1)
        wanted = keys[maybe]
        at = np.minimum(np.searchsorted(self.keys, wanted), len(self.keys) - 1)
        hit = self.keys[at] == wanted
        out[maybe[hit]] = self.source[at[hit]]
        return out


class DecontaminateFilter(curate.Filter):
    """Drop (or flag) rows whose prompt or response matches benchmark prompts exactly or shares
    word n-grams with them; writes the overlapping fraction."""

    name = "filter.decontaminate"
    Params = DecontaminateParams

    def __init__(self, params: Any = None, **kwargs: Any):
        super().__init__(params, **kwargs)
        self._texts: list[tuple[str, pl.Series]] | None = None  # (file name, its texts)
        self._names: list[str] = []
        self._ngrams: _Index | None = None  # n-gram hashes -> benchmark
        self._exact: _Index | None = None   # whole-text hashes -> benchmark

    def input_columns(self) -> list[str | tuple[str, ...]]:
        return [need for column in self.params.columns for need in curate.text_columns(column)]

    def output_columns(self) -> list[str]:
        return [self.params.overlap_column, *super().output_columns()]

    # --- the benchmark files: read and checked at validation --------------------------------
    def _resolve(self, path: str) -> Path | None:
        """The file, resolved against the recipe's folder; ``None`` for a relative path while
        there is no context to resolve it with (the planner of curate 0.1 calls
        :meth:`cache_key` before giving one): it is then read when the stage starts."""
        if self.ctx is not None:
            return self.ctx.input_path(path)
        p = Path(path).expanduser()
        return p if p.is_absolute() else None

    def cache_key(self) -> dict[str, Any]:
        """Reads and checks every benchmark file (a :class:`curate.DataError` names the file and
        line) and returns their content hashes, so editing a file reruns the stage."""
        resolved = [self._resolve(p) for p in self.params.benchmarks]
        if any(p is None for p in resolved):
            return {"benchmarks": "read when the stage starts"}
        hashes, texts = {}, []
        for given, path in zip(self.params.benchmarks, resolved):
            digest, found = self._read(path)
            hashes[given] = digest
            texts.append((path.name, found))
        self._texts = texts
        return {"benchmarks": hashes}

    def _read(self, path: Path) -> tuple[str, pl.Series]:
        where = self.where
        column = self.params.benchmark_column
        if not path.is_file():
            raise DataError(f"benchmark file not found: {path}", where=where,
                            hint="paths in `benchmarks` are relative to the recipe file's folder")
        kind = _FORMATS.get(path.suffix.lower())
        if kind is None:
            raise DataError(f"benchmark file {path} is not .jsonl or .parquet", where=where,
                            hint="convert it to JSON Lines (one object per line) or Parquet")
        data = path.read_bytes()
        if kind == "parquet":
            try:
                frame = pl.read_parquet(data)
            except Exception as exc:  # noqa: BLE001 - polars raises several types
                raise DataError(f"not a readable Parquet file: {exc}", where=str(path)) from None
            if column not in frame.columns:
                raise DataError(f"benchmark file has no column {column!r}", where=str(path),
                                hint=f"set `benchmark_column` to one of: {', '.join(frame.columns)}")
            series = frame[column]
            if series.dtype != pl.String:
                raise DataError(f"column {column!r} holds {series.dtype}, not text", where=str(path))
            if series.null_count():
                row = int(series.is_null().arg_max()) + 1
                raise DataError(f"row {row} has no {column!r}", where=f"{path} row {row}")
            texts = series.to_list()
        else:
            texts = []
            for lineno, raw in enumerate(data.splitlines(), 1):
                if not raw.strip():
                    continue
                try:
                    obj = json.loads(raw)
                except ValueError as exc:
                    raise DataError(f"line {lineno} is not valid JSON: {exc}", where=f"{path}:{lineno}") from None
                value = obj.get(column) if isinstance(obj, dict) else None
                if not isinstance(value, str):
                    got = "not an object" if not isinstance(obj, dict) else \
                        f"no {column!r}" if value is None else f"{column!r} is {type(value).__name__}, not text"
                    raise DataError(f"line {lineno}: {got}", where=f"{path}:{lineno}",
                                    hint=f"every line needs a text field {column!r} (see `benchmark_column`)")
                texts.append(value)
        if not texts:
            raise DataError("benchmark file has no rows", where=str(path))
        return hashlib.sha256(data).hexdigest(), pl.Series(texts, dtype=pl.String)

    def setup(self, ctx: StageContext) -> None:
        super().setup(ctx)
        if self._texts is None:
            self._texts = [(path.name, self._read(path)[1])
                           for path in (ctx.input_path(p) for p in self.params.benchmarks)]
        self._names = [name for name, _ in self._texts]
        grams, gram_source, texts, text_source = [], [], [], []
        for i, (_, series) in enumerate(self._texts):
            rows, hashes = _textstats.normalized_words(series)
            keys = _textstats.ngram_hashes(rows, hashes, self.params.n)[1]
            grams.append(keys)
            gram_source.append(np.full(len(keys), i))
            whole = _textstats.text_hashes(rows, hashes, len(series))
            texts.append(whole[whole != 0])
            text_source.append(np.full(int((whole != 0).sum()), i))
        self._ngrams = _Index(np.concatenate(grams), np.concatenate(gram_source))
        self._exact = _Index(np.concatenate(texts), np.concatenate(text_source))
        ctx.count("benchmark_texts", sum(len(t) for _, t in self._texts))
        ctx.count("benchmark_ngrams", len(self._ngrams))

    # --- rows -----------------------------------------------------------------------------
    def _names_of(self, source: np.ndarray) -> pl.Series:
        names = np.array([*self._names, None], dtype=object)
        return pl.Series(names[source].tolist(), dtype=pl.String)  # source -1: the trailing None

    def _check(self, texts: pl.Series) -> pl.DataFrame:
        """Per text: ``overlap`` (fraction of its n-grams in a benchmark; null below n words),
        ``overlap_bench`` (a benchmark it overlaps) and ``exact_bench`` (the benchmark it equals)."""
        n_rows = len(texts)
        rows, hashes = _textstats.normalized_words(texts)
        gram_rows, grams = _textstats.ngram_hashes(rows, hashes, self.params.n)
        source = self._ngrams.lookup(grams)
        found = source >= 0
        total = np.bincount(gram_rows, minlength=n_rows)
        overlap = np.full(n_rows, np.nan)
        np.divide(np.bincount(gram_rows[found], minlength=n_rows), total, out=overlap, where=total > 0)
        first_bench = np.full(n_rows, -1)
        matched_rows = gram_rows[found]  # ascending: the first of each run is the row's first match
        first = np.flatnonzero(np.diff(matched_rows, prepend=-1) != 0)
        first_bench[matched_rows[first]] = source[found][first]
        exact = np.full(n_rows, -1)
        if self.params.exact:
            whole = _textstats.text_hashes(rows, hashes, n_rows)
            exact = np.where(whole != 0, self._exact.lookup(whole), -1)
        return pl.DataFrame({"overlap": pl.Series(overlap).fill_nan(None),
                             "overlap_bench": self._names_of(first_bench),
                             "exact_bench": self._names_of(exact)})

    def annotate(self, df: pl.DataFrame) -> pl.DataFrame:
        checks = {c: self._check(curate.text_of(df, c, where=self.where).fill_null("")) for c in self.params.columns}
        details = pl.DataFrame({f"{c}:{k}": v[k] for c, v in checks.items() for k in v.columns})
        overlap = details.select(pl.max_horizontal(f"{c}:overlap" for c in checks)).to_series()
        return df.with_columns(overlap.alias(self.params.overlap_column), details.to_struct(_DETAILS))

    def drop_reason(self, df: pl.DataFrame) -> pl.Expr:
        p, detail = self.params, pl.col(_DETAILS).struct.field
        rules = []
        for c in p.columns:
            rules.append((detail(f"{c}:exact_bench").is_not_null(),
                          pl.format(f"{c} equals a text of benchmark {{}}", detail(f"{c}:exact_bench"))))
        for c in p.columns:
            overlap = detail(f"{c}:overlap")
            rules.append((overlap > p.max_overlap, pl.format(
                f"{c} shares word {p.n}-grams with benchmark {{}} ({{}} of its {p.n}-grams > {p.max_overlap})",
                detail(f"{c}:overlap_bench"), overlap.round(3))))
        return _common.first_reason(rules)

    def process_batch(self, df: pl.DataFrame) -> pl.DataFrame | StageOutput:
        out = super().process_batch(df)
        if isinstance(out, pl.DataFrame):
            return out.drop(_DETAILS)
        removed = out.removed.drop(_DETAILS) if out.removed is not None else None
        return StageOutput(out.kept.drop(_DETAILS), removed)
