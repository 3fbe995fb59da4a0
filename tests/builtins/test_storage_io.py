"""Readers and writers on globs, folders, compressed files and s3:// URIs; writing in parts."""

import gzip
import json
import textwrap

import polars as pl
import pytest

import curate
from curate.errors import DataError
from curate.runner.executor import LocalExecutor


def _rows(n, start=0):
    return "".join(json.dumps({"prompt": f"p{i}", "response": f"r{i}"}) + "\n" for i in range(start, start + n))


def _recipe(tmp_path, read, write_path, writer="write.jsonl", fmt="sft", card="true"):
    path = tmp_path / "r.yaml"
    path.write_text(textwrap.dedent(f"""\
        name: io
        stages:
          - use: {read[0]}
            with: {{path: "{read[1]}"}}
          - use: {writer}
            with: {{path: "{write_path}", format: {fmt}{", card: " + card if writer != "write.hf" else ""}}}
        """))
    return path


def test_glob_and_folder_inputs_read_every_file_in_order(tmp_path):
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "b.jsonl").write_text(_rows(2, 10))
    (tmp_path / "in" / "a.jsonl").write_text(_rows(3))
    (tmp_path / "in" / "c.jsonl.gz").write_bytes(gzip.compress(_rows(1, 20).encode()))
    (tmp_path / "in" / "notes.txt").write_text("not data")
    for read in ["in/*.jsonl*", "in", "in/"]:
        result = curate.run(_recipe(tmp_path, ("read.jsonl", read), "out.jsonl"), run_dir=tmp_path / f"run{len(read)}",
                            report=False)
        rows = [json.loads(line) for line in (tmp_path / f"run{len(read)}" / "out.jsonl").read_text().splitlines()]
        assert [r["messages"][0]["content"] for r in rows] == ["p0", "p1", "p2", "p10", "p11", "p20"]
        assert [r["provenance"]["source"] for r in rows][2:4] == ["a.jsonl:3", "b.jsonl:1"]
        assert result.stats["read.jsonl"].rows_out == 6


def test_adding_a_file_to_the_folder_reruns_the_reader(tmp_path):
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "a.jsonl").write_text(_rows(2))
    recipe = _recipe(tmp_path, ("read.jsonl", "in"), "out.jsonl")
    curate.run(recipe, run_dir=tmp_path / "run", report=False)
    again = curate.run(recipe, run_dir=tmp_path / "run", report=False)
    assert again.stats["read.jsonl"].cached
    (tmp_path / "in" / "b.jsonl").write_text(_rows(1, 5))
    third = curate.run(recipe, run_dir=tmp_path / "run", report=False)
    assert not third.stats["read.jsonl"].cached and third.stats["read.jsonl"].rows_out == 3


def test_a_pattern_matching_nothing_says_so(tmp_path):
    with pytest.raises(curate.UserInputError, match=r"no input files match .*nothing/\*\.jsonl"):
        curate.run(_recipe(tmp_path, ("read.jsonl", "nothing/*.jsonl"), "o.jsonl"), run_dir=tmp_path / "run",
                   report=False)


@pytest.mark.parametrize("writer,suffix", [("write.jsonl", ".jsonl"), ("write.parquet", ".parquet")])
def test_folder_output_is_written_as_parts(tmp_path, writer, suffix):
    (tmp_path / "in.jsonl").write_text(_rows(4))
    curate.run(_recipe(tmp_path, ("read.jsonl", "in.jsonl"), "sft/", writer=writer), run_dir=tmp_path / "run",
               report=False)
    folder = tmp_path / "run" / "sft"
    assert sorted(p.name for p in folder.iterdir()) == ["README.md", f"part-00000{suffix}"]
    # ... and a reader reads the folder back
    back = curate.run(_recipe(tmp_path, ("read.jsonl" if suffix == ".jsonl" else "read.parquet", str(folder)),
                              "again.jsonl", fmt="raw"), run_dir=tmp_path / "run2", report=False)
    assert back.stats[f"read.{suffix[1:]}"].rows_out == 4


@pytest.mark.parametrize("name,writer", [("o.jsonl", "write.jsonl"), ("o.parquet", "write.parquet"),
                                         ("o-hf", "write.hf"), ("parts/", "write.jsonl")])
