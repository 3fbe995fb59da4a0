"""Every recipe in recipes/ is valid, and the ones that need no model run end to end here."""

from pathlib import Path

import polars as pl
import pytest

import curate
from curate.plugins import registry
from curate.runner.plan import build_plan

RECIPES = sorted((Path(__file__).resolve().parents[1] / "recipes").glob("*.yaml"))


@pytest.mark.parametrize("path", RECIPES, ids=[p.stem for p in RECIPES])
def test_recipe_validates(path, tmp_path):
    recipe = curate.load_recipe(path)
    build_plan(recipe, registry(), tmp_path)


def test_quickstart_runs_offline_and_resumes(tmp_path):
    path = Path(__file__).resolve().parents[1] / "recipes" / "quickstart.yaml"
    result = curate.run(path, run_dir=tmp_path)
    sft = pl.read_ndjson(tmp_path / "sft.jsonl")
    assert sft.height == result.outputs["write.jsonl"].height > 0
    first = sft["messages"].to_list()[0]
    assert [m["role"] for m in first] == ["user", "assistant"]
    seed = pl.read_ndjson(path.parent / "data" / "seed.jsonl")
    assert sft.height < seed.height
    # The seed data plants one case for each cleaning stage; each must catch it.
    for stage in ("dedup", "fuzzy-dedup", "semantic-dedup", "filter.response", "filter.language"):
        assert result.stats[stage].rows_removed >= 1, stage
    contents = " ".join(m["content"] for msgs in sft["messages"].to_list() for m in msgs)
    assert "192.168.10.24" not in contents and "[IP]" in contents
    assert "jane.doe@example.com" not in contents and "[EMAIL]" in contents
    assert (tmp_path / "sft-hf" / "README.md").exists()
    # The preference branch: ground truth decides chosen vs rejected for every prompt that has
    # both a right and a wrong candidate; a prompt with only right answers gives no pair.
    pairs = pl.read_ndjson(tmp_path / "preference.jsonl")
    candidates = pl.read_ndjson(path.parent / "data" / "candidates.jsonl")
    assert pairs.height == result.outputs["preference"].height == 7
    assert set(pairs["prompt_id"]) == set(candidates["prompt_id"]) - {"math-5"}
    for row in pairs.iter_rows(named=True):
        chosen, rejected = row["chosen"][0]["content"], row["rejected"][0]["content"]
        if row["prompt_id"] == "math-1":
            assert "18" in chosen and "119" in rejected
        if row["prompt_id"] == "code-2":
            assert "map(int" in chosen and "print(a + b)" in rejected and "map(int" not in rejected
    removed = result.rundir.removed("math-pairs")
    assert set(removed["prompt_id"]) == {"math-5"} and "every response is correct" in removed["reason"][0]
    timed_out = result.rundir.output("judge.code").filter(pl.col("response").str.contains("while True"))
    assert timed_out["code_passed"].to_list() == [False]
    again = curate.run(path, run_dir=tmp_path)
    assert all(s.cached for s in again.stats.values())
