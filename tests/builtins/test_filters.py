import polars as pl
import pytest

from curate.errors import RecipeError
from curate.testing import run_stage

DF = pl.DataFrame({"id": ["1", "2", "3"], "response": ["one two three", "", "I'm sorry, but I cannot"]})


def test_length_in_words_with_reason():
    out = run_stage("filter.length", DF, unit="words", min=2, max=3)
    assert out.kept["id"].to_list() == ["1"]
    reasons = dict(zip(out.removed["id"], out.removed["reason"]))
    assert reasons == {"2": "response too short: 0 words < 2", "3": "response too long: 5 words > 3"}


def test_length_needs_a_bound():
    with pytest.raises(RecipeError, match="give `min`, `max` or both"):
        run_stage("filter.length", DF)


def test_regex_drop_and_keep_modes():
    out = run_stage("filter.regex", DF, pattern="^i'm sorry", ignore_case=True)
    assert out.kept["id"].to_list() == ["1", "2"]
    out = run_stage("filter.regex", DF, pattern="three", keep="matching")
    assert out.kept["id"].to_list() == ["1"]


def test_flag_mode_keeps_rows_and_writes_reason():
    out = run_stage("filter.length", DF, min=1, action="flag")
    assert out.kept.height == 3 and out.removed is None
    assert out.kept["length_reason"].to_list()[1].startswith("response too short")
    assert out.kept["length_reason"].to_list()[0] is None


def test_invalid_regex_fails_validation():
    with pytest.raises(RecipeError, match="invalid regular expression"):
        run_stage("filter.regex", DF, pattern="(unclosed")
