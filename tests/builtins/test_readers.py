import polars as pl
import pytest

import curate
from curate.errors import DataError

RECIPE = "name: t\n{extra}stages:\n  - use: {reader}\n    with: {{path: {path}}}\n  - use: write.parquet\n    with: {{path: out.parquet}}\n"


def _run(write_recipe, tmp_path, path, reader="read.jsonl", extra=""):
    recipe = write_recipe(RECIPE.format(reader=reader, path=path, extra=extra))
    return curate.run(recipe, run_dir=tmp_path / "run")


def test_jsonl_rows_get_source_and_id(write_jsonl, write_recipe, tmp_path):
    write_jsonl([{"prompt": "a"}, "", {"prompt": "b"}])
    df = _run(write_recipe, tmp_path, "data.jsonl").outputs["write.parquet"]
    assert df["prompt"].to_list() == ["a", "b"]
    assert df["source"].to_list() == ["data.jsonl:1", "data.jsonl:3"]  # blank line 2 skipped, lines kept
    assert df["id"].n_unique() == 2


def test_corrupt_line_names_file_and_line(write_jsonl, write_recipe, tmp_path):
    path = write_jsonl([{"prompt": "a"}, '{"prompt": "b"', {"prompt": "c"}])
    with pytest.raises(DataError) as err:
        _run(write_recipe, tmp_path, "data.jsonl")
    assert f"{path}:2" in str(err.value) and "on_bad_rows: skip" in str(err.value)


def test_corrupt_lines_skipped_when_asked_and_written_to_rejects(write_jsonl, write_recipe, tmp_path):
    write_jsonl([{"prompt": "a"}, '{"prompt": "b"', "[1, 2]", {"prompt": "c"}])
    result = _run(write_recipe, tmp_path, "data.jsonl", extra="on_bad_rows: skip\n")
    assert result.outputs["write.parquet"]["prompt"].to_list() == ["a", "c"]
    assert result.stats["read.jsonl"].counters == {"bad_rows": 2}
    rejects = pl.read_parquet(tmp_path / "run" / "stages" / "00-read.jsonl" / "rejects.parquet")
    assert rejects["line"].to_list() == [2, 3]


def test_empty_input(write_jsonl, write_recipe, tmp_path):
    write_jsonl([])
    with pytest.raises(DataError, match="no JSON object rows"):
        _run(write_recipe, tmp_path, "data.jsonl")


def test_empty_parquet(write_recipe, tmp_path):
    pl.DataFrame({"prompt": []}, schema={"prompt": pl.Utf8}).write_parquet(tmp_path / "e.parquet")
    with pytest.raises(DataError, match="read no rows"):
        _run(write_recipe, tmp_path, "e.parquet", reader="read.parquet")


def test_parquet_and_rename(write_recipe, tmp_path):
    pl.DataFrame({"instruction": ["x", "y"]}).write_parquet(tmp_path / "d.parquet")
    recipe = write_recipe("name: t\nstages:\n  - use: read.parquet\n    with: {path: d.parquet, rename: {instruction: prompt}, limit: 1}\n"
                          "  - use: dedup.exact\n  - use: write.parquet\n    with: {path: o.parquet}\n")
    df = curate.run(recipe, run_dir=tmp_path / "run").outputs["write.parquet"]
    assert df["prompt"].to_list() == ["x"] and df["source"].to_list() == ["d.parquet:1"]


def test_hf_disk_roundtrip(write_recipe, tmp_path):
    datasets = pytest.importorskip("datasets")
    datasets.Dataset.from_dict({"prompt": ["p1", "p2"], "response": ["r1", "r2"]}).save_to_disk(str(tmp_path / "ds"))
    df = _run(write_recipe, tmp_path, "ds", reader="read.hf").outputs["write.parquet"]
    assert df["prompt"].to_list() == ["p1", "p2"]


def test_hf_datasetdict_is_explained(write_recipe, tmp_path):
    datasets = pytest.importorskip("datasets")
    ds = datasets.Dataset.from_dict({"prompt": ["p"]})
    datasets.DatasetDict({"train": ds}).save_to_disk(str(tmp_path / "dd"))
    with pytest.raises(DataError, match="split"):
        _run(write_recipe, tmp_path, "dd", reader="read.hf")
