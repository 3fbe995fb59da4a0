import pytest

from curate import Recipe, Stage, load_recipe
from curate.errors import RecipeError


def test_stage_ids_default_to_use_and_are_unique():
    r = Recipe(name="x", stages=[Stage(use="read.jsonl"), Stage(use="write.jsonl"), Stage(use="write.jsonl"),
                                 Stage(use="dedup.exact", id="d")])
    assert [s.id for s in r.stages] == ["read.jsonl", "write.jsonl", "write.jsonl-2", "d"]


def test_unknown_key_error_names_file_line_and_path(write_recipe):
    path = write_recipe("name: x\nstages:\n  - use: read.jsonl\n    wiht: {path: a}\n")
    with pytest.raises(RecipeError) as err:
        load_recipe(path)
    msg = str(err.value)
    assert f"{path}:4" in msg and "stages[0].wiht" in msg and "unknown key 'wiht'" in msg


def test_wrong_type_error(write_recipe):
    path = write_recipe("name: x\non_bad_rows: sometimes\nstages:\n  - use: read.jsonl\n")
    with pytest.raises(RecipeError) as err:
        load_recipe(path)
    assert f"{path}:2 on_bad_rows" in str(err.value)


def test_missing_stages(write_recipe):
    with pytest.raises(RecipeError, match="missing required key 'stages'"):
        load_recipe(write_recipe("name: x\n"))


def test_not_a_mapping(write_recipe):
    with pytest.raises(RecipeError, match="must be a mapping"):
        load_recipe(write_recipe("- just\n- a list\n"))


def test_missing_file(tmp_path):
    with pytest.raises(RecipeError, match="recipe file not found"):
        load_recipe(tmp_path / "nope.yaml")


def test_duplicate_stage_id(write_recipe):
    path = write_recipe("name: x\nstages:\n  - {use: a, id: s}\n  - {use: b, id: s}\n")
    with pytest.raises(RecipeError, match="duplicate stage id 's'"):
        load_recipe(path)
