"""Dataset cards: recipe, funnel with removal reasons, columns, models and distributions, next to
every JSONL/Parquet output and in the HF dataset; built from the run directory and the rows alone."""

import json

import polars as pl
import pytest
import yaml

import curate
from curate.card import build_card, text_histogram
from curate.testing import ScriptedEngine

RECIPE = """name: carded
description: Answers to seed prompts, short ones dropped.
stages:
  - use: read.jsonl
    with: {path: data.jsonl}
  - id: responses
    use: generate.responses
  - id: short
    use: filter.length
    with: {column: response, min: 20}
  - use: write.jsonl
    with: {path: sft.jsonl, format: sft}
  - id: parquet
    use: write.parquet
    inputs: [short]
    with: {path: data/sft.parquet, format: sft, card: data/README.md}
  - id: plain
    use: write.jsonl
    inputs: [short]
    with: {path: plain.jsonl, card: false}
"""

PROMPTS = [{"prompt": f"question number {i}", "score": i / 10} for i in range(10)] + [{"prompt": "hi", "score": 1.0}]


@pytest.fixture
def run_dir(tmp_path, write_jsonl, write_recipe):
    write_jsonl(PROMPTS)
    engine = ScriptedEngine(default=lambda r: "answer to " + r.messages[-1]["content"], model="tiny-model-x")
    curate.run(write_recipe(RECIPE), run_dir=tmp_path / "run", engines={"default": engine})
    return tmp_path / "run"


def test_jsonl_card_has_recipe_funnel_reasons_columns_models_and_distributions(run_dir):
    card = (run_dir / "sft.jsonl.README.md").read_text()
    rd = curate.RunDir(run_dir)
    reason = rd.removed("short")["reason"][0]  # "response too short: ..." as the filter wrote it
    assert "| short | `filter.length` | 11 | 10 | 1 |" in card
    assert f"| short | {reason} | 1 |" in card
    written = pl.read_ndjson(run_dir / "sft.jsonl")
    for column, dtype in written.schema.items():
        assert f"| `{column}` |" in card
    assert "| default | scripted" in card and "`tiny-model-x`" in card and "| responses |" in card
    assert "### Lengths (characters)" in card and "| `messages (last turn)` |" in card
    assert "| `score` | 10 |" in card  # the kept rows' scores (the removed "hi" row had 1.0)
    assert "### Histograms" in card and "`score`" in card
    recipe_yaml = card.split("```yaml\n", 1)[1].split("```", 1)[0]
    assert yaml.safe_load(recipe_yaml) == rd.manifest()["recipe"]
    assert "Answers to seed prompts, short ones dropped." in card


def test_card_option_picks_the_path_or_none(run_dir):
    assert (run_dir / "data" / "README.md").is_file()  # `card: data/README.md`
    assert not (run_dir / "data" / "sft.parquet.README.md").exists()
    assert not (run_dir / "plain.jsonl.README.md").exists()  # `card: false`
    parquet_card = (run_dir / "data" / "README.md").read_text()
    assert "# carded" in parquet_card and "| short | `filter.length` |" in parquet_card


def test_card_is_built_from_the_run_directory_and_rows_alone(run_dir):
    # what a writer on another machine can do: the same card from the folder and the written rows
    rows = pl.read_ndjson(run_dir / "sft.jsonl")
    card = (run_dir / "sft.jsonl.README.md").read_text()
    rebuilt = build_card(curate.RunDir(run_dir), "write.jsonl", rows, "sft")
    assert rebuilt == card


def test_preference_card_shows_pair_lengths_and_scores(tmp_path, write_recipe):
    n = 40
    pl.DataFrame({"prompt": [f"p{i}" for i in range(n)], "chosen": ["good answer " * (i + 1) for i in range(n)],
                  "rejected": ["bad" for _ in range(n)], "score_chosen": [0.5 + i / 100 for i in range(n)],
                  "score_rejected": [0.1] * n}).write_parquet(tmp_path / "pairs.parquet")
    recipe = write_recipe("name: prefs\nstages:\n  - use: read.parquet\n    with: {path: pairs.parquet}\n"
                          "  - use: write.jsonl\n    with: {path: prefs.jsonl, format: preference}\n")
    curate.run(recipe, run_dir=tmp_path / "run")
    card = (tmp_path / "run" / "prefs.jsonl.README.md").read_text()
    assert "| `chosen` | 12 |" in card and "| `rejected` | 3 | 3 | 3 | 3 | 3 |" in card
    assert "| `score_chosen` | 40 | 0.695 | 0.5 |" in card
    histogram = card.split("`score_chosen`\n\n```text\n", 1)[1].split("```", 1)[0].splitlines()
    assert len(histogram) == 10 and sum(int(line.rsplit(" ", 1)[1]) for line in histogram) == n


