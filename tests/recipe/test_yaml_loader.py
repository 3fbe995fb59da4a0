import pytest

from curate.errors import RecipeError
from curate.recipe.yaml_loader import load_yaml, render_path


def test_lines_are_recorded_per_key_path():
    data, lines = load_yaml("name: x\nstages:\n  - use: a\n    with: {k: 1}\n", "r.yaml")
    assert data == {"name": "x", "stages": [{"use": "a", "with": {"k": 1}}]}
    assert lines[("stages", 0, "with")] == 4
    assert lines[("stages", 0, "with", "k")] == 4
    assert lines[("name",)] == 1


def test_duplicate_key_names_both_lines():
    with pytest.raises(RecipeError) as err:
        load_yaml("name: a\nstages: []\nname: b\n", "r.yaml")
    assert "r.yaml:3" in str(err.value) and "first on line 1" in str(err.value)


@pytest.mark.parametrize("text", ["x: !!python/object:os.system {}\n", "x: !!python/name:os.system\n", "x: !custom 1\n"])
def test_tags_are_rejected(text):
    with pytest.raises(RecipeError, match="tag .* is not allowed"):
        load_yaml(text, "r.yaml")


def test_syntax_error_has_line():
    with pytest.raises(RecipeError) as err:
        load_yaml("name: a\nstages:\n  - use: [unclosed\n", "bad.yaml")
    assert "bad.yaml:" in str(err.value) and "invalid YAML" in str(err.value)


def test_scalars_keep_yaml_types():
    data, _ = load_yaml("a: 1\nb: 1.5\nc: true\nd: null\ne: '1'\n", "r.yaml")
    assert data == {"a": 1, "b": 1.5, "c": True, "d": None, "e": "1"}


def test_render_path():
    assert render_path(("stages", 1, "with", "column")) == "stages[1].with.column"


def test_keys_are_their_text_so_on_is_not_true():
    from curate.recipe.yaml_loader import load_yaml

    data, _ = load_yaml("join: {on: [id], how: inner}\nyes: 1\n", "r.yaml")
    assert data == {"join": {"on": ["id"], "how": "inner"}, "yes": 1}
