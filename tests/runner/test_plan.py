"""Validation before anything runs: plugins, params, engines, columns, inputs."""

import pytest

import curate
from curate.errors import DataError, RecipeError


def _recipe(write_recipe, stages, engines=""):
    return write_recipe(f"name: t\n{engines}stages:\n  - use: read.jsonl\n    with: {{path: data.jsonl}}\n{stages}")


@pytest.fixture(autouse=True)
def data(write_jsonl):
    write_jsonl([{"prompt": "p", "response": "r"}])


def test_unknown_plugin_did_you_mean(write_recipe, tmp_path):
    path = _recipe(write_recipe, "  - use: dedup.exakt\n")
    with pytest.raises(RecipeError) as err:
        curate.run(path, run_dir=tmp_path / "r")
    assert f"{path}:5" in str(err.value) and "did you mean 'dedup.exact'" in str(err.value)


def test_invalid_param_names_stage_and_key(write_recipe, tmp_path):
    path = _recipe(write_recipe, "  - use: dedup.exact\n    with: {colum: prompt}\n")
    with pytest.raises(RecipeError) as err:
        curate.run(path, run_dir=tmp_path / "r")
    assert "stages[1].with.colum" in str(err.value) and "dedup.exact has no param 'colum'" in str(err.value)


def test_wrong_param_type(write_recipe, tmp_path):
    path = _recipe(write_recipe, "  - use: filter.length\n    with: {min: many}\n")
    with pytest.raises(RecipeError, match=r"stages\[1\]\.with\.min"):
        curate.run(path, run_dir=tmp_path / "r")


def test_missing_column_is_reported_before_running(write_recipe, tmp_path):
    path = _recipe(write_recipe, "  - use: dedup.exact\n    with: {column: text}\n  - use: write.jsonl\n    with: {path: o.jsonl}\n")
    with pytest.raises(RecipeError) as err:
        curate.run(path, run_dir=tmp_path / "r")
    assert "needs column 'text'" in str(err.value) and "available: id, prompt, response, source" in str(err.value)
    assert not (tmp_path / "r" / "stages").exists()


def test_undeclared_engine(write_recipe, tmp_path):
    path = _recipe(write_recipe, "  - use: generate.responses\n    with: {engines: [judge]}\n")
    with pytest.raises(RecipeError, match="uses engine 'judge', which the recipe does not declare"):
        curate.run(path, run_dir=tmp_path / "r")


def test_unknown_engine_plugin(write_recipe, tmp_path):
    path = _recipe(write_recipe, "", engines="engines:\n  default: {use: opnai, model: m}\n")
    with pytest.raises(RecipeError, match="unknown engine 'opnai'"):
        curate.run(path, run_dir=tmp_path / "r")


def test_missing_input_file(write_recipe, tmp_path):
    path = write_recipe("name: t\nstages:\n  - use: read.jsonl\n    with: {path: missing.jsonl}\n")
    with pytest.raises(DataError, match="input file not found"):
        curate.run(path, run_dir=tmp_path / "r")


def test_first_stage_must_read(write_recipe, tmp_path):
    path = write_recipe("name: t\nstages:\n  - use: dedup.exact\n")
    with pytest.raises(RecipeError, match="first stage must be a source"):
        curate.run(path, run_dir=tmp_path / "r")