def test_text_histogram_counts_every_value_once():
    values = pl.Series([0.0, 0.1, 0.1, 0.5, 0.95, 1.0, None])
    lines = text_histogram(values, bins=4, width=10)
    counts = [int(line.rsplit(" ", 1)[1]) for line in lines]
    assert counts == [3, 0, 1, 2]  # the maximum falls in the last bin; nulls are left out
    assert lines[0].count("█") == 10 and lines[1].count("█") == 0
    assert text_histogram(pl.Series([2.0, 2.0])) == ["2 │" + "█" * 30 + " 2"]


@pytest.mark.slow  # imports `datasets`: seconds
def test_hf_card_carries_the_same_sections(tmp_path, write_jsonl, write_recipe):
    pytest.importorskip("datasets")
    write_jsonl([{"prompt": "a", "response": "xx", "reward": 1.5}, {"prompt": "A", "response": "y", "reward": 0.5}])
    recipe = write_recipe("name: hfc\nstages:\n  - use: read.jsonl\n    with: {path: data.jsonl}\n"
                          "  - id: dedup\n    use: dedup.exact\n  - use: write.hf\n    with: {path: ds, format: sft}\n")
    curate.run(recipe, run_dir=tmp_path / "run")
    card = (tmp_path / "run" / "ds" / "README.md").read_text()
    front = yaml.safe_load(card.split("---\n")[1])
    assert front["tags"] == ["curate", "synthetic"] and front["size_categories"] == ["n<1K"]
    assert "| dedup | duplicate (dedup.exact) | 1 |" in card and "| `reward` | 1 |" in card
    assert json.loads(card.split("```json\n", 1)[1].split("```", 1)[0])["name"] == "hfc"


def test_labels_ids_and_empty_scores_stay_out_of_the_distributions(tmp_path, run_dir):
    rows = pl.DataFrame({"prompt": ["a question of some length"] * 3, "prompt_id": ["p1", "p2", "p3"],
                         "task": ["math"] * 3, "reference": ["a long worked solution " * 5] * 3,
                         "score_chosen": pl.Series([None, None, None], dtype=pl.Float64)})
    card = build_card(curate.RunDir(run_dir), "write.jsonl", rows, "raw")
    assert "| `prompt` |" in card and "| `reference` |" in card  # content, and a long text
    assert "| `prompt_id` | 2" not in card and "| `task` | 4" not in card  # ids and labels are not
    assert "### Scores" not in card and "`score_chosen`\n" not in card


def test_whole_numbers_get_whole_bins():
    lines = text_histogram(pl.Series([38, 41, 42, 50, 76]), bins=10)
    labels = [line.split(" │")[0].split(" – ") for line in lines]
    assert [int(a) for a, _ in labels][:2] == [38, 42] and all(int(b) - int(a) == 3 for a, b in labels)
    assert sum(int(line.rsplit(" ", 1)[1]) for line in lines) == 5 and lines[0].endswith(" 2")


def test_a_card_path_that_is_the_output_itself_is_refused(tmp_path, write_jsonl, write_recipe):
    write_jsonl([{"prompt": "a"}])
    recipe = write_recipe("name: x\nstages:\n  - use: read.jsonl\n    with: {path: data.jsonl}\n"
                          "  - use: write.jsonl\n    with: {path: out.jsonl, card: out.jsonl}\n")
    with pytest.raises(curate.RecipeError, match="is the output file itself"):
        curate.run(recipe, run_dir=tmp_path / "run")
    assert not (tmp_path / "run" / "out.jsonl").exists()
