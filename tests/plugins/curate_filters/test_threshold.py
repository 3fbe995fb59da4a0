"""filter.threshold: bounds are inclusive, nulls and NaN follow `nulls`, non-numbers are refused."""

from __future__ import annotations

import polars as pl
import pytest

import curate
from curate.testing import run_stage


def test_bounds_inclusive_and_nulls_dropped():
    df = pl.DataFrame({"score": [0.5, 0.49, 0.9, 0.91, None, float("nan")]})
    out = run_stage("filter.threshold", df, column="score", min=0.5, max=0.9)
    assert out.kept["score"].to_list() == [0.5, 0.9]
    assert out.removed["reason"].to_list() == ["score 0.49 < min 0.5", "score 0.91 > max 0.9",
                                               "score is null", "score is null"]


def test_nulls_kept_and_integer_scores():
    df = pl.DataFrame({"quality_words": [3, 80, None]})
    out = run_stage("filter.threshold", df, column="quality_words", min=50, nulls="keep")
    assert out.kept["quality_words"].to_list() == [80, None]
    assert out.removed["reason"].to_list() == ["quality_words 3.0 < min 50.0"]


def test_flag_keeps_every_row():
    out = run_stage("filter.threshold", pl.DataFrame({"s": [1.0, 5.0]}), column="s", max=2, action="flag")
    assert out.kept["threshold_reason"].to_list() == [None, "s 5.0 > max 2.0"]


@pytest.mark.parametrize("params, message", [
    ({"column": "s"}, "give `min`, `max` or both"),
    ({"column": "s", "min": 2, "max": 1}, "greater than"),
    ({"column": "missing", "min": 1}, "needs column 'missing'"),
])
def test_invalid_params(params, message):
    with pytest.raises(curate.RecipeError, match=message):
        run_stage("filter.threshold", pl.DataFrame({"s": [1.0]}), **params)


def test_text_scores_are_refused():
    with pytest.raises(curate.DataError, match="column 's' has type String, which is not a number"):
        run_stage("filter.threshold", pl.DataFrame({"s": ["0.5"]}), column="s", min=0)
