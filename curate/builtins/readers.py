"""Readers for JSONL, Parquet and HF ``datasets`` saved to disk."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import polars as pl
from pydantic import Field

from curate import storage
from curate.component import Params, Reader, StageContext
from curate.errors import DataError
from curate.files import write_parquet


class FileReaderParams(Params):
    path: str = Field(description="Input: a file, a folder of files, or a glob pattern (`data/*.jsonl`), relative to "
                                  "the recipe file's folder, or a URI of any fsspec filesystem (`s3://bucket/data/`, "
                                  "`gs://...`; credentials come from the environment). Several files are read in "
                                  "name order and appended (in parallel on a distributed executor).")
    limit: int | None = Field(None, ge=1, description="Read at most this many rows.")
    rename: dict[str, str] = Field(default_factory=dict,
                                   description="Rename columns on read, e.g. {instruction: prompt}.")


class FileReader(Reader):
    Params = FileReaderParams
    #: file name endings read from a folder (other files there are left alone)
    suffixes: tuple[str, ...] = ()

    def _locations(self, ctx: StageContext) -> list[storage.Location]:
        where = f"stage {ctx.stage_id!r} ({self.name})"
        loc = storage.resolve(ctx.recipe_dir, self.params.path)
        if storage.is_pattern(loc) or storage.is_folder(loc):
            found = storage.expand(loc, self.suffixes)
            if not found:
                raise DataError(f"no input files match {loc}" + (f" (ending in {', '.join(self.suffixes)})"
                                                                 if self.suffixes else ""),
                                where=where, hint="check `with.path`; a folder is read for its files")
            return found
        if not storage.exists(loc):
            raise storage.missing_error(loc, where)
        return [loc]

    def cache_key(self) -> dict[str, Any]:
        # Editing an input file (or adding one to the folder or pattern) reruns the stage.
        return self.file_identity(self.ctx)

    def _finish(self, df: pl.DataFrame, path: Any) -> pl.DataFrame:
        if self.params.rename:
            missing = [c for c in self.params.rename if c not in df.columns]
            if missing:
                raise DataError(f"cannot rename missing column(s) {missing} in {path}",
                                hint=f"columns are: {', '.join(df.columns)}")
            df = df.rename(self.params.rename)
        if self.params.limit:
            df = df.head(self.params.limit)
        return df

    def setup(self, ctx: StageContext) -> None:
        super().setup(ctx)
        self.locations = self._locations(ctx)

    def file_identity(self, ctx: StageContext) -> dict[str, Any]:
        found = self._locations(ctx)
        if len(found) == 1 and isinstance(found[0], Path) and not storage.is_pattern(self.params.path):
            return storage.identity(found[0])  # one local file: {size, mtime_ns}, as before
        return {str(loc): storage.identity(loc) for loc in found}

    def preview_columns(self, ctx: StageContext) -> list[str] | None:
        cols = self._schema(self._locations(ctx)[0])
        renamed = [self.params.rename.get(c, c) for c in cols]
        return renamed + ["source"]

    def _schema(self, path: storage.Location) -> list[str]:
        raise NotImplementedError

    # --- splits: one per file ----------------------------------------------------------------
    def splits(self) -> list[Any]:
        # `limit` counts rows across files: read in order, in one place
        if self.params.limit or len(self.locations) < 2:
            return []
        return [(i, loc) for i, loc in enumerate(self.locations)]

    def read_split(self, split: Any) -> pl.DataFrame:
        index, loc = split
        return self._finish(self._read_file(loc, index if len(self.locations) > 1 else None), loc)

    def read(self) -> pl.DataFrame:
        frames: list[pl.DataFrame] = []
        rows = 0
        many = len(self.locations) > 1
        for i, loc in enumerate(self.locations):
            df = self._read_file(loc, i if many else None, self.params.limit and self.params.limit - rows)
            frames.append(df)
            rows += df.height
            if self.params.limit and rows >= self.params.limit:
                break
        df = frames[0] if len(frames) == 1 else pl.concat(frames, how="diagonal_relaxed")
        return self._finish(df, self.params.path)

    def _read_file(self, loc: storage.Location, index: int | None, limit: int | None = None) -> pl.DataFrame:
        """One file's rows (with ``source``), at most ``limit``; ``index``: its number among several."""
        raise NotImplementedError


