"""One text accessor for every stage: the same mistake gets the same error everywhere."""

import polars as pl
import pytest

import curate
from curate.cli import main

MSGS = [[{"role": "user", "content": "hi"}, {"role": "assistant", "content": "yo"}]]


def test_columns_messages_lists_and_derived_texts():
    df = pl.DataFrame({"t": ["a", None], "tags": [["x", "y"], []]})
    assert curate.text_of(df, "t").to_list() == ["a", None]
    assert curate.text_of(df, "tags").to_list() == ["x\ny", ""]
    chat = pl.DataFrame({"messages": MSGS, "response": ["ok"]})
    assert curate.text_of(chat, "messages").to_list() == ["user: hi\nassistant: yo"]
    assert curate.text_of(chat, "prompt").to_list() == ["hi"]
    assert curate.text_of(chat, "conversation").to_list() == ["user: hi\nassistant: yo\nassistant: ok"]
    assert curate.text_columns("conversation") == [("prompt", "messages")]


def test_numbers_only_when_asked_and_clear_errors():
    df = pl.DataFrame({"n": [1, 2], "ids": [[1], [2]]})
    assert curate.text_of(df, "n", numbers=True).to_list() == ["1", "2"]
    with pytest.raises(curate.DataError, match="column 'n' has type Int64, which is not text") as err:
        curate.text_of(df, "n", where="stage 's'")
    assert str(err.value).startswith("stage 's': ")
    with pytest.raises(curate.DataError, match="which is not text"):
        curate.text_of(df, "ids")
    with pytest.raises(curate.DataError, match="no column 'nope'") as err:
        curate.text_of(df, "nope")
    assert "`text`" not in str(err.value)  # no param of that name exists


@pytest.mark.parametrize("use", ["filter.length", "filter.regex"])
def test_a_list_column_given_to_a_text_filter_exits_2(use, write_jsonl, write_recipe, tmp_path, capsys):
    write_jsonl([{"prompt": "a", "scores": [1, 2]}])
    params = "{column: scores, min: 1}" if use == "filter.length" else "{column: scores, pattern: x}"
    recipe = write_recipe(f"name: t\nstages:\n  - use: read.jsonl\n    with: {{path: data.jsonl}}\n"
                          f"  - use: {use}\n    with: {params}\n")
    assert main(["run", str(recipe), "--run-dir", str(tmp_path / "r"), "--quiet"]) == 2
    assert f"stage '{use}' ({use}): column 'scores' has type List(Int64), which is not text" in capsys.readouterr().err
