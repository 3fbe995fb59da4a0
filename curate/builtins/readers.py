"""Readers for JSONL, Parquet and HF ``datasets`` saved to disk."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import polars as pl
from pydantic import Field

from curate.component import Params, Reader, StageContext
from curate.errors import DataError
from curate.files import write_parquet


class FileReaderParams(Params):
    path: str = Field(description="Input file, relative to the recipe file's folder.")
    limit: int | None = Field(None, ge=1, description="Read at most this many rows.")
    rename: dict[str, str] = Field(default_factory=dict,
                                   description="Rename columns on read, e.g. {instruction: prompt}.")


class FileReader(Reader):
    Params = FileReaderParams

    def _path(self, ctx: StageContext) -> Path:
        path = ctx.input_path(self.params.path)
        if not path.exists():
            raise DataError(f"input file not found: {path}", where=f"stage {ctx.stage_id!r} ({self.name})",
                            hint="paths are relative to the recipe file's folder; check `with.path`")
        return path

    def cache_key(self) -> dict[str, Any]:
        # Editing the input file reruns the stage (and what depends on it).
        return self.file_identity(self.ctx)

    def _finish(self, df: pl.DataFrame, path: Path) -> pl.DataFrame:
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
        self.path = self._path(ctx)

    def file_identity(self, ctx: StageContext) -> dict[str, Any]:
        stat = self._path(ctx).stat()
        return {"size": stat.st_size, "mtime_ns": stat.st_mtime_ns}

    def preview_columns(self, ctx: StageContext) -> list[str] | None:
        cols = self._schema(self._path(ctx))
        renamed = [self.params.rename.get(c, c) for c in cols]
        return renamed + ["source"]

    def _schema(self, path: Path) -> list[str]:
        raise NotImplementedError


class JsonlReader(FileReader):
    """Read a JSON Lines file (one JSON object per line)."""

    name = "read.jsonl"

    #: Lines read at validation to learn the columns: rows need not all have the same keys.
    PREVIEW_LINES = 10_000

    def _schema(self, path: Path) -> list[str]:
        keys: dict[str, None] = {}
        seen = 0
        with path.open("rb") as f:
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

    def read(self) -> pl.DataFrame:
        ctx, path = self.ctx, self.path
        assert ctx is not None
        rows: list[dict[str, Any]] = []
        sources: list[str] = []
        rejects: list[dict[str, Any]] = []
        with path.open("rb") as f:
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
                sources.append(f"{path.name}:{lineno}")
                if self.params.limit and len(rows) >= self.params.limit:
                    break
        if rejects:
            ctx.count("bad_rows", len(rejects))
            write_parquet(pl.DataFrame(rejects), ctx.stage_dir / "rejects.parquet")
            ctx.log.warning("%s: skipped %d corrupt line(s); see %s", path, len(rejects), ctx.stage_dir / "rejects.parquet")
        try:
            df = pl.from_dicts(rows, infer_schema_length=None)
        except Exception as exc:  # noqa: BLE001 - polars raises several types for mixed schemas
            raise DataError(f"rows of {path} do not share one schema: {exc}", where=str(path),
                            hint="make every line's fields the same type") from None
        if "source" not in df.columns:
            df = df.with_columns(pl.Series("source", sources))
        return self._finish(df, path)


class ParquetReader(FileReader):
    """Read a Parquet file."""

    name = "read.parquet"

    def _schema(self, path: Path) -> list[str]:
        try:
            return list(pl.read_parquet_schema(path))
        except Exception as exc:  # noqa: BLE001
            raise DataError(f"not a readable Parquet file: {exc}", where=str(path)) from None

    def read(self) -> pl.DataFrame:
        df = pl.read_parquet(self.path, n_rows=self.params.limit)
        if "source" not in df.columns:
            df = with_source(df, self.path.name)
        return self._finish(df, self.path)


class HFDiskReader(FileReader):
    """Read a Hugging Face ``datasets`` dataset saved with ``save_to_disk``."""

    name = "read.hf"

    def file_identity(self, ctx: StageContext) -> dict[str, Any]:
        path = self._path(ctx)
        files = sorted(p for p in path.rglob("*") if p.is_file())
        return {str(p.relative_to(path)): (p.stat().st_size, p.stat().st_mtime_ns) for p in files}

    def _load(self, path: Path) -> Any:
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

    def _schema(self, path: Path) -> list[str]:
        return list(self._load(path).column_names)

    def read(self) -> pl.DataFrame:
        ds = self._load(self.path)
        df = pl.from_arrow(ds.data.table)
        assert isinstance(df, pl.DataFrame)
        if "source" not in df.columns:
            df = with_source(df, self.path.name)
        return self._finish(df, self.path)


def with_source(df: pl.DataFrame, name: str) -> pl.DataFrame:
    """Add ``source`` = ``<file name>:<1-based row>``."""
    return df.with_row_index("source", offset=1).with_columns(
        pl.format("{}:{}", pl.lit(name), pl.col("source")).alias("source"))
