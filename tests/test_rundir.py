"""The run directory: its layout is read through RunDir, and --fresh only ever deletes a run directory."""

import json

import pytest

import curate
from curate.cli import main

RECIPE = """name: r
stages:
  - use: read.jsonl
    with: {path: data.jsonl}
  - id: dedup
    use: dedup.exact
  - use: write.jsonl
    with: {path: out.jsonl, format: raw}
"""


@pytest.fixture
def recipe(write_jsonl, write_recipe):
    write_jsonl([{"prompt": "a"}, {"prompt": "A"}, {"prompt": "b"}])
    return write_recipe(RECIPE)


def test_rundir_reads_stages_outputs_removed_rows_and_manifest(recipe, tmp_path):
    curate.run(recipe, run_dir=tmp_path / "run")
    rd = curate.RunDir(tmp_path / "run")
    assert rd.is_run_dir() and rd.manifest()["complete"] is True
    assert [r.id for r in rd.stages()] == ["read.jsonl", "dedup", "write.jsonl"]
    assert rd.output("dedup")["prompt"].to_list() == ["a", "b"]
    assert rd.output("write.jsonl").equals(rd.output("dedup"))  # a writer passes its input on, not copied
    assert not (rd.stage("write.jsonl").dir / "output.parquet").exists()
    assert rd.removed("dedup")["prompt"].to_list() == ["A"]
    assert rd.removal_reasons("dedup") == [("duplicate (dedup.exact)", 1)]
    assert rd.removed("read.jsonl") is None
    with pytest.raises(KeyError, match="no checkpointed stage 'nope'"):
        rd.stage("nope")


def test_fresh_removes_a_run_directory_and_says_so(recipe, tmp_path, caplog):
    curate.run(recipe, run_dir=tmp_path / "run")
    (tmp_path / "run" / "stale.txt").write_text("x")
    curate.run(recipe, run_dir=tmp_path / "run", fresh=True)
    assert not (tmp_path / "run" / "stale.txt").exists()
    assert "--fresh: removed the previous run" in caplog.text and "stale.txt" in caplog.text


def test_fresh_never_deletes_the_current_folder(recipe, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert main(["run", str(recipe), "--run-dir", ".", "--fresh", "--quiet"]) == 2
    assert "refusing to delete" in capsys.readouterr().err
    assert recipe.exists() and (tmp_path / "data.jsonl").exists()


def test_fresh_never_deletes_a_folder_holding_the_recipe(recipe, tmp_path, capsys):
    curate.run(recipe, run_dir=tmp_path / "run")  # a real run dir elsewhere, to be sure
    assert main(["run", str(recipe), "--run-dir", str(tmp_path), "--fresh", "--quiet"]) == 2
    assert "refusing to delete" in capsys.readouterr().err and recipe.exists()


def test_fresh_never_deletes_a_folder_that_is_not_a_run_directory(recipe, tmp_path, capsys):
    other = tmp_path / "mine"
    other.mkdir()
    (other / "notes.txt").write_text("keep me")
    assert main(["run", str(recipe), "--run-dir", str(other), "--fresh", "--quiet"]) == 2
    assert "not a curate run directory" in capsys.readouterr().err
    assert (other / "notes.txt").read_text() == "keep me"


def test_fresh_with_an_invalid_recipe_deletes_nothing(recipe, tmp_path, write_recipe, capsys):
    curate.run(recipe, run_dir=tmp_path / "run")
    bad = write_recipe(RECIPE.replace("dedup.exact", "dedup.exakt"), "bad.yaml")
    assert main(["run", str(bad), "--run-dir", str(tmp_path / "run"), "--fresh", "--quiet"]) == 2
    assert (tmp_path / "run" / "out.jsonl").exists() and curate.RunDir(tmp_path / "run").stages()


def test_fresh_with_the_model_server_down_keeps_the_request_cache(tmp_path, write_jsonl, write_recipe, capsys):
    write_jsonl([{"prompt": "a"}])
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    (run_dir / ".curate-run").write_text("{}")
    (run_dir / "requests.sqlite").write_bytes(b"3000 saved generations")
    recipe = write_recipe("name: g\nengines:\n  default: {use: openai, model: m, base_url: 'http://127.0.0.1:9/v1'}\n"
                          "stages:\n  - use: read.jsonl\n    with: {path: data.jsonl}\n  - use: generate.responses\n")
    assert main(["run", str(recipe), "--run-dir", str(run_dir), "--fresh", "--quiet"]) != 0
    assert (run_dir / "requests.sqlite").read_bytes() == b"3000 saved generations"


def test_a_folder_with_other_files_is_used_but_not_marked(recipe, tmp_path):
    curate.run(recipe, run_dir=tmp_path)  # the recipe's own folder
    assert not curate.RunDir(tmp_path).is_run_dir() and (tmp_path / "out.jsonl").exists()
    marker = json.loads((curate.run(recipe, run_dir=tmp_path / "new").run_dir / ".curate-run").read_text())
    assert marker["recipe"] == "r"
