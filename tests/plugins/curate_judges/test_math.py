"""judge.math as a stage: every row kept and labelled, columns renamed by params, bad input."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest

import curate
from curate.plugins import registry
from curate.testing import run_stage

from curate_judges.math import judge_answer


def judged(df: pl.DataFrame, **params) -> pl.DataFrame:
    df = df.with_columns(pl.int_range(pl.len()).cast(pl.String).alias("id"))
    out = run_stage("judge.math", df, **params)
    assert out.removed is None or out.removed.height == 0  # a judge labels, it never removes
    return out.kept.sort(pl.col("id").cast(pl.Int64))


def test_labels_every_row_with_answer_verdict_and_reason():
    df = pl.DataFrame({
        "prompt": ["q"] * 6,
        "response": [r"So \boxed{\frac{1}{2}}.", "She has 18 dollars left.\n#### 18", r"\boxed{3} or \boxed{4}",
                     "I cannot solve this.", "The answer is 12.", None],
        "reference": ["0.5", "#### 18", "3", "5", "#### 1.2", "7"],
    })
    out = judged(df)
    assert out.height == df.height and out["response"].to_list() == df["response"].to_list()
    assert out["math_correct"].to_list() == [True, True, False, False, False, False]
    assert out["math_answer"].to_list() == [r"\frac{1}{2}", "18", None, None, "12", None]
    assert out["math_reason"].to_list() == [
        None, None, "two different final answers: 3, 4", "no final answer",
        "answer 12 does not match reference 1.2", "no final answer"]
    assert out.schema["math_correct"] == pl.Boolean


def test_an_unusable_reference_gives_null_with_the_reason():
    df = pl.DataFrame({"response": [r"\boxed{5}", r"\boxed{5}", r"\boxed{5}"],
                       "reference": [r"\frac{1}{", None, "#### "]})
    out = judged(df)
    assert out["math_correct"].to_list() == [None, None, None]
    assert out["math_answer"].to_list() == ["5", "5", "5"]  # the answer is still reported
    reasons = out["math_reason"].to_list()
    assert reasons[0].startswith(r"reference unparseable: \frac{1}{")
    assert reasons[1] == reasons[2] == "no reference answer"


def test_column_params_rename_the_inputs_and_numbers_are_references():
    df = pl.DataFrame({"completion": [r"\boxed{1,000}", "The answer is 2.5", "The answer is 3"],
                       "gold": [1000, 2, 3]})
    out = judged(df, response_column="completion", reference_column="gold")
    assert out["math_correct"].to_list() == [True, False, True]


def test_params_change_the_rules():
    df = pl.DataFrame({"response": [r"\boxed{50\%}", r"\boxed{1.41}", r"\boxed{3, 2}", "So she has 7 apples."],
                       "reference": ["0.5", r"\sqrt{2}", "2, 3", "7"]})
    assert judged(df)["math_correct"].to_list() == [True, True, True, True]
    strict = judged(df, percent_as_fraction=False, rounded_irrationals=False, unordered_lists=False,
                    concluding_sentence=False)
    assert strict["math_correct"].to_list() == [False, False, False, False]
    assert strict["math_reason"].to_list()[3] == "no final answer"


def test_a_choice_reference_judges_the_letters_only():
    assert judge_answer(r"So $\boxed{12}$. The answer is (B).", "(B)").correct is True
    assert judge_answer(r"\boxed{12}. The answer is (C).", "(B)").correct is False
    verdict = judge_answer("The answer is (B). No wait, the answer is (C).", "(B)")
    assert (verdict.correct, verdict.reason) == (False, "two different final answers: (B), (C)")


def test_counters():
    df = pl.DataFrame({"response": [r"\boxed{1}", r"\boxed{2}", r"\boxed{2}"], "reference": ["1", "1", None]})
    df = df.with_columns(pl.int_range(pl.len()).cast(pl.String).alias("id"))
    stats = run_stage("judge.math", df).result.stats["stage"]
    assert (stats.counters["correct"], stats.counters["incorrect"], stats.counters["unjudged"]) == (1, 1, 1)


def test_bad_input_is_an_error_naming_the_stage():
    with pytest.raises(curate.DataError, match="has type Int64, which is not text"):
        run_stage("judge.math", pl.DataFrame({"response": [3], "reference": ["3"]}))
    with pytest.raises(curate.RecipeError, match="needs column 'answer'"):
        run_stage("judge.math", pl.DataFrame({"response": ["x"], "reference": ["3"]}), response_column="answer")
    with pytest.raises(curate.RecipeError, match="timeout_s"):
        run_stage("judge.math", pl.DataFrame({"response": ["x"], "reference": ["3"]}), timeout_s=0)


def test_declared_columns_and_registration():
    cls = registry().find("judge.math", ("judge",))
    assert cls is not None and cls.kind == "judge"
    stage = cls({"response_column": "completion", "reference_column": "gold"})
    assert stage.input_columns() == ["completion", "gold"]
    assert stage.output_columns() == ["math_answer", "math_correct", "math_reason"]
    assert all(field.description for field in cls.Params.model_fields.values())
    assert "sympy" in stage.cache_key()


def test_an_adversarial_row_is_labelled_not_fatal():
    df = pl.DataFrame({"response": [r"\boxed{9^{9^{9^{9}}}}", r"\boxed{3}"], "reference": ["3", r"10^{10^{10}}"]})
    out = judged(df, timeout_s=1.0)
    assert out["math_correct"].to_list() == [False, None]
    assert "an exponent too large to compute" in out["math_reason"][0]
    assert out["math_reason"][1].startswith("reference unparseable")


def test_in_a_recipe_the_verdicts_make_preference_pairs(tmp_path):
    rows = pl.DataFrame({
        "id": ["p1/0", "p1/1", "p1/2", "p2/0", "p2/1"], "prompt_id": ["p1", "p1", "p1", "p2", "p2"],
        "prompt": ["2+2?"] * 3 + ["half of 1?"] * 2,
        "response": ["It is 4.\n#### 4", "#### 5", r"\boxed{4}", r"\boxed{0.5}", r"\boxed{\frac12}"],
        "answer": ["#### 4"] * 3 + [r"\frac{1}{2}"] * 2,
    })
    rows.write_parquet(tmp_path / "responses.parquet")
    recipe = curate.Recipe(name="math-pairs", stages=[
        curate.Stage(use="read.parquet", **{"with": {"path": str(tmp_path / "responses.parquet")}}),
        curate.Stage(use="judge.math", id="judged", **{"with": {"reference_column": "answer"}}),
        curate.Stage(use="pairs.from_ground_truth", id="pairs", **{"with": {"correct": "math_correct"}}),
    ])
    result = curate.run(recipe, run_dir=tmp_path / "run")
    pairs = result.rundir.output("pairs")
    assert pairs["chosen"].to_list() in (["It is 4.\n#### 4"], [r"\boxed{4}"])
    assert pairs["rejected"].to_list() == ["#### 5"]  # p2 has no wrong response: no pair


def test_the_documented_recipe_runs(tmp_path):
    """docs/plugins/judges-math.md's recipe, with a scripted policy giving two answers per question."""
    from curate.testing import ScriptedEngine

    (tmp_path / "gsm8k.jsonl").write_text(
        '{"question": "2+2?", "answer": "2+2=<<2+2=4>>4\\n#### 4"}\n'
        '{"question": "3*3?", "answer": "3*3=<<3*3=9>>9\\n#### 9"}\n')
    doc = (Path(__file__).parents[3] / "docs/plugins/judges-math.md").read_text()
    snippet = doc.split("```yaml\n", 1)[1].split("```", 1)[0]
    recipe = tmp_path / "recipe.yaml"
    recipe.write_text("name: math-pairs\nengines:\n  policy: {use: scripted}\n"
                      + snippet.replace("data/gsm8k_train.jsonl", "gsm8k.jsonl").replace("n: 8", "n: 2"))
    policy = ScriptedEngine(["The answer is 4.", r"So \boxed{5}.", "#### 9", "It is 9."])
    result = curate.run(recipe, run_dir=tmp_path / "run", engines={"policy": policy})
    judged = result.rundir.output("judge.math")  # stage ids default to the component name
    assert sorted(judged["math_correct"].to_list()) == [False, True, True, True]
    pairs = pl.read_ndjson(tmp_path / "run" / "math_pairs.jsonl")
    assert pairs.height == 1  # only the first question has a right and a wrong answer