def test_parts_then_commit_equal_one_write(tmp_path, name, writer):
    """What a distributed executor does (write_part per block, then commit) gives the same output
    as write() of all rows: the same rows, in order, and a card counting all of them."""
    from curate.component import StageContext, StageInfo

    rows = pl.DataFrame({"id": [str(i) for i in range(7)], "prompt": [f"p{i}" for i in range(7)],
                         "score": [None, None, 0.5, 1.0, None, 2.0, 3.0]})
    info = StageInfo("w", "io", tmp_path, tmp_path / "run", tmp_path / "run" / "stages" / "w")
    (tmp_path / "run").mkdir()
    comp = curate.plugin_registry().get(writer)({"path": name})
    comp.setup(StageContext(info))
    assert type(comp).writes_parts()
    blocks = [rows.slice(0, 2), rows.slice(2, 0), rows.slice(2, 5)]  # an empty block, and all-null scores
    parts = [comp.write_part(b, i) for i, b in enumerate(blocks)]
    comp.write_part(blocks[2], 2)  # a retried worker writes its part again
    comp.commit(parts)
    out = tmp_path / "run" / name
    if writer == "write.hf":
        import datasets

        got = pl.from_arrow(datasets.load_from_disk(str(out)).data.table)
        card = (out / "README.md").read_text()
    elif name.endswith("/"):
        got = pl.concat([pl.read_ndjson(p) for p in sorted(out.glob("part-*.jsonl")) if p.stat().st_size],
                        how="diagonal_relaxed")
        card = (out / "README.md").read_text()
    else:
        got = pl.read_ndjson(out) if writer == "write.jsonl" else pl.read_parquet(out)
        card = (tmp_path / "run" / f"{name}.README.md").read_text()
    assert got["id"].to_list() == rows["id"].to_list()
    assert got["score"].to_list() == rows["score"].to_list()
    assert "7 rows" in card
    leftovers = [p.name for p in (tmp_path / "run").iterdir() if p.name.startswith(".")]
    assert leftovers == []  # the parts of a single-file output are gone


def test_a_shorter_rewrite_of_a_parts_folder_drops_the_stale_parts(tmp_path):
    from curate.component import StageContext, StageInfo

    info = StageInfo("w", "io", tmp_path, tmp_path / "run", tmp_path / "run" / "stages" / "w")
    comp = curate.plugin_registry().get("write.jsonl")({"path": "out/", "card": False})
    comp.setup(StageContext(info))
    df = pl.DataFrame({"id": ["a"]})
    comp.commit([comp.write_part(df, i) for i in range(3)])
    comp.commit([comp.write_part(df, i) for i in range(2)])
    assert sorted(p.name for p in (tmp_path / "run" / "out").iterdir()) == ["part-00000.jsonl", "part-00001.jsonl"]


def test_s3_in_and_out_with_resume(tmp_path, object_store):
    object_store.put("in/a.jsonl", _rows(3))
    object_store.put("in/b.jsonl", _rows(2, 3))
    path = tmp_path / "r.yaml"
    path.write_text(textwrap.dedent(f"""\
        name: s3
        stages:
          - use: read.jsonl
            with: {{path: "{object_store.url('in/')}"}}
          - use: write.jsonl
            with: {{path: "{object_store.url('out/sft.jsonl')}", format: sft}}
          - use: write.parquet
            id: parts
            with: {{path: "{object_store.url('out/parts/')}", format: sft}}
          - use: write.hf
            id: hf
            with: {{path: "{object_store.url('out/hf')}", format: sft}}
        """))
    first = curate.run(path, run_dir=tmp_path / "run", report=False)
    lines = object_store.get("out/sft.jsonl").decode().splitlines()
    assert [json.loads(x)["messages"][0]["content"] for x in lines] == ["p0", "p1", "p2", "p3", "p4"]
    assert "5 rows" in object_store.get("out/sft.jsonl.README.md").decode()
    assert object_store.keys("out/parts/") == ["out/parts/README.md", "out/parts/part-00000.parquet"]
    assert "out/hf/README.md" in object_store.keys("out/hf/") and "out/hf/state.json" in object_store.keys("out/hf/")
    assert first.stats["read.jsonl"].rows_out == 5
    # no credential reaches the run's records
    assert "curate-test" not in (tmp_path / "run" / "run.json").read_text().replace("s3://curate-test", "")
    again = curate.run(path, run_dir=tmp_path / "run", report=False)
    assert all(st.cached for st in again.stats.values())
    # a deleted output is written again; an edited input object reruns the reader
    object_store.client().delete_object(Bucket=object_store.bucket, Key="out/sft.jsonl")
    object_store.put("in/b.jsonl", _rows(1, 9))
    third = curate.run(path, run_dir=tmp_path / "run", report=False)
    assert not third.stats["read.jsonl"].cached and third.stats["read.jsonl"].rows_out == 4
    assert len(object_store.get("out/sft.jsonl").decode().splitlines()) == 4


