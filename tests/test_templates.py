"""Prompt templates: sandboxed Jinja, replaceable from a recipe, unknown variables caught early."""

import pytest

import curate
from curate.errors import RecipeError

DEFAULT = curate.Template("default", "Question: {{ question }}")


def test_inline_file_and_default(tmp_path):
    (tmp_path / "t.j2").write_text("Q={{ question }}")
    assert curate.load_template(None, DEFAULT, base_dir=tmp_path) is DEFAULT
    assert curate.load_template("file:t.j2", DEFAULT, base_dir=tmp_path).render(question="x") == "Q=x"
    inline = curate.load_template("Say {{ question|upper }}", DEFAULT, base_dir=tmp_path)
    assert inline.render(question="hi") == "Say HI" and inline.sha != DEFAULT.sha


def test_unknown_variables_name_template_and_variable(tmp_path):
    t = curate.load_template("{{ question }} {{ topic }}", DEFAULT, base_dir=tmp_path)
    with pytest.raises(RecipeError, match=r"template 'template \(inline\)' uses variable\(s\) topic") as err:
        t.check({"question"}, where="stage 's'")
    assert str(err.value).startswith("stage 's': ")


def test_missing_values_and_sandbox_escapes_fail():
    from jinja2 import UndefinedError
    from jinja2.exceptions import SecurityError

    with pytest.raises(UndefinedError):
        DEFAULT.render()
    with pytest.raises(SecurityError):
        curate.Template("evil", "{{ ''.__class__.__mro__[1].__subclasses__() }}").render()


def test_missing_file_and_bad_syntax(tmp_path):
    with pytest.raises(RecipeError, match="cannot be read"):
        curate.load_template("file:nope.j2", DEFAULT, base_dir=tmp_path)
    with pytest.raises(RecipeError, match="not valid Jinja"):
        curate.Template("bad", "{{ x ").variables
