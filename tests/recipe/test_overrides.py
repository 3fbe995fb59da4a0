import pytest

from curate import load_recipe
from curate.errors import RecipeError

RECIPE = """name: x
engines:
  default: {use: openai, model: a, base_url: http://127.0.0.1:1/v1}
stages:
  - use: read.jsonl
    with: {path: d.jsonl}
  - id: dedup
    use: dedup.exact
    with: {column: prompt}
  - use: write.jsonl
    with: {path: o.jsonl}
"""


def test_engine_and_stage_by_id_and_index(write_recipe):
    r = load_recipe(write_recipe(RECIPE), ["engines.default.model=b", "stages.dedup.with.column=text",
                                           "stages.2.with.path=p.jsonl", "stages.write.jsonl.with.format=sft"])
    assert r.engines["default"].engine_params()["model"] == "b"
    assert r.stages[1].with_["column"] == "text"
    assert r.stages[2].with_ == {"path": "p.jsonl", "format": "sft"}


def test_values_are_parsed_as_yaml(write_recipe):
    r = load_recipe(write_recipe(RECIPE), {"stages.dedup.with.lowercase": False})
    assert r.stages[1].with_["lowercase"] is False
    r = load_recipe(write_recipe(RECIPE), ["stages.dedup.with.lowercase=false"])
    assert r.stages[1].with_["lowercase"] is False


def test_unknown_stage_lists_known(write_recipe):
    with pytest.raises(RecipeError) as err:
        load_recipe(write_recipe(RECIPE), ["stages.dedupe.with.column=x"])
    assert "no stage 'dedupe'" in str(err.value) and "dedup" in str(err.value)


def test_unknown_key(write_recipe):
    with pytest.raises(RecipeError, match="no key 'engines.judge'"):
        load_recipe(write_recipe(RECIPE), ["engines.judge.model=x"])


def test_not_path_value(write_recipe):
    with pytest.raises(RecipeError, match="not PATH=VALUE"):
        load_recipe(write_recipe(RECIPE), ["engines.default.model"])


def test_errors_in_set_values_name_the_override_not_a_line(write_recipe):
    path = write_recipe(RECIPE)
    with pytest.raises(RecipeError) as err:
        load_recipe(path, ["on_bad_rows=sometimes"])
    assert "--set on_bad_rows=sometimes" in str(err.value) and "recipe.yaml:" not in str(err.value)


def test_param_errors_in_set_values_name_the_override(write_recipe):
    import curate

    path = write_recipe(RECIPE)
    with pytest.raises(RecipeError) as err:
        curate.run(path, overrides=["stages.dedup.with.lowercase=[1, 2]"], dry_run=True)
    assert str(err.value).startswith("--set stages.dedup.with.lowercase=[1, 2] (stages[1].with.lowercase)")


def test_the_bracket_spelling_errors_print_is_accepted(write_recipe):
    r = load_recipe(write_recipe(RECIPE), ["stages[1].with.column=text", "stages[-1].with.path=x.jsonl"])
    assert r.stages[1].with_["column"] == "text" and r.stages[2].with_["path"] == "x.jsonl"
