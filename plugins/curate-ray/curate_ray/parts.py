"""Checkpoint parts as units of work: a stage that needs no engine and no shuffle reads a piece of
its input's checkpoint, runs, and writes its own part, all in one task.

Going through Ray Data instead (read tasks -> blocks in the object store -> ``map_batches`` ->
blocks again -> write tasks) copied every row through the object store twice per stage and cost
2-60x the stage's own work here (``filter.regex`` over 1M rows: 0.3 s of regex, 19.5 s of
stage). Reading and writing the Parquet files the stage must checkpoint anyway is the cheapest
data plane there is, and a piece is bounded (row groups of ``batch`` rows), so memory is too.

A piece is a run of consecutive row groups of one part file. Parts are named ``part-NNNNNN``
in row order, so reading the folder sorted by name gives the rows in the local executor's order.
"""

from __future__ import annotations

import os
import uuid
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq


@dataclass(frozen=True)
class PartFormat:
    """How parts are written: rows per row group (what a piece is cut from) and the codec.

    ``none`` by default: on this 2-core machine, 300k documents (200 MB in Arrow) took 0.35 s to
    write and 0.20 s to read uncompressed, against 1.25 / 0.62 s with snappy (Ray Data's
    default), 1.33 / 0.27 s with lz4 and 1.8 / 0.45 s with zstd; the files are 1.6x snappy's
    size and 2.4x zstd's. Checkpoints are scratch that every stage writes and the next reads:
    CPU matters more than bytes unless the shared filesystem is the bottleneck."""

    row_group: int = 16384
    compression: str = "none"


@dataclass(frozen=True)
class Piece:
    """Row groups ``[first, stop)`` of one Parquet part: ``rows`` rows."""

    path: str
    first: int
    stop: int
    rows: int

    def where(self) -> str:
        return f"{self.path} (row groups {self.first}..{self.stop - 1}, {self.rows} rows)"


def part_files(folder: Path) -> list[Path]:
    """A checkpoint's parts in row order (a single-file checkpoint is its own only part)."""
    return sorted(folder.glob("*.parquet")) if folder.is_dir() else [folder]


def pieces(files: list[Path], rows: int) -> list[Piece]:
    """Consecutive row groups of each file, about ``rows`` rows per piece (a row group is never
    cut; a piece never spans two files, so it reads from one place)."""
    out: list[Piece] = []
    for path in files:
        meta = pq.read_metadata(path)
        first, count = 0, 0
        for g in range(meta.num_row_groups):
            count += meta.row_group(g).num_rows
            if count >= rows:
                out.append(Piece(str(path), first, g + 1, count))
                first, count = g + 1, 0
        if first < meta.num_row_groups or meta.num_row_groups == 0:
            out.append(Piece(str(path), first, meta.num_row_groups, count))
    return out


def read_piece(piece: Piece) -> pa.Table:
    f = pq.ParquetFile(piece.path)
    if piece.first == piece.stop:  # a part with no row group: an empty table with its schema
        return f.schema_arrow.empty_table()
    return f.read_row_groups(list(range(piece.first, piece.stop)))


def part_name(index: int) -> str:
    return f"part-{index:06d}.parquet"


def write_part(table: pa.Table, folder: Path, index: int, fmt: PartFormat) -> Path:
    """Part ``index`` of a checkpoint, whole or not at all: a retried task rewrites it."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / part_name(index)
    tmp = folder / f".{path.name}.{uuid.uuid4().hex[:8]}.tmp"
    try:
        pq.write_table(table, tmp, row_group_size=max(1, fmt.row_group), compression=fmt.compression)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path

