"""What every filter does with the type of the column it reads, through curate.text_of: strings,
messages and lists of strings are text (a list is joined with newlines, as for every stage that
reads text); lists of numbers, structs and numbers are not, and stop the run with the same
curate.DataError naming the stage, which the CLI turns into exit code 2."""

from __future__ import annotations

import json

import polars as pl
import pytest

import curate
from curate.cli import main
from curate.testing import run_stage

TEXT = "The committee met on Tuesday to review the budget for the coming year and the schools."
BAD = {
    "list of ints": pl.Series("response", [[1, 2], [3]], dtype=pl.List(pl.Int64)),
    "struct": pl.Series("response", [{"k": 1}, {"k": 2}]),
    "number": pl.Series("response", [1, 2]),
}


@pytest.fixture
def bench(tmp_path):
    path = tmp_path / "bench.jsonl"
    path.write_text(json.dumps({"prompt": "What is the sum of the first one hundred positive integers?"}) + "\n")
    return path


def params(name: str, bench) -> dict:
    """Each filter pointed at `response`."""
    return {
        "filter.quality": {"column": "response"},
        "filter.language": {"column": "response"},
        "filter.response": {"column": "response"},
        "filter.decontaminate": {"benchmarks": [str(bench)], "columns": ["response"]},
        "filter.pii": {"columns": ["response"]},
        "filter.turns": {"column": "response"},
        "filter.threshold": {"column": "response", "min": 0},
    }[name]


TEXT_FILTERS = ["filter.quality", "filter.language", "filter.response", "filter.decontaminate"]
ALL = [*TEXT_FILTERS, "filter.pii", "filter.turns", "filter.threshold"]


@pytest.mark.parametrize("kind", list(BAD))
@pytest.mark.parametrize("name", ALL)
def test_a_column_of_the_wrong_type_is_a_data_error_naming_the_stage(name, kind, bench):
    df = pl.DataFrame({"prompt": ["q1", "q2"]}).with_columns(BAD[kind])
    if name == "filter.threshold" and kind == "number":
        return  # the one filter that wants numbers
    with pytest.raises(curate.DataError, match=r"stage 'stage' \(" + name + r"\): column 'response' has type "
                                               r".*, which is not (text|messages|a number)"):
        run_stage(name, df, **params(name, bench))


@pytest.mark.parametrize("name", ALL)
def test_the_cli_exits_with_code_2(name, bench, tmp_path, capsys):
    data = tmp_path / "in.parquet"
    pl.DataFrame({"prompt": ["q1", "q2"]}).with_columns(BAD["list of ints"]).write_parquet(data)
    recipe = tmp_path / "recipe.yaml"
    recipe.write_text(json.dumps({"name": "bad-type", "stages": [
        {"use": "read.parquet", "with": {"path": str(data)}},
        {"use": name, "id": "under-test", "with": params(name, bench)},
    ]}))
    assert main(["run", str(recipe), "--run-dir", str(tmp_path / "run")]) == 2
    err = capsys.readouterr().err
    assert "stage 'under-test'" in err and "column 'response' has type List(Int64)" in err


def test_the_prompt_column_of_filter_response_is_checked_too():
    df = pl.DataFrame({"prompt": [[1], [2]], "response": ["a", "b"]})
    with pytest.raises(curate.DataError, match="column 'prompt' has type List"):
        run_stage("filter.response", df)


@pytest.mark.parametrize("name", TEXT_FILTERS)
def test_a_list_of_strings_reads_as_its_lines(name, bench):
    """As in every stage that reads text: the same outcome as the strings joined with newlines."""
    lines = [[TEXT, "As an AI language model, I cannot."], ["Bonjour tout le monde, comment allez-vous ?"],
             [None, "What is the sum of the first one hundred positive integers?"], []]
    lists = pl.DataFrame({"id": ["a", "b", "c", "d"], "prompt": ["p"] * 4, "response": lines},
                         schema={"id": pl.String, "prompt": pl.String, "response": pl.List(pl.String)})
    joined = lists.with_columns(pl.col("response").list.join("\n"))
    flag = name.split(".")[1] + "_reason"
    as_lists = run_stage(name, lists, **params(name, bench), action="flag").kept
    as_text = run_stage(name, joined, **params(name, bench), action="flag").kept
    assert as_lists[flag].to_list() == as_text[flag].to_list()
    assert as_lists["response"].dtype == pl.List(pl.String)  # the column itself is left as it is