class JsonlReader(FileReader):
    """Read JSON Lines (one JSON object per line; `.gz`, `.zst`, ... decompressed)."""

    name = "read.jsonl"
    suffixes = (".jsonl", ".json", ".jsonl.gz", ".json.gz", ".jsonl.zst", ".jsonl.bz2", ".jsonl.xz", ".ndjson")

    #: Lines read at validation to learn the columns: rows need not all have the same keys.
    PREVIEW_LINES = 10_000

    def _schema(self, path: storage.Location) -> list[str]:
        keys: dict[str, None] = {}
        seen = 0
        with storage.open_read(path) as f:
            for raw in f:
                if not raw.strip():
                    continue
                try:
                    obj = json.loads(raw)
                except json.JSONDecodeError:
                    continue  # reported with its line number by read(), which honours on_bad_rows
                if isinstance(obj, dict):
                    keys.update(dict.fromkeys(obj))
                    seen += 1
                    if seen >= self.PREVIEW_LINES:
                        break
        if not seen:
            raise DataError(f"input file has no JSON object rows: {path}", where=str(path),
                            hint="the file is empty (or every line is corrupt); add rows to it")
        return list(keys)

    def _read_file(self, path: storage.Location, index: int | None, limit: int | None = None) -> pl.DataFrame:
        ctx = self.ctx
        assert ctx is not None
        rows: list[dict[str, Any]] = []
        sources: list[str] = []
        rejects: list[dict[str, Any]] = []
        file_name = storage.name(path)
        with storage.open_read(path) as f:
            for lineno, raw in enumerate(f, 1):
                if not raw.strip():
                    continue
                try:
                    obj = json.loads(raw)
                    if not isinstance(obj, dict):
                        raise ValueError(f"expected a JSON object, got {type(obj).__name__}")
                except ValueError as exc:
                    if ctx.on_bad_rows != "skip":
                        raise DataError(f"line {lineno} is not a valid JSON object: {exc}", where=f"{path}:{lineno}",
                                        hint="fix the line, or set `on_bad_rows: skip` in the recipe") from None
                    rejects.append({"line": lineno, "error": str(exc), "text": raw.decode("utf-8", "replace")})
                    continue
                rows.append(obj)
                sources.append(f"{file_name}:{lineno}")
                if limit and len(rows) >= limit:
                    break
        if rejects:
            ctx.count("bad_rows", len(rejects))
            # one rejects file per input file: splits may be read in parallel
            out = ctx.stage_dir / ("rejects.parquet" if index is None else f"rejects-{index:05d}.parquet")
            write_parquet(pl.DataFrame(rejects).with_columns(pl.lit(str(path)).alias("file")), out)
            ctx.log.warning("%s: skipped %d corrupt line(s); see %s", path, len(rejects), out)
        try:
            df = pl.from_dicts(rows, infer_schema_length=None)
        except Exception as exc:  # noqa: BLE001 - polars raises several types for mixed schemas
            raise DataError(f"rows of {path} do not share one schema: {exc}", where=str(path),
                            hint="make every line's fields the same type") from None
        if "source" not in df.columns:
            df = df.with_columns(pl.Series("source", sources, dtype=pl.Utf8))
        return df


