"""Checkpoint parts as units of work (curate_ray.parts): pieces cut by row groups, read back whole."""

from __future__ import annotations

import pyarrow as pa
import pyarrow.parquet as pq
from curate_ray import parts


def _file(path, rows: int, group: int):
    pq.write_table(pa.table({"n": list(range(rows))}), path, row_group_size=group)
    return path


def test_pieces_group_row_groups_up_to_the_rows_asked(tmp_path):
    a = _file(tmp_path / "part-000000.parquet", 100, 10)   # 10 groups of 10
    b = _file(tmp_path / "part-000001.parquet", 25, 10)    # 10, 10, 5
    found = parts.pieces([a, b], 30)
    assert [(p.path.endswith("0.parquet"), p.first, p.stop, p.rows) for p in found] == [
        (True, 0, 3, 30), (True, 3, 6, 30), (True, 6, 9, 30), (True, 9, 10, 10),  # the rest of a: never spans files
        (False, 0, 3, 25)]
    # read back in order, the pieces are the files' rows exactly
    rows = [v for p in found for v in parts.read_piece(p).column("n").to_pylist()]
    assert rows == list(range(100)) + list(range(25))


def test_a_row_group_is_never_cut(tmp_path):
    big = _file(tmp_path / "big.parquet", 50, 50)
    assert [(p.first, p.stop, p.rows) for p in parts.pieces([big], 7)] == [(0, 1, 50)]


def test_an_empty_part_is_one_piece_with_its_schema(tmp_path):
    path = tmp_path / "empty.parquet"
    pq.write_table(pa.schema([("id", pa.string()), ("x", pa.int64())]).empty_table(), path)
    (piece,) = parts.pieces([path], 10)
    table = parts.read_piece(piece)
    assert table.num_rows == 0 and table.schema.names == ["id", "x"]


def test_write_part_replaces_a_retried_part_whole(tmp_path):
    parts.write_part(pa.table({"n": [1, 2, 3]}), tmp_path, 4, parts.PartFormat(2))
    path = parts.write_part(pa.table({"n": [7]}), tmp_path, 4, parts.PartFormat(2, "zstd"))  # the retried try wins
    assert path.name == "part-000004.parquet"
    assert pq.read_table(path).column("n").to_pylist() == [7]
    assert pq.read_metadata(path).row_group(0).column(0).compression == "ZSTD"  # the codec asked for
    assert [p.name for p in tmp_path.iterdir()] == ["part-000004.parquet"]  # no temporary file left
    meta = pq.read_metadata(parts.write_part(pa.table({"n": list(range(5))}), tmp_path, 0, parts.PartFormat(2)))
    assert meta.num_row_groups == 3 and meta.row_group(0).column(0).compression == "UNCOMPRESSED"  # the default


def test_part_files_sort_in_row_order(tmp_path):
    for i in (10, 2, 1):
        parts.write_part(pa.table({"n": [i]}), tmp_path, i, parts.PartFormat(1))
    assert [p.name for p in parts.part_files(tmp_path)] == [parts.part_name(i) for i in (1, 2, 10)]
    single = _file(tmp_path.parent / "one.parquet", 3, 3)
    assert parts.part_files(single) == [single]