def test_a_missing_object_is_a_clear_error(tmp_path, object_store):
    path = _recipe(tmp_path, ("read.jsonl", object_store.url("nope.jsonl")), "o.jsonl")
    with pytest.raises(DataError, match="input file not found: s3://curate-test/nope.jsonl"):
        curate.run(path, run_dir=tmp_path / "run", report=False)


def test_reader_splits_equal_read(tmp_path):
    """A distributed executor reads splits apart and numbers their rows by position; the result
    must be what read() gives (rows, sources and ids)."""
    from curate.component import StageContext, StageInfo

    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "a.jsonl").write_text(_rows(2))
    (tmp_path / "in" / "b.jsonl").write_text(json.dumps({"prompt": "x", "id": "mine", "extra": 1}) + "\n")
    (tmp_path / "in" / "c.jsonl").write_text(_rows(2, 5))
    info = StageInfo("read", "io", tmp_path, tmp_path / "run", tmp_path / "run" / "stages" / "read")
    comp = curate.plugin_registry().get("read.jsonl")({"path": "in"})
    comp.setup(StageContext(info))
    whole = curate.with_ids(comp.read(), "read")
    splits = comp.splits()
    assert len(splits) == 3
    frames, offset = [], 0
    for split in splits:
        df = comp.read_split(split)
        frames.append((df, offset))
        offset += df.height
    parts = pl.concat([curate.with_ids(df, "read", offset=off) for df, off in frames], how="diagonal_relaxed")
    assert parts.select(whole.columns).to_dicts() == whole.to_dicts()
    assert whole["id"].to_list() == ["read:0", "read:1", "mine", "read:3", "read:4"]
    limited = curate.plugin_registry().get("read.jsonl")({"path": "in", "limit": 3})
    limited.setup(StageContext(info))
    assert limited.splits() == [] and limited.read().height == 3


def test_a_big_parquet_file_splits_by_row_groups(tmp_path, monkeypatch):
    """One Parquet file of several row groups is read in pieces of whole row groups; the pieces
    appended equal read() (rows, types, sources)."""
    import pyarrow.parquet as pq

    from curate.builtins.readers import ParquetReader
    from curate.component import StageContext, StageInfo

    df = pl.DataFrame({"prompt": [f"p{i}" for i in range(10)], "n": list(range(10)),
                       "tags": [[f"t{i}"] * (i % 3) for i in range(10)]})
    pq.write_table(df.to_arrow(), tmp_path / "big.parquet", row_group_size=3)  # groups of 3, 3, 3, 1
    monkeypatch.setattr(ParquetReader, "SPLIT_ROWS", 4)
    info = StageInfo("read", "io", tmp_path, tmp_path / "run", tmp_path / "run" / "stages" / "read")
    comp = curate.plugin_registry().get("read.parquet")({"path": "big.parquet"})
    comp.setup(StageContext(info))
    splits = comp.splits()
    assert [s[2] for s in splits] == [(0, 1), (2, 3)] and [s[3] for s in splits] == [0, 6]
    pieces = pl.concat([comp.read_split(s) for s in splits])
    assert pieces.equals(comp.read())
    assert pieces["source"].to_list()[5:7] == ["big.parquet:6", "big.parquet:7"]
