"""generate.instruction_following: IFEval constraints the verifier accepts, never conflicting, satisfiable."""

import json
import re

import polars as pl
import pytest
from curate_judges import ifeval

import curate
from curate.testing import ScriptedEngine, run_stage

PROMPTS = ["Write a short story about a lighthouse keeper and his dog, set in winter.",
           "Explain how vaccines train the immune system.", "Describe a walk through a night market in Taipei.",
           "Give advice to someone starting their first job as a nurse.", "Why do leaves change colour in autumn?"]


def prompts(n):
    return pl.DataFrame({"id": [f"p{i}" for i in range(n)], "prompt": [PROMPTS[i % len(PROMPTS)] for i in range(n)],
                         "topic": ["t"] * n})


def test_every_row_passes_the_verifiers_validation_and_has_no_conflict():
    out = run_stage("generate.instruction_following", prompts(80), max_constraints=4)
    assert out.removed is None and out.kept.height == 80
    seen = set()
    for row in out.kept.iter_rows(named=True):
        ids, kwargs = row["instruction_id_list"], row["kwargs"]
        assert 1 <= len(ids) <= 4 and len(kwargs) == len(ids)
        assert ifeval.conflicting_pairs(ids) == []
        ifeval.evaluate(ids, "any response", kwargs)  # raises on an unknown id or bad kwargs
        original = PROMPTS[int(row["id"].split("/")[0][1:]) % len(PROMPTS)]
        assert row["prompt"].startswith(original) and len(row["prompt"]) > len(original) + 20
        for instruction_id, kw in zip(ids, kwargs):
            for value in kw.values():  # every drawn value is said in the prompt
                if isinstance(value, int) and instruction_id != "length_constraints:nth_paragraph_first_word":
                    said = {str(value), {1: "once", 2: "twice"}.get(value, str(value))}
                    assert any(re.search(rf"\b{w}\b", row["prompt"]) for w in said), (instruction_id, value)
                if isinstance(value, str) and len(value) < 40 and instruction_id != "language:response_language":
                    if value not in ifeval.RELATIONS:
                        assert value in row["prompt"], (instruction_id, value, row["prompt"])
        seen.update(ids)
        assert row["id"].endswith("/instruction_following/0") and row["task"] == "instruction_following"
        assert json.loads(row["prompt_generation"])["inputs"]["instruction_ids"] == ids
    # drawn over the whole catalog but the yes/no-only instruction
    assert len(seen) >= 20 and "detectable_format:constrained_response" not in seen
    stats = out.result.stats["stage"]
    assert 0 < stats.metrics["distinct_2"] <= 1 and 1 < stats.metrics["constraints_per_prompt"] <= 4


def satisfy(prompt_row):
    """A response written by hand to follow the constraints of a row restricted to SOLVABLE."""
    kw = {i: {k: v for k, v in d.items() if v is not None}
          for i, d in zip(prompt_row["instruction_id_list"], prompt_row["kwargs"])}
    words = ["Lighthouse", "keepers", "watch", "the", "sea", "at", "night"]
    words += kw.get("keywords:existence", {}).get("keywords", [])
    words += [f"[slot{k}]" for k in range(kw.get("detectable_content:number_placeholders", {}).get("num_placeholders", 0))]
    need = kw.get("length_constraints:number_words")
    if need and need["relation"] == "at least":
        words += ["calm"] * need["num_words"]
    text = " ".join(words) + "."
    if "detectable_format:title" in kw:
        text = "<<Night Watch>>\n" + text
    if "detectable_content:postscript" in kw:
        text += f"\n{kw['detectable_content:postscript']['postscript_marker']} The lamp is lit."
    if "startend:end_checker" in kw:
        text += " " + kw["startend:end_checker"]["end_phrase"]
    return text


SOLVABLE = ["keywords:existence", "keywords:forbidden_words", "length_constraints:number_words", "punctuation:no_comma",
            "detectable_content:postscript", "detectable_format:title", "startend:end_checker",
            "detectable_content:number_placeholders"]


def test_responses_written_to_the_constraints_pass_the_verifier():
    made = run_stage("generate.instruction_following", prompts(20), instruction_ids=SOLVABLE, min_constraints=2,
                     max_constraints=4).kept
    assert set(made["instruction_id_list"].explode()) == set(SOLVABLE)
    answered = made.with_columns(pl.Series("response", [satisfy(r) for r in made.iter_rows(named=True)]))
    judged = run_stage("judge.instruction_following", answered)
    assert judged.removed is None and judged.kept.height == 20
    assert judged.kept["if_all_strict"].all(), judged.kept.filter(~pl.col("if_all_strict"))
    # the verifier does catch a response that ignores them
    ignored = run_stage("judge.instruction_following", made.with_columns(pl.lit("Nothing, here.").alias("response")))
    assert not ignored.kept["if_all_strict"].any()


def test_multi_turn_puts_the_constraints_in_a_second_user_turn():
    def model(req):
        text = req.messages[-1]["content"]
        if "vaccines" in text:
            return RuntimeError("server down")
        return f"first answer to: {text}"

    engine = ScriptedEngine(default=model, model="m")
    df = prompts(5).with_columns(pl.lit("old answer").alias("response"))
    out = run_stage("generate.instruction_following", df, multi_turn=True, engines={"default": engine})
    assert out.kept.height == 4 and "prompt" not in out.kept.columns and "response" not in out.kept.columns
    for row in out.kept.iter_rows(named=True):
        user, assistant, turn = row["messages"]
        assert [user["role"], assistant["role"], turn["role"]] == ["user", "assistant", "user"]
        assert user["content"] in PROMPTS and assistant["content"] == f"first answer to: {user['content']}"
        assert turn["content"].startswith("Please write your answer again")
        assert "combination:repeat_prompt" not in row["instruction_id_list"]  # "the request" is ambiguous there
        ifeval.evaluate(row["instruction_id_list"], "x", row["kwargs"])
        assert json.loads(row["prompt_generation"])["model"] == "m"
    assert out.removed["id"].to_list() == ["p1"]
    assert out.removed["reason"][0].startswith("first answer failed: RuntimeError: server down")
    assert len(engine.history) == 5  # one request per prompt: the constraints themselves need no model


RECIPE = """name: t
engines:
  default: {use: openai, model: m, base_url: 'http://127.0.0.1:9/v1'}
stages:
  - use: read.jsonl
    with: {path: prompts.jsonl}
  - use: generate.instruction_following
    with: WITH
"""


@pytest.mark.parametrize("params, error", [
    ("{instruction_ids: [length_constraints:number_word]}", "did you mean 'length_constraints:number_words'"),
    ("{instruction_ids: [combination:repeat_prompt], multi_turn: true}", "cannot be asked in a second turn"),
    ("{instruction_ids: [detectable_format:json_format, startend:quotation], min_constraints: 2}",
     "allow at most 1 constraint"),
    ("{min_constraints: 3, max_constraints: 2}", "min_constraints \\(3\\) is above"),
])
def test_bad_params_fail_validation(params, error, write_jsonl, write_recipe):
    write_jsonl([{"prompt": "Hi"}], "prompts.jsonl")
    with pytest.raises(curate.RecipeError, match=error):
        curate.run(write_recipe(RECIPE.replace("WITH", params)), dry_run=True)


def test_the_same_seed_draws_the_same_constraints_and_another_seed_others():
    df = prompts(12)
    first = run_stage("generate.instruction_following", df).kept
    again = run_stage("generate.instruction_following", df).kept
    other = run_stage("generate.instruction_following", df, seed=7).kept
    assert first.equals(again) and not first["instruction_id_list"].equals(other["instruction_id_list"])
