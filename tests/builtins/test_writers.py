import json

import polars as pl
import pytest

from curate.errors import RecipeError
from curate.testing import run_stage


def test_sft_format_appends_assistant_turn(tmp_path):
    df = pl.DataFrame({"id": ["1"], "prompt": ["hi"], "response": ["hello"], "score": [0.5]})
    run_stage("write.jsonl", df, path="sft.jsonl", format="sft", run_dir=tmp_path)
    row = json.loads((tmp_path / "run" / "sft.jsonl").read_text().splitlines()[0])
    assert row["messages"] == [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"}]
    assert row["score"] == 0.5 and row["provenance"]["recipe"] == "one-stage"
    assert row["provenance"]["source"] == "input.parquet:1"


def test_sft_from_conversation_plus_response(tmp_path):
    msgs = [[{"role": "system", "content": "be brief"}, {"role": "user", "content": "q"}]]
    df = pl.DataFrame({"id": ["1"], "messages": msgs, "response": ["a"]})
    run_stage("write.jsonl", df, path="o.jsonl", format="sft", run_dir=tmp_path)
    row = json.loads((tmp_path / "run" / "o.jsonl").read_text())
    assert [m["role"] for m in row["messages"]] == ["system", "user", "assistant"]


def test_preference_format(tmp_path):
    df = pl.DataFrame({"id": ["1"], "prompt": ["q"], "chosen": ["good"], "rejected": ["bad"],
                       "score_chosen": [0.9], "score_rejected": [0.1]})
    run_stage("write.parquet", df, path="p.parquet", format="preference", run_dir=tmp_path)
    out = pl.read_parquet(tmp_path / "run" / "p.parquet").to_dicts()[0]
    assert out["prompt"] == [{"role": "user", "content": "q"}]
    assert out["chosen"] == [{"role": "assistant", "content": "good"}]
    assert out["rejected"] == [{"role": "assistant", "content": "bad"}]
    assert (out["score_chosen"], out["score_rejected"]) == (0.9, 0.1)


def test_missing_columns_for_format_fail_validation(tmp_path):
    with pytest.raises(RecipeError, match="needs column 'chosen', 'rejected'"):
        run_stage("write.jsonl", pl.DataFrame({"id": ["1"], "prompt": ["q"]}), path="o.jsonl", format="preference")


def test_hf_writer_saves_dataset_with_card(tmp_path):
    datasets = pytest.importorskip("datasets")
    df = pl.DataFrame({"id": ["1", "2"], "prompt": ["a", "b"], "response": ["x", "y"]})
    run_stage("write.hf", df, path="ds", format="sft", run_dir=tmp_path)
    ds = datasets.load_from_disk(str(tmp_path / "run" / "ds"))
    assert ds.num_rows == 2 and ds[0]["messages"][1] == {"role": "assistant", "content": "x"}
    card = (tmp_path / "run" / "ds" / "README.md").read_text()
    assert "## Stage funnel" in card and "| read.parquet | `read.parquet` | 0 | 2 | 0 |" in card and "`messages`" in card
    assert '"use": "write.hf"' in card or "(not recorded)" in card


def test_hf_card_describes_the_run_that_writes_it(tmp_path, write_jsonl, write_recipe):
    pytest.importorskip("datasets")
    import curate

    write_jsonl([{"prompt": "a", "response": "x"}, {"prompt": "A", "response": "y"}])
    recipe = write_recipe("name: card\nstages:\n  - use: read.jsonl\n    with: {path: data.jsonl}\n"
                          "  - id: dedup\n    use: dedup.exact\n  - use: write.hf\n    with: {path: ds, format: sft}\n")
    curate.run(recipe, run_dir=tmp_path / "run")
    card = (tmp_path / "run" / "ds" / "README.md").read_text()
    assert "(not recorded)" not in card and '"name": "card"' in card and '"lowercase"' not in card
    assert "| dedup | `dedup.exact` | 2 | 1 | 1 |" in card
    curate.run(recipe, run_dir=tmp_path / "run", overrides={"stages.dedup.with.lowercase": False})
    card = (tmp_path / "run" / "ds" / "README.md").read_text()
    assert '"lowercase": false' in card and "| dedup | `dedup.exact` | 2 | 2 | 0 |" in card
