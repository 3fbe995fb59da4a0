"""select.best_of_n, pairs.from_scores, pairs.from_ground_truth and generate.rmboost on known cases."""

import json

import polars as pl
import pytest

import curate
from curate.testing import ScriptedEngine, run_stage


def responses(rows):
    """One row per response, as generate.responses writes them (prompt_id, response_index, id)."""
    out = []
    for pid, prompt, items in rows:
        for k, item in enumerate(items):
            out.append({"id": f"{pid}/default/{k}", "prompt_id": pid, "prompt": prompt, "response_index": k,
                        "response": item[0], **item[1]})
    return pl.DataFrame(out)


SCORED = responses([
    ("p1", "What is 2+2?", [("4", {"reward": 0.9}), ("5", {"reward": -1.0}), ("four", {"reward": 0.9})]),
    ("p2", "Name a colour", [("red", {"reward": 0.2})]),
    ("p3", "Say hi", [("hi", {"reward": 0.5}), ("hello", {"reward": 0.5})]),
])


def test_best_of_n_keeps_the_best_per_prompt_with_a_stable_tie_break():
    out = run_stage("select.best_of_n", SCORED)
    assert sorted(out.kept["response"].to_list()) == ["4", "hi", "red"]  # ties: lowest response_index wins
    reasons = dict(zip(out.removed["response"], out.removed["reason"]))
    assert reasons == {"5": "not the best of its prompt: reward -1 < 0.9",
                       "four": "not the best of its prompt: reward 0.9 < 0.9",
                       "hello": "not the best of its prompt: reward 0.5 < 0.5"}


def test_best_of_n_min_score_and_null_scores():
    df = SCORED.with_columns(pl.when(pl.col("prompt_id") == "p3").then(None).otherwise(pl.col("reward")).alias("reward"))
    out = run_stage("select.best_of_n", df, min_score=0.5)
    assert out.kept["response"].to_list() == ["4"]
    reasons = dict(zip(out.removed["response"], out.removed["reason"]))
    assert reasons["red"] == "best reward of p2 is 0.2, under min_score 0.5"
    assert reasons["hi"] == "no reward score for any response of p3"


def test_best_of_n_groups_never_split_across_batches():
    import curate_judges.best_of_n as mod

    many = responses([(f"p{i}", "q", [(f"r{k}", {"reward": float((k * 7 + i) % 5)}) for k in range(5)])
                      for i in range(30)])
    old = mod.BestOfN.batch_size
    mod.BestOfN.batch_size = 7  # forces many batches; a split group would keep two rows of a prompt
    try:
        out = run_stage("select.best_of_n", many)
    finally:
        mod.BestOfN.batch_size = old
    assert out.kept.height == 30 and out.kept["prompt_id"].n_unique() == 30
    best = many.group_by("prompt_id").agg(pl.col("reward").max())
    joined = out.kept.join(best, on="prompt_id", suffix="_best")
    assert (joined["reward"] == joined["reward_best"]).all()


def test_pairs_from_scores_best_vs_worst_with_gap_and_margin_level():
    out = run_stage("pairs.from_scores", SCORED)
    pair = out.kept.row(0, named=True)
    assert out.kept.height == 1 and pair["chosen"] == "4" and pair["rejected"] == "5"
    assert pair["score_chosen"] == 0.9 and pair["score_rejected"] == -1.0 and pair["score_gap"] == pytest.approx(1.9)
    assert pair["margin_level"] == "significantly_better" and pair["prompt"] == "What is 2+2?"
    assert "reward" not in out.kept.columns and "response" not in out.kept.columns  # per-response columns drop
    reasons = dict(zip(out.removed["response"], out.removed["reason"]))
    assert reasons["red"] == "no pair for prompt p2: fewer than two scored responses"
    assert reasons["hi"] == "no pair for prompt p3: no two responses differ in reward by at least 0"


def test_pairs_from_scores_all_above_margin():
    out = run_stage("pairs.from_scores", SCORED, mode="all_above_margin", min_gap=1.0,
                    margin_levels={"big": 1.5, "small": 0.0})
    assert sorted(zip(out.kept["chosen"], out.kept["rejected"], out.kept["margin_level"])) == [
        ("4", "5", "big"), ("four", "5", "big")]


GRADED = responses([
    ("m1", "2+2?", [("4", {"math_correct": True}), ("5", {"math_correct": False}), ("6", {"math_correct": False})]),
    ("m2", "3+3?", [("6", {"math_correct": True}), ("six", {"math_correct": True})]),
    ("m3", "1+1?", [("2", {"math_correct": None}), ("3", {"math_correct": False})]),
])