class ParquetReader(FileReader):
    """Read Parquet."""

    name = "read.parquet"
    suffixes = (".parquet",)

    def _schema(self, path: storage.Location) -> list[str]:
        try:
            if isinstance(path, Path):
                return list(pl.read_parquet_schema(path))
            import pyarrow.parquet as pq

            with storage.open_read(path) as f:
                return list(pq.read_schema(f).names)
        except Exception as exc:  # noqa: BLE001
            raise DataError(f"not a readable Parquet file: {exc}", where=str(path)) from None

    #: One Parquet file with more rows than this (and several row groups) is read in pieces of
    #: whole row groups, in parallel on a distributed executor (a piece of ~250k documents is
    #: ~150 MiB in memory: several per CPU fit, and 1M rows already spread over 4 tasks).
    SPLIT_ROWS = 250_000

    def splits(self) -> list[Any]:
        if self.params.limit or len(self.locations) != 1:
            return super().splits()
        import pyarrow.parquet as pq

        loc = self.locations[0]
        with storage.open_read(loc) as f:
            meta = pq.read_metadata(f)
        if meta.num_row_groups < 2 or meta.num_rows <= self.SPLIT_ROWS:
            return []
        pieces: list[Any] = []
        groups: list[int] = []
        start = rows = 0
        for g in range(meta.num_row_groups):
            groups.append(g)
            rows += meta.row_group(g).num_rows
            if rows >= self.SPLIT_ROWS or g == meta.num_row_groups - 1:
                pieces.append((len(pieces), loc, tuple(groups), start))
                start, groups, rows = start + rows, [], 0
        return pieces

    def read_split(self, split: Any) -> pl.DataFrame:
        if len(split) == 2:  # one file of several
            return super().read_split(split)
        import pyarrow.parquet as pq

        _, loc, groups, start = split  # row groups of one big file, the first being row `start`
        with storage.open_read(loc) as f:
            df = pl.from_arrow(pq.ParquetFile(f).read_row_groups(list(groups)))
        assert isinstance(df, pl.DataFrame)
        if "source" not in df.columns:
            df = with_source(df, storage.name(loc), offset=start)
        return self._finish(df, loc)

    def _read_file(self, path: storage.Location, index: int | None, limit: int | None = None) -> pl.DataFrame:
        if isinstance(path, Path):
            df = pl.read_parquet(path, n_rows=limit)
        else:
            with storage.open_read(path) as f:
                df = pl.read_parquet(f, n_rows=limit)
        if "source" not in df.columns:
            df = with_source(df, storage.name(path))
        return df


class HFDiskReader(FileReader):
    """Read a Hugging Face ``datasets`` dataset saved with ``save_to_disk`` (a folder, local or a URI)."""

    name = "read.hf"

    def _locations(self, ctx: StageContext) -> list[storage.Location]:
        loc = storage.resolve(ctx.recipe_dir, self.params.path)
        if not storage.exists(loc):
            raise storage.missing_error(loc, f"stage {ctx.stage_id!r} ({self.name})")
        return [loc]  # the dataset's folder: one input, never split

    def file_identity(self, ctx: StageContext) -> dict[str, Any]:
        folder = self._locations(ctx)[0]
        files = storage.expand(storage.join(folder, "") if not isinstance(folder, Path) else folder)
        top = str(folder).rstrip("/")
        return {str(f)[len(top):].lstrip("/"): storage.identity(f) for f in files}

    def _load(self, path: storage.Location) -> Any:
        try:
            import datasets
        except ImportError:
            raise DataError("read.hf needs the `datasets` package", hint="pip install 'curate-llm[hf]'") from None
        try:
            ds = datasets.load_from_disk(str(path))
        except Exception as exc:  # noqa: BLE001
            raise DataError(f"not a dataset saved with save_to_disk: {exc}", where=str(path)) from None
        if isinstance(ds, datasets.DatasetDict):
            raise DataError(f"{path} holds a DatasetDict with splits {list(ds)}",
                            hint="point `path` at one split's folder, e.g. .../train")
        return ds

    def _schema(self, path: storage.Location) -> list[str]:
        return list(self._load(path).column_names)

    def _read_file(self, path: storage.Location, index: int | None, limit: int | None = None) -> pl.DataFrame:
        ds = self._load(path)
        df = pl.from_arrow(ds.data.table)
        assert isinstance(df, pl.DataFrame)
        if limit:
            df = df.head(limit)
        if "source" not in df.columns:
            df = with_source(df, storage.name(path))
        return df


def with_source(df: pl.DataFrame, name: str, offset: int = 0) -> pl.DataFrame:
    """Add ``source`` = ``<file name>:<1-based row>`` (rows numbered from ``offset`` + 1)."""
    return df.with_row_index("source", offset=offset + 1).with_columns(
        pl.format("{}:{}", pl.lit(name), pl.col("source")).alias("source"))
