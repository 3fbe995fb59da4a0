"""Every filter on degenerate input: zero rows (all removed upstream) and columns that are
entirely null (as a JSONL file of `null`s reads)."""

from __future__ import annotations

import json

import polars as pl
import pytest

import curate
from curate.testing import run_stage

MESSAGES = pl.List(pl.Struct({"role": pl.String, "content": pl.String}))


@pytest.fixture
def bench(tmp_path):
    path = tmp_path / "bench.jsonl"
    path.write_text(json.dumps({"prompt": "What is the sum of the first one hundred positive integers?"}) + "\n")
    return path


def params(name: str, bench) -> dict:
    return {
        "filter.quality": {},
        "filter.response": {},
        "filter.turns": {},
        "filter.threshold": {"column": "score", "min": 0},
        "filter.language": {},
        "filter.decontaminate": {"benchmarks": [str(bench)]},
        "filter.pii": {"columns": ["prompt", "response", "messages"]},
    }[name]


NAMES = ["filter.quality", "filter.response", "filter.turns", "filter.threshold", "filter.language",
         "filter.decontaminate", "filter.pii"]


@pytest.mark.parametrize("name", NAMES)
def test_zero_rows(name, bench, tmp_path):
    data = tmp_path / "in.parquet"
    pl.DataFrame({"prompt": ["p"], "response": ["r"], "score": [1.0],
                  "messages": [[{"role": "user", "content": "p"}, {"role": "assistant", "content": "r"}]]},
                 schema_overrides={"messages": MESSAGES}).write_parquet(data)
    recipe = curate.Recipe(name="zero", stages=[
        curate.Stage(use="read.parquet", **{"with": {"path": str(data)}}),
        curate.Stage(use="filter.threshold", id="drop-all", **{"with": {"column": "score", "max": -1}}),
        curate.Stage(use=name, id="under-test", **{"with": params(name, bench)}),
    ])
    result = curate.run(recipe, run_dir=tmp_path / "run")
    assert result.stats["under-test"].rows_in == 0
    assert result.stats["under-test"].rows_out == 0


@pytest.mark.parametrize("name, reason", [
    ("filter.quality", "quality: min_words (0 < 50)"),
    ("filter.response", "empty response"),
    ("filter.turns", "no messages"),
    ("filter.threshold", "score is null"),
    ("filter.language", "no text to identify the language of"),
    ("filter.decontaminate", None),
    ("filter.pii", None),
])
def test_all_null_columns(name, reason, bench):
    df = pl.DataFrame({"prompt": [None, None], "response": [None, None], "score": [None, None],
                       "messages": [None, None]})
    assert all(dtype == pl.Null for dtype in df.schema.values())
    out = run_stage(name, df, **params(name, bench), action="flag")
    flag = name.split(".")[1] + "_reason"
    assert out.kept[flag].to_list() == [reason, reason]