def test_pairs_from_ground_truth():
    out = run_stage("pairs.from_ground_truth", GRADED, correct="math_correct", pairs_per_prompt=2, seed=3)
    assert sorted(zip(out.kept["chosen"], out.kept["rejected"])) == [("4", "5"), ("4", "6")]
    reasons = dict(zip(out.removed["response"], out.removed["reason"]))
    assert reasons["6"] == reasons["six"] == "no pair for prompt m2: every response is correct"
    assert reasons["2"] == "math_correct is unknown (null)"
    assert reasons["3"] == "no pair for prompt m3: every response is wrong"
    again = run_stage("pairs.from_ground_truth", GRADED, correct="math_correct", pairs_per_prompt=1, seed=3)
    twice = run_stage("pairs.from_ground_truth", GRADED, correct="math_correct", pairs_per_prompt=1, seed=3)
    assert again.kept["rejected"].to_list() == twice.kept["rejected"].to_list()  # seeded


def test_ground_truth_needs_a_boolean_column():
    with pytest.raises(curate.DataError, match="holds String, not true/false"):
        run_stage("pairs.from_ground_truth", GRADED.with_columns(pl.lit("yes").alias("math_correct")),
                  correct="math_correct")


def test_pairs_export_as_preference(tmp_path, write_jsonl, write_recipe):
    write_jsonl(GRADED.to_dicts())
    recipe = write_recipe("name: p\nstages:\n  - use: read.jsonl\n    with: {path: data.jsonl}\n"
                          "  - use: pairs.from_ground_truth\n    with: {correct: math_correct}\n"
                          "  - use: write.jsonl\n    with: {path: pref.jsonl, format: preference}\n")
    curate.run(recipe, run_dir=tmp_path / "run")
    line = json.loads((tmp_path / "run" / "pref.jsonl").read_text().splitlines()[0])
    assert line["prompt"] == [{"role": "user", "content": "2+2?"}]
    assert line["chosen"] == [{"role": "assistant", "content": "4"}]
    assert line["rejected"][0]["content"] in ("5", "6")


def test_rmboost_writes_known_pairs_with_aspect_and_direction():
    df = pl.DataFrame({"id": ["a", "b", "c", "d"], "prompt": ["q1", "q2", "q3", "q4"], "response": ["r1", "r2", "r3", "r4"]})
    engine = ScriptedEngine(default=lambda req: "NEW:" + req.messages[0]["content"].split("clearly ")[1].split(" ")[0])
    out = run_stage("generate.rmboost", df, engines={"default": engine}, seed=1)
    rows = out.kept.to_dicts()
    assert len(rows) == 4 and {r["rmboost_direction"] for r in rows} <= {"better", "worse"}
    for r in rows:
        new = f"NEW:{r['rmboost_direction']}"
        if r["rmboost_direction"] == "better":
            assert r["chosen"] == new and r["rejected"].startswith("r")
        else:
            assert r["rejected"] == new and r["chosen"].startswith("r")
        assert r["rmboost_aspect"] in ("helpfulness", "correctness", "relevance", "completeness", "clarity",
                                       "conciseness")
        assert json.loads(r["rmboost"])["template"]["name"] == "curate_judges:rmboost.j2"
    again = run_stage("generate.rmboost", df, engines={"default": ScriptedEngine(default=lambda r: "x")}, seed=1)
    assert again.kept["rmboost_aspect"].to_list() == out.kept["rmboost_aspect"].to_list()  # seeded draws


def test_rmboost_failures_are_removed_rows_and_bad_templates_fail_validation(tmp_path):
    df = pl.DataFrame({"id": ["a", "b"], "prompt": ["q1", "q2"], "response": ["r1", "r2"]})
    engine = ScriptedEngine(default=lambda req: ValueError("boom") if "q2" in req.messages[0]["content"] else "ok")
    out = run_stage("generate.rmboost", df, engines={"default": engine}, direction="worse")
    assert out.kept["rejected"].to_list() == ["ok"] and "boom" in out.removed["reason"][0]
    with pytest.raises(curate.RecipeError, match="uses variable\\(s\\) mood, which this stage cannot supply"):
        run_stage("generate.rmboost", df, engines={"default": engine}, template="{{ response }} {{ mood }}")


def test_no_pairs_still_gives_the_pair_columns(tmp_path, write_jsonl, write_recipe):
    write_jsonl(GRADED.filter(pl.col("prompt_id") == "m2").to_dicts())
    recipe = write_recipe("name: p\nstages:\n  - use: read.jsonl\n    with: {path: data.jsonl}\n"
                          "  - use: pairs.from_ground_truth\n    with: {correct: math_correct}\n"
                          "  - use: write.jsonl\n    with: {path: pref.jsonl, format: preference}\n")
    result = curate.run(recipe, run_dir=tmp_path / "run")
    assert (tmp_path / "run" / "pref.jsonl").read_text() == ""
    assert result.warnings and "stage 'pairs.from_ground_truth' removed all 2 rows" in result.warnings[0]
