"""Every curate-filters component in one recipe file (tests/plugins/curate_filters/data/recipe.yaml)
run with curate.run: each stage removes the row it should, with its reason, and a rerun reuses
every checkpoint."""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl

import curate

RECIPE = Path(__file__).parent / "data" / "recipe.yaml"


def test_recipe_file(tmp_path):
    result = curate.run(RECIPE, run_dir=tmp_path)
    removed = {}
    for path in sorted((tmp_path / "stages").glob("*/removed.parquet")):
        removed[path.parent.name.split("-", 1)[1]] = pl.read_parquet(path)["reason"].to_list()
    assert removed == {
        "filter.response": ["refusal or boilerplate: 'i'm sorry, but i can't'", "empty response"],
        "filter.language": ["language 'fr' (1.0) is not one of en"],
        "filter.quality": ["quality: max_symbol_word_ratio (0.6 > 0.1)"],
        "filter.decontaminate": ["prompt equals a text of benchmark gsm8k_sample.jsonl"],
        "filter.threshold": ["score 0.2 < min 0.5"],
    }
    written = [json.loads(line) for line in (tmp_path / "clean.jsonl").read_text().splitlines()]
    assert [row["messages"][0]["content"] for row in written] == ["How do plants make food?",
                                                                  "Who can help me with my order?"]
    assert written[1]["messages"][1]["content"] == (
        "You can write to the support team at [EMAIL] and they will answer within a day.")
    assert written[1]["pii_counts"]["email"] == 1 and written[0]["quality_words"] == 22
    assert result.stats["filter.decontaminate"].counters["benchmark_texts"] == 2

    again = curate.run(RECIPE, run_dir=tmp_path)
    assert all(s.cached for s in again.stats.values())
